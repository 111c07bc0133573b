// An input no output depends on.

nn::model! {
    model m {
        input a: [4]
        input b: [4]
        y = dense(1)(a)
        output y
    }
}

fn main() {}
