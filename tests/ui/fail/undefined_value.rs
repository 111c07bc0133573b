// A name that was never bound.

nn::model! {
    model m {
        input x: [4]
        h = dense(3)(z)
    }
}

fn main() {}
