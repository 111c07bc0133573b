// A layer cannot apply itself.

nn::model! {
    layer f(x: [n]) {
        return f(x)
    }
    model m {
        input x: [4]
        f
    }
}

fn main() {}
