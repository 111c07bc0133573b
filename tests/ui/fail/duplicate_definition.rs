// A custom layer and the model share a name.

nn::model! {
    layer m(x: [n]) {
        return x
    }
    model m {
        input x: [4]
        dense(1)
    }
}

fn main() {}
