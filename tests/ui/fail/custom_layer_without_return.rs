// A custom layer must return its output.

nn::model! {
    layer twice(x: [n]) {
        y = x * 2
    }
    model m {
        input x: [4]
        twice
    }
}

fn main() {}
