// Keras class names are not layer names here.

nn::model! {
    model m {
        input x: [4]
        Dense(3)
    }
}

fn main() {}
