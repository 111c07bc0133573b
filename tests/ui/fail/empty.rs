// An empty model! has nothing to check.

nn::model! {
}

fn main() {}
