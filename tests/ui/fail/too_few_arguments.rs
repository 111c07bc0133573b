// dropout needs its rate.

nn::model! {
    model m {
        input x: [4]
        dropout()
    }
}

fn main() {}
