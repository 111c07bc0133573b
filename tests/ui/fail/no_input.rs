// A model needs an input.

nn::model! {
    model m {
        dense(3)
    }
}

fn main() {}
