//! The typed API that `model!` / `include_model!` generate, driven against
//! the runtime: constants from the checker, typed prediction, shape errors
//! naming expected vs found, and the same training as the `.nn` twin.

use nn::ndarray::{ArrayD, IxDyn};
use nn::runtime::{data, FitOptions, Model, RuntimeError};

nn::model! {
    // Keras's basic classification tutorial, pasted from examples/fashion_mlp.nn.
    model fashion_mlp {
        input image: [28, 28]
        flatten
        dense(128, activation = relu)
        dense(10, activation = softmax)
        train {
            optimizer = adam
            loss = sparse_categorical_crossentropy
            metrics = [accuracy]
            batch_size = 32
            epochs = 10
            dataset = "fashion-mnist"
        }
    }
}

mod included {
    nn::include_model!("examples/iris.nn");
}

mod custom {
    nn::model! {
        layer scaled_dense(x: [n], units, scale = 2.0) {
            w: [n, units] = glorot_uniform
            b: [units] = zeros
            return (x @ w + b) * scale
        }
        model two_out {
            input x: [3]
            scaled_dense(2)
        }
    }
}

mod states {
    // One name per result of a recurrent layer with `return_state`; the
    // states start a second layer (Rust's tokens: `_ , h , c = …`).
    nn::model! {
        model encoder_states {
            input x: [5, 3]
            _, h, c = lstm(4, return_state = true)(x)
            y = lstm(4)(x, initial_state = [h, c])
            output y
        }
    }
}

#[test]
fn a_binding_of_several_results_builds_and_predicts() {
    assert_eq!(states::EncoderStates::INPUT_SHAPE, [5, 3]);
    assert_eq!(states::EncoderStates::OUTPUT_SHAPE, [4]);
    // Two LSTMs: kernel [3, 16], recurrent kernel [4, 16], bias [16] each.
    assert_eq!(states::EncoderStates::PARAM_COUNT, 2 * (3 * 16 + 4 * 16 + 16));
    let mut m = states::EncoderStates::new(2).expect("builds");
    let x = [[0.5f32, -0.25, 1.0]; 5];
    let y: [f32; 4] = m.predict_one(&x).expect("predicts");
    assert!(y.iter().all(|v| v.is_finite() && v.abs() < 1.0), "{y:?}");
}

#[test]
fn constants_come_from_the_checked_model() {
    assert_eq!(FashionMlp::NAME, "fashion_mlp");
    assert_eq!(FashionMlp::INPUT_SHAPE, [28, 28]);
    assert_eq!(FashionMlp::OUTPUT_SHAPE, [10]);
    assert_eq!(FashionMlp::PARAM_COUNT, 101_770);
    assert_eq!(FashionMlp::TRAINABLE_PARAM_COUNT, 101_770);
    let shapes: Vec<(&str, &[usize])> = FashionMlp::PARAM_SHAPES.to_vec();
    assert_eq!(
        shapes,
        vec![
            ("dense/kernel", &[784, 128][..]),
            ("dense/bias", &[128][..]),
            ("dense_1/kernel", &[128, 10][..]),
            ("dense_1/bias", &[10][..])
        ]
    );
    assert_eq!(included::Iris::INPUT_SHAPE, [4]);
    assert_eq!(included::Iris::OUTPUT_SHAPE, [3]);
    assert_eq!(included::Iris::PARAM_COUNT, 15);
    assert_eq!(included::Iris::SOURCE, include_str!("../examples/iris.nn"));
    assert_eq!(custom::TwoOut::OUTPUT_SHAPE, [2]);
    assert_eq!(custom::TwoOut::PARAM_COUNT, 3 * 2 + 2);
}

#[test]
fn the_source_constant_is_the_checked_text() {
    let file = nn::compiler::syntax::parse(FashionMlp::SOURCE).expect("SOURCE parses");
    assert!(nn::compiler::lower::check(&file).iter().all(|d| !d.is_error()));
}

#[test]
fn predict_one_is_typed_and_agrees_with_batched_predict() {
    let mut m = FashionMlp::new(3).expect("builds");
    let mut x = [[0f32; 28]; 28];
    for (r, row) in x.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = ((r * 28 + c) % 17) as f32 / 17.0;
        }
    }
    let probs: [f32; 10] = m.predict_one(&x).expect("predicts");
    let sum: f32 = probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "softmax output sums to {sum}");

    let flat: Vec<f32> = x.iter().flatten().copied().collect();
    let batch = ArrayD::from_shape_vec(IxDyn(&[1, 28, 28]), flat).unwrap();
    let out = m.predict(&batch).expect("predicts a batch");
    assert_eq!(out.shape(), &[1, 10]);
    for (a, b) in out.iter().zip(probs) {
        assert_eq!(*a, b);
    }
}

#[test]
fn batched_predict_names_expected_and_found_shapes() {
    let mut m = FashionMlp::new(3).expect("builds");
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 784]));
    let err = m.predict(&wrong).expect_err("784 features are not [28, 28]");
    let RuntimeError::InvalidArgument(msg) = &err else { panic!("unexpected error kind: {err}") };
    assert!(msg.contains("[batch, 28, 28]") && msg.contains("[2, 784]"), "{msg}");
}

#[test]
fn seeds_give_the_same_weights_as_the_nn_file() {
    let m = included::Iris::new(11).expect("builds");
    let twin =
        Model::from_file_seeded(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/iris.nn"), None, 11).expect("builds");
    assert_eq!(m.inner().weights(), twin.weights());
    let other = included::Iris::new(12).expect("builds");
    assert_ne!(m.inner().weights(), other.inner().weights());
}

#[test]
fn iris_trains_like_its_nn_twin() {
    let ds = data::load("iris", None).expect("iris is embedded");
    let opts = || FitOptions { epochs: 5, verbose: 0, ..FitOptions::default() };

    let mut typed = included::Iris::new(5).expect("builds");
    typed.compile().expect("compiles");
    let a = typed.fit(&ds.train.x, &ds.train.y, &opts()).expect("fits");

    let mut twin =
        Model::from_file_seeded(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/iris.nn"), None, 5).expect("builds");
    twin.compile(Default::default()).expect("compiles");
    let b = twin.fit(&ds.train.x, &ds.train.y, &opts()).expect("fits");

    assert_eq!(a.get("loss"), b.get("loss"));
    assert!(a.get("loss").is_some_and(|l| l.len() == 5));
    let test = ds.test.expect("iris has a held-out split");
    let ea = typed.evaluate(&test.x, &test.y, 32).expect("evaluates");
    let eb = twin.evaluate(&test.x, &test.y, 32).expect("evaluates");
    assert_eq!(ea, eb);
}

#[test]
fn fit_options_come_from_the_train_block() {
    let m = included::Iris::new(1).expect("builds");
    let o = m.fit_options();
    assert_eq!((o.batch_size, o.epochs, o.validation_freq), (32, 200, 20));
    assert!(m.summary().contains("dense"), "{}", m.summary());
}

#[test]
fn weights_round_trip_through_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("iris.safetensors");
    let a = included::Iris::new(21).expect("builds");
    a.save_weights(&path).expect("saves");
    let mut b = included::Iris::new(22).expect("builds");
    assert_ne!(a.inner().weights(), b.inner().weights());
    b.load_weights(&path).expect("loads");
    assert_eq!(a.inner().weights(), b.inner().weights());
}
