//! Integration tests of the data layer: real Fashion-MNIST from Debian's package, every corruption
//! path on generated files, lookup order, Keras-format `.npz` archives written here (including pickled
//! object arrays), embedded datasets, CSV and the utilities.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{array, ArrayD, IxDyn};
use nn_runtime::data::split::{kfold, shuffled_indices, validation_split_indices, NumpyRandomState};
use nn_runtime::data::{self, csv, idx, preprocess, text, DataError, Features, Targets, TextOptions};

const DEBIAN_FASHION: &str = "/usr/share/datasets/fashion-mnist";

// ---------------------------------------------------------------- file writers

fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes a tiny IDX dataset of `n_train`/`n_test` 2x2 images whose pixels all equal `fill`.
fn write_idx_dataset(dir: &Path, n_train: u32, n_test: u32, fill: u8) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let images = idx_bytes(0x803, &[n, 2, 2], &vec![fill; n as usize * 4]);
        let labels = idx_bytes(0x801, &[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte.gz")), gzip(&images)).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

/// A version-1 `.npy` file with the given dtype descriptor and raw little-endian payload.
fn npy(descr: &str, shape: &[usize], payload: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(payload);
    out
}

fn i64_payload(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_payload(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Pickle (protocol 2) of a 1-D NumPy object array of int lists, laid out the way `np.save` writes it.
fn pickled_object_array(seqs: &[Vec<i64>]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, v: i64) {
        if (0..256).contains(&v) {
            out.extend([b'K', v as u8]);
        } else if (0..65536).contains(&v) {
            out.push(b'M');
            out.extend((v as u16).to_le_bytes());
        } else if i32::try_from(v).is_ok() {
            out.push(b'J');
            out.extend((v as i32).to_le_bytes());
        } else {
            out.extend([0x8a, 8]);
            out.extend(v.to_le_bytes());
        }
    }
    fn unicode(out: &mut Vec<u8>, s: &str) {
        out.push(b'X');
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.as_bytes());
    }
    let mut memo = 0u8;
    let mut put = |out: &mut Vec<u8>| {
        out.extend([b'q', memo]);
        memo = memo.wrapping_add(1);
    };
    let mut out = vec![0x80, 2];
    out.extend(b"cnumpy.core.multiarray\n_reconstruct\n");
    put(&mut out);
    out.extend(b"cnumpy\nndarray\n");
    put(&mut out);
    out.extend([b'K', 0, 0x85]);
    out.extend(b"c_codecs\nencode\n");
    unicode(&mut out, "b");
    unicode(&mut out, "latin1");
    out.extend([0x86, b'R', 0x87, b'R']);
    put(&mut out);
    // State: (1, (n,), dtype('O8'), False, [list, ...]).
    out.extend([b'(', b'K', 1]);
    int(&mut out, seqs.len() as i64);
    out.push(0x85);
    out.extend(b"cnumpy\ndtype\n");
    unicode(&mut out, "O8");
    out.extend([0x89, 0x88, 0x87, b'R']);
    out.extend([b'(', b'K', 3]);
    unicode(&mut out, "|");
    out.extend([b'N', b'N', b'N']);
    int(&mut out, -1);
    int(&mut out, -1);
    out.extend([b'K', 63, b't', b'b', 0x89, b']']);
    put(&mut out);
    out.push(b'(');
    for seq in seqs {
        out.push(b']');
        put(&mut out);
        out.push(b'(');
        for &v in seq {
            int(&mut out, v);
        }
        out.push(b'e');
    }
    out.extend([b'e', b't', b'b', b'.']);
    out
}

fn object_npy(seqs: &[Vec<i64>]) -> Vec<u8> {
    npy("|O", &[seqs.len()], &pickled_object_array(seqs))
}

fn write_npz(path: &Path, members: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn label_histogram(y: &Targets) -> Vec<usize> {
    let Targets::Classes(labels) = y else { panic!("expected class ids") };
    let mut hist = vec![0; 10];
    for &l in labels {
        hist[l as usize] += 1;
    }
    hist
}

fn message(err: &DataError) -> String {
    err.to_string()
}

// ---------------------------------------------------------------- real Fashion-MNIST

#[test]
fn real_fashion_mnist_loads_from_debian_package() {
    let ds = data::load_from("fashion_mnist", None, &[PathBuf::from("/usr/share/datasets")]).unwrap();
    assert_eq!(ds.name, "fashion-mnist");
    assert_eq!(ds.train.x.len(), 60_000);
    assert_eq!(ds.train.x.sample_shape(), &[28, 28]);
    assert_eq!(ds.train.y.len(), 60_000);
    let test = ds.test.as_ref().unwrap();
    assert_eq!((test.x.len(), test.y.len()), (10_000, 10_000));
    assert_eq!(label_histogram(&ds.train.y), vec![6000; 10]);
    assert_eq!(label_histogram(&test.y), vec![1000; 10]);
    let Targets::Classes(labels) = &ds.train.y else { unreachable!() };
    assert_eq!(labels[0], 9);
    assert_eq!(ds.class_names.as_ref().unwrap()[9], "Ankle boot");
    assert_eq!(ds.train.y.num_classes(), Some(10));
    // Pixels arrive scaled into [0, 1], and the first image is not blank.
    let mut first = vec![0.0f32; 784];
    ds.train.x.gather_into(&[0], &mut first);
    assert!(first.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(first.contains(&1.0));
    let Features::U8 { data, .. } = &ds.train.x else { panic!("images must stay u8") };
    assert_eq!(first[100], data[[0, 3, 16]] as f32 * (1.0 / 255.0));
}

#[test]
fn explicit_file_of_debian_package_selects_its_directory() {
    let ds = data::load_from("fashion-mnist", Some(&Path::new(DEBIAN_FASHION).join("t10k-labels-idx1-ubyte.gz")), &[])
        .unwrap();
    assert_eq!(ds.test.unwrap().len(), 10_000);
}

// ---------------------------------------------------------------- IDX corruption

#[test]
fn idx_bad_magic_is_corrupt_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgs");
    std::fs::write(&path, idx_bytes(0x801, &[1], &[0])).unwrap();
    let err = idx::read_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
    let text = message(&err);
    assert!(text.contains(&path.display().to_string()) && text.contains("magic"), "{text}");
}

#[test]
fn idx_truncated_header_and_data_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.gz");
    std::fs::write(&short, gzip(&[0, 0, 8, 3, 0, 0])).unwrap();
    let err = idx::read_images(&short).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }) && message(&err).contains("short.gz"), "{err}");

    let truncated = dir.path().join("truncated");
    std::fs::write(&truncated, idx_bytes(0x803, &[2, 2, 2], &[1; 7])).unwrap();
    let err = idx::read_images(&truncated).unwrap_err();
    let text = message(&err);
    assert!(
        matches!(err, DataError::Corrupt { .. }) && text.contains("truncated") && text.contains("found 7"),
        "{text}"
    );

    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(idx::read_labels(&empty).unwrap_err(), DataError::Corrupt { .. }));
}

#[test]
fn idx_bad_gzip_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.gz");
    let mut bytes = gzip(&idx_bytes(0x801, &[100], &[3; 100]));
    let mid = bytes.len() / 2;
    bytes.truncate(mid);
    std::fs::write(&path, bytes).unwrap();
    let err = idx::read_labels(&path).unwrap_err();
    let text = message(&err);
    assert!(matches!(err, DataError::Corrupt { .. }) && text.contains("gzip") && text.contains("labels.gz"), "{text}");
}

#[test]
fn idx_count_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dataset(dir.path(), 4, 2, 7);
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), idx_bytes(0x801, &[3], &[0, 1, 2])).unwrap();
    let err = data::load_from("fashion-mnist", Some(dir.path()), &[]).unwrap_err();
    let text = message(&err);
    assert!(matches!(err, DataError::Mismatch { .. }), "{err:?}");
    assert!(
        text.contains("train-images-idx3-ubyte.gz")
            && text.contains("train-labels-idx1-ubyte")
            && text.contains("4 images"),
        "{text}"
    );
}

#[test]
fn missing_file_in_dataset_is_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope");
    let err = idx::read_images(&path).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && message(&err).contains("nope"), "{err}");
}

// ---------------------------------------------------------------- lookup order

#[test]
fn first_root_wins_and_explicit_path_beats_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let (nn_data, cache, explicit) = (tmp.path().join("nn_data"), tmp.path().join("cache"), tmp.path().join("mine"));
    write_idx_dataset(&nn_data.join("fashion-mnist"), 3, 1, 51);
    write_idx_dataset(&cache.join("fashion-mnist"), 5, 1, 102);
    write_idx_dataset(&explicit, 7, 1, 255);
    let roots = [nn_data.clone(), cache.clone()];

    let ds = data::load_from("fashion-mnist", None, &roots).unwrap();
    assert_eq!(ds.train.len(), 3);
    assert_eq!(ds.train.x.to_f32()[[0, 0, 0]], 51.0 * (1.0 / 255.0));

    let ds = data::load_from("fashion-mnist", None, &roots[1..]).unwrap();
    assert_eq!(ds.train.len(), 5);

    let ds = data::load_from("fashion-mnist", Some(&explicit), &roots).unwrap();
    assert_eq!(ds.train.len(), 7);
    assert_eq!(ds.test.unwrap().len(), 1);
}

#[test]
fn explicit_path_is_searched_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    write_idx_dataset(&root.join("fashion-mnist"), 3, 1, 0);
    let wrong = tmp.path().join("typo");
    let err = data::load_from("fashion-mnist", Some(&wrong), &[root]).unwrap_err();
    let DataError::NotFound { searched, .. } = &err else { panic!("{err:?}") };
    assert_eq!(searched, &vec![wrong.clone()]);
    assert!(message(&err).contains("typo"));
}

#[test]
fn not_found_lists_every_path_and_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = [tmp.path().join("a"), tmp.path().join("b")];
    let err = data::load_from("fashion-mnist", None, &roots).unwrap_err();
    let text = message(&err);
    assert!(matches!(err, DataError::NotFound { .. }));
    for root in &roots {
        assert!(text.contains(&root.join("fashion-mnist").display().to_string()), "{text}");
    }
    assert!(text.contains("sudo apt-get install dataset-fashion-mnist"), "{text}");

    let err = data::load_from("imdb", None, &roots).unwrap_err();
    let text = message(&err);
    assert!(text.contains(&roots[1].join("imdb.npz").display().to_string()) && text.contains("imdb.npz"), "{text}");
}

#[test]
fn partial_idx_directory_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fashion-mnist");
    write_idx_dataset(&dir, 2, 1, 0);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    let text = message(&data::load_from("fashion-mnist", None, &[tmp.path().to_path_buf()]).unwrap_err());
    assert!(text.contains("missing: t10k-labels-idx1-ubyte"), "{text}");
}

#[test]
fn default_roots_start_with_nn_data() {
    let tmp = tempfile::tempdir().unwrap();
    // Only this test sets NN_DATA, and to an empty directory, so concurrent loads are unaffected.
    std::env::set_var("NN_DATA", tmp.path());
    let roots = data::default_roots();
    std::env::remove_var("NN_DATA");
    assert_eq!(roots[0], tmp.path());
    assert_eq!(roots.last().unwrap(), Path::new("/usr/share/datasets"));
}

#[test]
fn unknown_dataset_lists_known_names() {
    let text = message(&data::load("cifar10", None).unwrap_err());
    assert!(text.contains("cifar10") && text.contains("fashion-mnist") && text.contains("iris"), "{text}");
}

// ---------------------------------------------------------------- Keras .npz archives

#[test]
fn keras_mnist_npz_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("mnist").join("mnist.npz");
    let train_px: Vec<u8> = (0..3 * 4).map(|v| v as u8 * 20).collect();
    write_npz(
        &path,
        &[
            ("x_train", npy("|u1", &[3, 2, 2], &train_px)),
            ("y_train", npy("|u1", &[3], &[5, 0, 4])),
            ("x_test", npy("|u1", &[1, 2, 2], &[255; 4])),
            ("y_test", npy("|u1", &[1], &[7])),
        ],
    );
    let ds = data::load_from("mnist", None, &[tmp.path().to_path_buf()]).unwrap();
    assert_eq!(ds.train.x.sample_shape(), &[2, 2]);
    assert_eq!(ds.train.y, Targets::Classes(array![5, 0, 4]));
    let mut row = vec![0.0; 4];
    ds.train.x.gather_into(&[2], &mut row);
    assert_eq!(row, [160.0f32, 180.0, 200.0, 220.0].map(|v| v * (1.0 / 255.0)).to_vec());
    assert_eq!(ds.test.unwrap().y, Targets::Classes(array![7]));

    // Flat Keras cache layout (<root>/mnist.npz) and an explicit .npz file work too.
    std::fs::rename(&path, tmp.path().join("mnist.npz")).unwrap();
    assert_eq!(data::load_from("mnist", None, &[tmp.path().to_path_buf()]).unwrap().train.len(), 3);
    assert_eq!(data::load_from("mnist", Some(&tmp.path().join("mnist.npz")), &[]).unwrap().train.len(), 3);
}

#[test]
fn npz_errors_name_archive_and_member() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("mnist.npz");
    write_npz(&path, &[("x_train", npy("|u1", &[3, 2, 2], &[0; 5]))]);
    let err = data::load_from("mnist", Some(&path), &[]).unwrap_err();
    let text = message(&err);
    assert!(
        matches!(err, DataError::Corrupt { .. })
            && text.contains("mnist.npz")
            && text.contains("x_train")
            && text.contains("truncated"),
        "{text}"
    );

    write_npz(&path, &[("x_train", npy("|u1", &[1, 2, 2], &[0; 4]))]);
    let text = message(&data::load_from("mnist", Some(&path), &[]).unwrap_err());
    assert!(text.contains("no array `y_train`") && text.contains("x_train"), "{text}");

    std::fs::write(&path, b"not a zip").unwrap();
    let err = data::load_from("mnist", Some(&path), &[]).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }) && message(&err).contains("zip"), "{err}");

    write_npz(&path, &[("x_train", npy("<c16", &[1], &[0; 16]))]);
    let text = message(&data::load_from("mnist", Some(&path), &[]).unwrap_err());
    assert!(text.contains("unsupported dtype `<c16`"), "{text}");
}

fn imdb_fixture(dir: &Path) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    // Labels encode each sequence's first word parity so the pairing can be checked after shuffling.
    let train: Vec<Vec<i64>> = vec![vec![1, 14, 22], vec![2, 5], vec![3, 70000, 9], vec![4], vec![5, 6, 7, 8]];
    let test: Vec<Vec<i64>> = vec![vec![10, 11], vec![13], vec![20, 1, 1]];
    let labels = |s: &[Vec<i64>]| i64_payload(&s.iter().map(|q| q[0] % 2).collect::<Vec<_>>());
    write_npz(
        &dir.join("imdb.npz"),
        &[
            ("x_train", object_npy(&train)),
            ("y_train", npy("<i8", &[train.len()], &labels(&train))),
            ("x_test", object_npy(&test)),
            ("y_test", npy("<i8", &[test.len()], &labels(&test))),
        ],
    );
    (train, test)
}

#[test]
fn keras_imdb_npz_with_pickled_sequences_matches_keras_processing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imdb");
    let (train, test) = imdb_fixture(&dir);
    let opts = TextOptions::with_num_words(20);
    let ds = data::load_sequences_from("imdb", None, &[tmp.path().to_path_buf()], &opts).unwrap();
    assert_eq!(ds.num_words, 20);

    // Keras: one RandomState(113) shuffles train, then test; start_char 1, ids + 3, ids >= 20 -> 2.
    let mut rng = NumpyRandomState::new(113);
    let mut train_order: Vec<usize> = (0..train.len()).collect();
    rng.shuffle(&mut train_order);
    let mut test_order: Vec<usize> = (0..test.len()).collect();
    rng.shuffle(&mut test_order);
    let keras = |raw: &[Vec<i64>], order: &[usize]| -> Vec<Vec<i32>> {
        order
            .iter()
            .map(|&i| {
                std::iter::once(1).chain(raw[i].iter().map(|&w| if w + 3 < 20 { (w + 3) as i32 } else { 2 })).collect()
            })
            .collect()
    };
    assert_eq!(ds.train.sequences, keras(&train, &train_order));
    assert_eq!(ds.test.sequences, keras(&test, &test_order));
    let expected_labels: Vec<i32> = train_order.iter().map(|&i| (train[i][0] % 2) as i32).collect();
    assert_eq!(ds.train.labels.to_vec(), expected_labels);
    assert_eq!(ds.train.sequences.iter().filter(|s| s.contains(&2)).count(), 2, "70000+3 and 22+3 become oov");

    // load() vectorizes over 10000 words as u8 multi-hot rows.
    let vec_ds = data::load_from("imdb", Some(&dir.join("imdb.npz")), &[]).unwrap();
    assert_eq!(vec_ds.train.x.sample_shape(), &[10_000]);
    let mut row = vec![0.0; 10_000];
    vec_ds.train.x.gather_into(&[0], &mut row);
    let first = &keras(&train, &train_order)[0];
    for (id, &v) in row.iter().enumerate() {
        let expect_hot =
            first.contains(&(id as i32)) || (id == 2 && train[train_order[0]].iter().any(|&w| w + 3 >= 10_000));
        assert_eq!(v == 1.0, expect_hot, "id {id}");
    }
    assert_eq!(vec_ds.class_names.unwrap(), vec!["negative", "positive"]);
}

#[test]
fn keras_reuters_npz_splits_after_shuffle() {
    let tmp = tempfile::tempdir().unwrap();
    let seqs: Vec<Vec<i64>> = (0..10).map(|i| vec![i, i + 1]).collect();
    let labels: Vec<i64> = (0..10).map(|i| i % 4).collect();
    write_npz(
        &tmp.path().join("reuters.npz"),
        &[("x", object_npy(&seqs)), ("y", npy("<i8", &[10], &i64_payload(&labels)))],
    );
    let opts = TextOptions { start_char: None, index_from: 0, oov_char: None, ..TextOptions::default() };
    let ds = data::load_sequences_from("reuters", None, &[tmp.path().to_path_buf()], &opts).unwrap();
    assert_eq!((ds.train.sequences.len(), ds.test.sequences.len()), (8, 2));
    let order = shuffled_indices(10, 113);
    // num_words defaults to the largest id (10), which Keras then excludes.
    let expected: Vec<Vec<i32>> =
        order.iter().map(|&i| [i, i + 1].into_iter().filter(|&w| w < 10).map(|w| w as i32).collect()).collect();
    assert_eq!(ds.train.sequences, expected[..8]);
    assert_eq!(ds.test.sequences, expected[8..]);
    assert_eq!(ds.test.labels.to_vec(), order[8..].iter().map(|&i| (i % 4) as i32).collect::<Vec<_>>());
    let vectorized = data::load_from("reuters", None, &[tmp.path().to_path_buf()]).unwrap();
    let names = vectorized.class_names.unwrap();
    assert_eq!((names.len(), names[3].as_str(), names[45].as_str()), (46, "earn", "lead"));
}

#[test]
fn corrupt_pickle_is_reported_not_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let seqs = vec![vec![1i64, 2], vec![3]];
    let mut pickle = pickled_object_array(&seqs);
    pickle.truncate(pickle.len() - 10);
    write_npz(
        &tmp.path().join("reuters.npz"),
        &[("x", npy("|O", &[2], &pickle)), ("y", npy("<i8", &[2], &i64_payload(&[0, 1])))],
    );
    let err = data::load_sequences_from("reuters", Some(&tmp.path().join("reuters.npz")), &[], &TextOptions::default())
        .unwrap_err();
    let text = message(&err);
    assert!(matches!(err, DataError::Corrupt { .. }) && text.contains("reuters.npz") && text.contains("`x`"), "{text}");
}

#[test]
fn word_index_and_decode_review() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imdb");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("imdb_word_index.json"), r#"{"the": 1, "movie": 17, "great": 84}"#).unwrap();
    let index = data::word_index_from("imdb", None, &[tmp.path().to_path_buf()]).unwrap();
    assert_eq!(index["movie"], 17);
    let reverse = text::reverse_word_index(&index);
    assert_eq!(text::decode_review(&[1, 4, 20, 87, 2], &reverse), "? the movie great ?");

    std::fs::write(dir.join("imdb_word_index.json"), "[1, 2]").unwrap();
    let err = data::word_index_from("imdb", None, &[tmp.path().to_path_buf()]).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }) && message(&err).contains("imdb_word_index.json"), "{err}");
    let err = data::word_index_from("imdb", Some(&tmp.path().join("elsewhere")), &[]).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }) && message(&err).contains("elsewhere"), "{err}");
    assert!(matches!(data::word_index("mnist", None), Err(DataError::UnknownDataset { .. })));
}

#[test]
fn boston_npz_uses_keras_split() {
    let tmp = tempfile::tempdir().unwrap();
    let x: Vec<f64> = (0..30).map(|v| v as f64).collect();
    let y: Vec<f64> = (0..10).map(|v| v as f64 * 100.0).collect();
    write_npz(
        &tmp.path().join("boston_housing.npz"),
        &[("x", npy("<f8", &[10, 3], &f64_payload(&x))), ("y", npy("<f8", &[10], &f64_payload(&y)))],
    );
    let ds = data::load_from("boston_housing", None, &[tmp.path().to_path_buf()]).unwrap();
    assert_eq!((ds.train.len(), ds.test.as_ref().unwrap().len()), (8, 2));
    let order = shuffled_indices(10, 113);
    let xs = ds.train.x.to_f32();
    let Targets::Dense(ys) = &ds.train.y else { panic!("regression targets are dense") };
    assert_eq!(ys.shape(), &[8, 1]);
    for (row, &i) in order[..8].iter().enumerate() {
        assert_eq!(xs[[row, 1]], (3 * i + 1) as f32);
        assert_eq!(ys[[row, 0]], i as f32 * 100.0);
    }
}

// ---------------------------------------------------------------- embedded

#[test]
fn embedded_iris_digits_boston() {
    let iris = data::load("iris", None).unwrap();
    let test = iris.test.as_ref().unwrap();
    assert_eq!((iris.train.len(), test.len()), (120, 30));
    assert_eq!(iris.train.x.sample_shape(), &[4]);
    let mut counts = [0; 3];
    for y in [&iris.train.y, &test.y] {
        let Targets::Classes(labels) = y else { panic!() };
        labels.iter().for_each(|&l| counts[l as usize] += 1);
    }
    assert_eq!(counts, [50, 50, 50]);
    assert_eq!(iris.class_names.unwrap(), vec!["setosa", "versicolor", "virginica"]);

    let digits = data::load("digits", None).unwrap();
    assert_eq!(digits.train.len() + digits.test.as_ref().unwrap().len(), 1797);
    assert_eq!(digits.train.x.sample_shape(), &[64]);
    let all = digits.train.x.to_f32();
    assert_eq!(all.iter().cloned().fold(0.0, f32::max), 1.0);
    assert_eq!(digits.train.y.num_classes(), Some(10));

    let boston = data::load("boston", None).unwrap();
    assert_eq!((boston.train.len(), boston.test.as_ref().unwrap().len()), (404, 102));
    assert_eq!(boston.train.x.sample_shape(), &[13]);
    assert_eq!(boston.train.y.sample_shape(), &[1]);

    assert!(matches!(data::load("iris", Some(Path::new("/tmp"))), Err(DataError::InvalidArgument { .. })));
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_loads_numeric_table_and_reports_bad_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.csv");
    std::fs::write(&path, "a,price,b\n1,10,2\n\n3,\"30\",4.5\n").unwrap();
    let split = csv::load_csv(&path, "price").unwrap();
    assert_eq!(split.x, Features::F32(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 2.0, 3.0, 4.5]).unwrap()));
    assert_eq!(split.y, Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![10.0, 30.0]).unwrap()));

    std::fs::write(&path, "a,price\n1,2\n3,n/a\n").unwrap();
    let err = csv::load_csv(&path, "price").unwrap_err();
    assert!(matches!(err, DataError::Parse { line: 3, column: Some(2), .. }), "{err:?}");
    let text = message(&err);
    assert!(text.starts_with(&format!("{}:3:2: column `price`", path.display())) && text.contains("`n/a`"), "{text}");

    std::fs::write(&path, "a,price\n1,2,3\n").unwrap();
    let err = csv::load_csv(&path, "price").unwrap_err();
    assert!(
        matches!(err, DataError::Parse { line: 2, column: None, .. }) && message(&err).contains("3 fields"),
        "{err}"
    );

    let text = message(&csv::load_csv(&path, "cost").unwrap_err());
    assert!(text.contains("no column named `cost`") && text.contains("a, price"), "{text}");
}

// ---------------------------------------------------------------- containers and utilities

#[test]
fn features_and_targets_gather_and_select() {
    let x = Features::U8 {
        data: ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![0, 10, 20, 30, 40, 50]).unwrap(),
        scale: 0.1,
        offset: -1.0,
    };
    let mut out = vec![0.0; 4];
    x.gather_into(&[2, 0], &mut out);
    assert_eq!(out, vec![3.0, 4.0, -1.0, 0.0]);
    assert_eq!(x.select(&[1]).to_f32().into_raw_vec_and_offset().0, vec![1.0, 2.0]);

    let classes = Targets::Classes(array![3, 1, 2]);
    let mut ids = [0; 2];
    classes.gather_i32_into(&[2, 0], &mut ids).unwrap();
    assert_eq!(ids, [2, 3]);
    assert_eq!(classes.num_classes(), Some(4));
    let mut as_f32 = [0.0; 1];
    classes.gather_f32_into(&[1], &mut as_f32);
    assert_eq!(as_f32, [1.0]);

    let dense = Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.0, 1.0, 1.0, 0.0]).unwrap());
    assert!(matches!(dense.gather_i32_into(&[0], &mut [0]), Err(DataError::Mismatch { .. })));
    assert_eq!(dense.sample_shape(), &[2]);
    assert_eq!(dense.num_classes(), Some(2));
    assert!(data::Split::new(x, dense).is_err());
}

#[test]
fn utilities_behave_like_keras() {
    let folds = kfold(404, 4).unwrap();
    let mut seen = vec![0; 404];
    for (_, val) in &folds {
        val.iter().for_each(|&i| seen[i] += 1);
    }
    assert!(seen.iter().all(|&c| c == 1));
    assert_eq!(folds[1].1.first(), Some(&101));

    let (train, val) = validation_split_indices(100, 0.2).unwrap();
    assert_eq!((train.len(), val[0]), (80, 80));

    let onehot = preprocess::to_categorical(&array![1, 0], 2).unwrap();
    assert_eq!(onehot, array![[0.0, 1.0], [1.0, 0.0]]);
    assert!(preprocess::to_categorical(&array![-1], 2).is_err());

    let x = ArrayD::from_shape_vec(IxDyn(&[4, 1]), vec![2.0, 4.0, 4.0, 6.0]).unwrap();
    let scaler = preprocess::StandardScaler::fit(&x).unwrap();
    let back = scaler.inverse_transform(&scaler.transform(&x).unwrap()).unwrap();
    assert!(back.iter().zip(x.iter()).all(|(a, b)| (a - b).abs() < 1e-6));

    let v = text::vectorize_sequences(&[vec![1, 3]], 5).unwrap();
    assert_eq!(v.row(0).to_vec(), vec![0.0, 1.0, 0.0, 1.0, 0.0]);
}

#[test]
fn embedded_boston_reproduces_keras_split() {
    // Keras: `(train_data, train_targets), _ = boston_housing.load_data()` gives this first row and
    // these first targets (Deep Learning with Python, chapter 3/4).
    let boston = data::load("boston_housing", None).unwrap();
    let x = boston.train.x.to_f32();
    let first: Vec<f32> = x.index_axis(ndarray::Axis(0), 0).iter().copied().collect();
    let expected = [1.23247f32, 0.0, 8.14, 0.0, 0.538, 6.142, 91.7, 3.9769, 4.0, 307.0, 21.0, 396.9, 18.72];
    for (a, b) in first.iter().zip(expected) {
        assert!((a - b).abs() < 1e-4, "{first:?}");
    }
    let Targets::Dense(y) = &boston.train.y else { panic!() };
    let targets: Vec<f32> = y.iter().take(10).copied().collect();
    let expected = [15.2f32, 42.3, 50.0, 21.1, 17.7, 18.5, 11.3, 15.6, 15.6, 14.4];
    for (a, b) in targets.iter().zip(expected) {
        assert!((a - b).abs() < 1e-4, "{targets:?}");
    }
}
