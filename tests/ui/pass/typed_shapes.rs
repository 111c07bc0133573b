// predict_one's types follow the model's per-sample shapes, whatever their
// rank; models with several inputs keep the untyped runtime API.

nn::model! {
    model feature_map {
        input image: [6, 6]
        reshape([6, 6, 1])
        conv2d(2, 3)
    }
}

nn::model! {
    model two_inputs {
        input a: [4]
        input b: [4]
        s = add(a, b)
        y = dense(1)(s)
        output y
    }
}

fn main() {
    assert_eq!(FeatureMap::OUTPUT_SHAPE, [4, 4, 2]);
    let mut m = FeatureMap::new(1).expect("builds");
    let out: [[[f32; 2]; 4]; 4] = m.predict_one(&[[1.0; 6]; 6]).expect("predicts");
    // Check the nesting against the batched (row-major) result.
    let x = nn::ndarray::ArrayD::from_elem(nn::ndarray::IxDyn(&[1, 6, 6]), 1.0f32);
    let batch = m.predict(&x).expect("predicts a batch");
    for i in 0..4 {
        for j in 0..4 {
            for c in 0..2 {
                assert_eq!(out[i][j][c], batch[[0, i, j, c]]);
            }
        }
    }

    assert_eq!(TwoInputs::INPUTS, &[("a", &[4][..]), ("b", &[4][..])]);
    assert_eq!(TwoInputs::OUTPUTS, &[("y", &[1][..])]);
    assert_eq!(TwoInputs::PARAM_COUNT, 5);
    let m = TwoInputs::new(1).expect("builds");
    assert_eq!(m.inner().name(), "two_inputs");
}
