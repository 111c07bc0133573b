// The same name declared twice.

nn::model! {
    model m {
        input x: [4]
        input x: [3]
        y = dense(1)(x)
        output y
    }
}

fn main() {}
