// A misspelled activation.

nn::model! {
    model m {
        input x: [4]
        dense(3, activation = rleu)
    }
}

fn main() {}
