// A misspelled initializer.

nn::model! {
    model m {
        input x: [4]
        dense(3, kernel_initializer = glorot_unifrom)
    }
}

fn main() {}
