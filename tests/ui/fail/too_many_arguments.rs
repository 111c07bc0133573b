// More positional arguments than dense takes.

nn::model! {
    model m {
        input x: [4]
        dense(3, relu, true, glorot_uniform, zeros, l2(0.01), l2(0.01), 8)
    }
}

fn main() {}
