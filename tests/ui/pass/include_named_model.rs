// include_model! picks one model of a file by name.

mod small {
    nn::include_model!("tests/ui/models/two_models.nn", "small");
}
mod large {
    nn::include_model!("tests/ui/models/two_models.nn", "large");
}

fn main() {
    assert_eq!(small::Small::PARAM_COUNT, 4 * 2 + 2);
    assert_eq!(large::Large::PARAM_COUNT, 4 * 16 + 16 + 16 * 2 + 2);
    let mut m = large::Large::new(3).expect("builds the named model");
    assert_eq!(m.inner().name(), "large");
    let p: [f32; 2] = m.predict_one(&[1.0, 2.0, 3.0, 4.0]).expect("predicts");
    assert!((p[0] + p[1] - 1.0).abs() < 1e-5);
}
