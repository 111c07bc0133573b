// A dropout rate outside [0, 1).

nn::model! {
    model m {
        input x: [4]
        dropout(1.5)
    }
}

fn main() {}
