// A 3x3 kernel does not fit a 2x2 image.

nn::model! {
    model m {
        input x: [2, 2]
        reshape([2, 2, 1])
        conv2d(4, 3)
    }
}

fn main() {}
