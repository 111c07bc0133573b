// A misspelled keyword argument.

nn::model! {
    model m {
        input x: [4]
        dense(3, activaton = relu)
    }
}

fn main() {}
