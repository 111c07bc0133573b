// model! takes one model.

nn::model! {
    model a {
        input x: [4]
        dense(1)
    }
    model b {
        input x: [4]
        dense(1)
    }
}

fn main() {}
