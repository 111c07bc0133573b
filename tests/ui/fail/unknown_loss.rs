// A misspelled loss.

nn::model! {
    model m {
        input x: [4]
        dense(3)
        train {
            loss = sparse_categorical_crossentropyy
        }
    }
}

fn main() {}
