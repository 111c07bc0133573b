//! Learning-rate schedules against Keras 3 (`keras/schedules.json`, from
//! `tests/keras/make_optimizer_fixtures.py`): each schedule parsed from the
//! text a train block takes as `lr_schedule`, evaluated at steps 0..20
//! from the optimizer's learning rate, equals Keras's schedule called at the
//! same steps (Keras computes in float32, hence the tolerance).

use nn_compiler::lower::train_setting;
use nn_runtime::optim::{learning_rate_at, validate_schedule};
use serde_json::Value as Json;

#[test]
fn schedules_match_keras_step_by_step() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keras/schedules.json"))
        .expect("runtime/tests/keras/schedules.json (run tests/keras/make_optimizer_fixtures.py)");
    let fx: Json = serde_json::from_str(&text).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let spec = case["schedule"].as_str().unwrap();
        let schedule = train_setting("lr_schedule", spec)
            .unwrap_or_else(|d| panic!("`{spec}` does not parse: {d:?}"))
            .schedule
            .unwrap();
        validate_schedule(&schedule).unwrap();
        let base = case["learning_rate"].as_f64().unwrap();
        for (step, want) in case["rates"].as_array().unwrap().iter().enumerate() {
            let want = want.as_f64().unwrap();
            let got = learning_rate_at(&schedule, base, step as u64, 0);
            assert!((got - want).abs() <= 1e-6 * want.abs() + 1e-9, "{spec} at step {step}: {got} vs Keras {want}");
        }
    }
}

#[test]
fn bad_schedules_are_reported() {
    let err = |t: &str| train_setting("lr_schedule", t).unwrap_err()[0].message.clone();
    assert!(err("piecewise_constant_decay(boundaries = [3, 7], values = [0.5, 0.2])").contains("need 3 values"));
    assert!(err("piecewise_constant_decay(boundaries = [7, 3], values = [0.5, 0.2, 0.1])").contains("increase"));
    assert!(err("cosine_decay(decay_steps = 0)").contains("decay_steps"));
    assert!(err("cosine_decay(decay_steps = 10, alpha = 2.0)").contains("alpha"));
    assert!(err("inverse_time_decay(decay_steps = 4)").contains("decay_rate"));
}
