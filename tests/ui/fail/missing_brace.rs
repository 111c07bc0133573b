// The model body needs braces.

nn::model! {
    model m
        input x: [4]
        dense(3)
}

fn main() {}
