// Every error is reported, each at its own tokens.

nn::model! {
    model m {
        input x: [4]
        dense(3, activation = rleu)
        dense(2, kernel_initializer = glorot_unifrom)
        train {
            optimizer = adom
        }
    }
}

fn main() {}
