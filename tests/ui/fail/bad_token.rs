// A character the language does not use.

nn::model! {
    model m {
        input x: [4]
        dense(3) $ dense(2)
    }
}

fn main() {}
