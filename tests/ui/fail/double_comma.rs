// An empty argument.

nn::model! {
    model m {
        input x: [4]
        dense(3,, activation = relu)
    }
}

fn main() {}
