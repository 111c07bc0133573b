// A typo in a layer name gets a suggestion.

nn::model! {
    model m {
        input x: [4]
        dens(3)
    }
}

fn main() {}
