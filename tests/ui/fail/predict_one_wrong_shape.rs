// The model's shapes are types: a flat 784-vector is not a 28x28 image.

nn::model! {
    model fashion_mlp {
        input image: [28, 28]
        flatten
        dense(10, activation = softmax)
    }
}

fn main() {
    let mut m = FashionMlp::new(0).unwrap();
    let _ = m.predict_one(&[0.0f32; 784]);
}
