// A shared layer applied to inputs of different sizes.

nn::model! {
    model m {
        input a: [4]
        input b: [3]
        d = dense(2)
        y1 = d(a)
        y2 = d(b)
        output y1, y2
    }
}

fn main() {}
