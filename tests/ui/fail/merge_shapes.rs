// add of tensors whose shapes differ.

nn::model! {
    model m {
        input a: [4]
        input b: [3]
        s = add(a, b)
        output s
    }
}

fn main() {}
