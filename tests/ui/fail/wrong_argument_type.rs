// A string where an integer is expected.

nn::model! {
    model m {
        input x: [4]
        dense("128")
    }
}

fn main() {}
