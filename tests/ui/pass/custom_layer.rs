// A custom layer defined next to the model, as in a `.nn` file.

nn::model! {
    layer my_dense(x: [n], units) {
        w: [n, units] = glorot_uniform
        b: [units] = zeros
        return relu(x @ w + b)
    }
    model with_custom {
        input x: [4]
        my_dense(8)
        my_dense(3)
        softmax
        train {
            optimizer = sgd(learning_rate = 0.1)
            loss = sparse_categorical_crossentropy
        }
    }
}

fn main() {
    assert_eq!(WithCustom::PARAM_COUNT, 4 * 8 + 8 + 8 * 3 + 3);
    let mut m = WithCustom::new(9).expect("builds");
    m.compile().expect("compiles with the train block");
    let p: [f32; 3] = m.predict_one(&[0.1, 0.2, 0.3, 0.4]).expect("predicts");
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}
