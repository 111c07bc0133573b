// Shapes inside a custom layer are checked where it is applied.

nn::model! {
    layer project(x: [n]) {
        w: [3, 2] = zeros
        return x @ w
    }
    model m {
        input x: [4]
        project
    }
}

fn main() {}
