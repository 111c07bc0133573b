// A misspelled train setting.

nn::model! {
    model m {
        input x: [4]
        dense(3)
        train {
            loss = mse
            epoch = 5
        }
    }
}

fn main() {}
