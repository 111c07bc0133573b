// Keras's classic mistake: dense on an image.

nn::model! {
    model fashion_mlp {
        input image: [28, 28]
        dense(128, activation = relu)
        dense(10, activation = softmax)
    }
}

fn main() {}
