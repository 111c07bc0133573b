// reshape must keep the number of values.

nn::model! {
    model m {
        input x: [4]
        reshape([3])
    }
}

fn main() {}
