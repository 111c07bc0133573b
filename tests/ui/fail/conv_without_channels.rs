// Keras's classic mistake: a convolution on images without a channel axis.

nn::model! {
    model fashion_cnn {
        input image: [28, 28]
        conv2d(32, 3, activation = relu)
        flatten
        dense(10, activation = softmax)
    }
}

fn main() {}
