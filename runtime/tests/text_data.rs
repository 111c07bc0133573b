//! Word-id data for models with an `int` input: IMDB read as Keras's
//! `load_data(num_words = …)` sequences and cut by `pad_sequences` to the
//! input's length (train-block options), and ids outside an embedding's
//! table refused by the data check and by every array API, naming the
//! value, the sample and the split, never read as zeros.

#[path = "../../tests/tutorials/npz.rs"]
mod npz;

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use nn_runtime::workflow::{load_for, DataSource};
use nn_runtime::{CompileOptions, FitOptions, Model};

/// Two training reviews and one test review (raw Keras word ids, before
/// `index_from`), labels 1, 0 and 1.
fn write_imdb(path: &Path) {
    let train = vec![vec![5, 6, 7, 8, 9, 10], vec![40, 41]];
    let test = vec![vec![3, 4, 60]];
    npz::write_npz(
        path,
        &[
            ("x_train", npz::sequences_npy(&train)),
            ("y_train", npz::labels_npy(&[1, 0])),
            ("x_test", npz::sequences_npy(&test)),
            ("y_test", npz::labels_npy(&[1])),
        ],
    )
    .unwrap();
}

fn model(dataset: &str, input_dim: usize) -> Model {
    let source = format!(
        "model m {{ input ids: [4] int embedding({input_dim}, 2) flatten dense(1, activation = sigmoid)
           train {{ dataset = {dataset} loss = binary_crossentropy pad_sequences = pad_sequences(padding = post) }} }}"
    );
    Model::from_source(&source, None).unwrap()
}

fn rows(x: &Features) -> Vec<Vec<f32>> {
    let a = x.to_f32();
    a.outer_iter().map(|r| r.iter().copied().collect()).collect()
}

#[test]
fn imdb_loads_as_padded_word_ids_for_an_int_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    let m = model("imdb(num_words = 100)", 100);
    let data = load_for(&m, &DataSource { name: None, path: Some(path) }).unwrap();
    // Keras: shuffled with seed 113, start_char 1, ids + 3; pad_sequences(maxlen = 4,
    // padding = "post", truncating = "pre") keeps the last 4 ids.
    let mut got = rows(&data.train.x);
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got, vec![vec![1.0, 43.0, 44.0, 0.0], vec![10.0, 11.0, 12.0, 13.0]]);
    assert_eq!(rows(&data.test.as_ref().unwrap().x), vec![vec![1.0, 6.0, 7.0, 63.0]]);
    // Labels become the float column binary cross-entropy takes.
    assert!(matches!(&data.train.y, Targets::Dense(y) if y.shape() == [2, 1]), "{:?}", data.train.y);
}

#[test]
fn ids_outside_the_embedding_are_a_data_error_naming_sample_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    // Keras's num_words = None bounds ids by the largest one seen (63, which
    // itself becomes oov_char, as in Keras): id 43 does not fit a 40-row table.
    let m = model("imdb", 40);
    let err = load_for(&m, &DataSource { name: None, path: Some(path.clone()) }).unwrap_err().to_string();
    assert!(err.contains("of the training split of `imdb` holds id 43 at position 1"), "{err}");
    assert!(err.contains("accepts ids 0 to 39") && err.contains("num_words = 40"), "{err}");
    // With num_words = 40 the large ids become oov_char (2).
    let m = model("imdb(num_words = 40)", 40);
    let data = load_for(&m, &DataSource { name: None, path: Some(path) }).unwrap();
    assert_eq!(rows(&data.test.unwrap().x), vec![vec![1.0, 6.0, 7.0, 2.0]]);
}

#[test]
fn pad_sequences_maxlen_must_match_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imdb.npz");
    write_imdb(&path);
    let source = "model m { input ids: [4] int embedding(100, 2) flatten dense(1)
        train { dataset = imdb(num_words = 100) loss = mse pad_sequences = pad_sequences(maxlen = 6) } }";
    let m = Model::from_source(source, None).unwrap();
    let err = load_for(&m, &DataSource { name: None, path: Some(path) }).unwrap_err().to_string();
    assert!(err.contains("pad_sequences(maxlen = 6)") && err.contains("input `ids` takes 4"), "{err}");
}

#[test]
fn array_apis_refuse_bad_ids_instead_of_reading_zeros() {
    let mut m = model("imdb", 10);
    m.compile(CompileOptions::default()).unwrap();
    let x = |v: Vec<f32>| Features::F32(ArrayD::from_shape_vec(IxDyn(&[2, 4]), v).unwrap());
    let good = x(vec![1.0, 2.0, 3.0, 9.0, 0.0, 0.0, 4.0, 5.0]);
    assert_eq!(m.predict(&good, 2).unwrap().shape(), &[2, 1]);
    let far = x(vec![1.0, 2.0, 3.0, 9.0, 0.0, 0.0, 10.0, 5.0]);
    let err = m.predict(&far, 2).unwrap_err().to_string();
    assert!(err.contains("sample 1 of x holds id 10 at position 2") && err.contains("0 to 9"), "{err}");
    let negative = x(vec![1.0, -1.0, 3.0, 9.0, 0.0, 0.0, 1.0, 5.0]);
    let y = Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![1.0, 0.0]).unwrap());
    let err = m.fit(&negative, &y, &FitOptions::default()).unwrap_err().to_string();
    assert!(err.contains("sample 0 of x holds id -1 at position 1"), "{err}");
    let err = m.evaluate(&x(vec![1.0, 2.5, 3.0, 9.0, 0.0, 0.0, 1.0, 5.0]), &y, 2).unwrap_err().to_string();
    assert!(err.contains("holds 2.5") && err.contains("integer ids"), "{err}");
}
