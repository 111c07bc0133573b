// epochs must be an integer.

nn::model! {
    model m {
        input x: [4]
        dense(3)
        train {
            loss = mse
            epochs = "ten"
        }
    }
}

fn main() {}
