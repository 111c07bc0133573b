//! `summary()` goldens in Keras 3's layout.

use nn_runtime::Model;

const MLP: &str = r#"
model mnist_mlp {
    input image: [28, 28]
    flatten
    dense(128, activation = relu)
    dense(10, activation = softmax)
    train {
        optimizer = adam
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}
"#;

#[test]
fn sequential_mlp_matches_keras() {
    let model = Model::from_source(MLP, None).unwrap();
    let expected = r#"Model: "mnist_mlp"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ flatten (Flatten)               │ (None, 784)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 128)            │       100,480 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         1,290 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 101,770 (397.54 KB)
 Trainable params: 101,770 (397.54 KB)
 Non-trainable params: 0 (0.00 B)
"#;
    assert_eq!(model.summary(), expected, "\n{}", model.summary());
}

const RESIDUAL: &str = r#"
model residual {
    input x: [16]
    h = dense(16, activation = relu)(x)
    s = add(x, h)
    c = concatenate(x, s, axis = -1)
    out = dense(1)(c)
}
"#;

#[test]
fn graph_model_has_connected_to_column() {
    let model = Model::from_source(RESIDUAL, None).unwrap();
    let expected = r#"Model: "residual"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ x (InputLayer)      │ (None, 16)        │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense (Dense)       │ (None, 16)        │        272 │ x[0][0]           │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ add (Add)           │ (None, 16)        │          0 │ x[0][0],          │
│                     │                   │            │ dense[0][0]       │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ concatenate         │ (None, 32)        │          0 │ x[0][0],          │
│ (Concatenate)       │                   │            │ add[0][0]         │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_1 (Dense)     │ (None, 1)         │         33 │ concatenate[0][0] │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 305 (1.19 KB)
 Trainable params: 305 (1.19 KB)
 Non-trainable params: 0 (0.00 B)
"#;
    assert_eq!(model.summary(), expected, "\n{}", model.summary());
}

/// After training, Keras adds the optimizer's variables (slots, iteration
/// counter, learning rate) to the totals.
#[test]
fn optimizer_params_appear_after_training() {
    use ndarray::{Array1, ArrayD, IxDyn};
    use nn_runtime::data::{Features, Targets};
    use nn_runtime::CompileOptions;
    let mut model = Model::from_source(MLP, None).unwrap();
    model.compile(CompileOptions::default()).unwrap();
    assert!(!model.summary().contains("Optimizer params"));
    let x = Features::F32(ArrayD::from_elem(IxDyn(&[2, 28, 28]), 0.5));
    let y = Targets::Classes(Array1::from(vec![1, 7]));
    model.train_on_batch(&x, &y).unwrap();
    let s = model.summary();
    assert!(s.ends_with(" Optimizer params: 203,542 (795.09 KB)\n"), "{s}");
    assert!(s.contains(" Total params: 305,312 (1.16 MB)\n"), "{s}");
}

/// The two-tower model of docs/language.md with a second output: a shared
/// layer appears once, with its first call's output shape, and its second
/// call is `dense[1][0]` in "Connected to". The golden is Keras 3's own
/// output (tests/keras/make_summary_goldens.py).
const TWO_TOWERS: &str = r#"
model two_towers {
    input a: [32]
    input b: [32]
    shared = dense(16, activation = relu)
    h1 = shared(a)
    h2 = shared(b)
    m = concatenate(h1, h2)
    out = dense(1, activation = sigmoid)(m)
    score = dense(3)(m)
    output out, score
}
"#;

#[test]
fn shared_layer_summary_matches_keras_row_by_row() {
    let model = Model::from_source(TWO_TOWERS, None).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras/two_towers.summary");
    let keras = std::fs::read_to_string(path).unwrap();
    let ours = model.summary();
    for (i, (want, got)) in keras.lines().zip(ours.lines()).enumerate() {
        assert_eq!(got, want, "line {}:\n{ours}", i + 1);
    }
    assert_eq!(ours.lines().count(), keras.lines().count(), "\n{ours}");
}

/// The encoder-decoder of Keras's seq2seq tutorial on token ids: the
/// encoder's row lists its three results (`[(None, 64), (None, 64),
/// (None, 64)]`), the decoder is connected to the encoder's states
/// (`lstm[0][1]`, `lstm[0][2]`), and the parameter counts are Keras's.
const SEQ2SEQ: &str = r#"
model seq2seq {
    input enc_in: [7] int
    input dec_in: [6] int
    enc = embedding(12, 16)(enc_in)
    dec = embedding(12, 16)(dec_in)
    _, h, c = lstm(64, return_state = true)(enc)
    seq = lstm(64, return_sequences = true)(dec, initial_state = [h, c])
    probs = time_distributed(dense(12, activation = softmax))(seq)
    output probs
}
"#;

#[test]
fn encoder_decoder_summary_matches_keras_row_by_row() {
    let model = Model::from_source(SEQ2SEQ, None).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras/seq2seq.summary");
    let keras = std::fs::read_to_string(path).unwrap();
    let ours = model.summary();
    for (i, (want, got)) in keras.lines().zip(ours.lines()).enumerate() {
        assert_eq!(got, want, "line {}:\n{ours}", i + 1);
    }
    assert_eq!(ours.lines().count(), keras.lines().count(), "\n{ours}");
}
