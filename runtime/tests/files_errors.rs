//! Every error `load_file` reports on bad data, as rendered text: one golden per case in
//! `tests/files_errors/<case>.txt` (the temporary folder shows as `<tmp>`; bless with `NN_BLESS=1`).

use std::path::Path;

use image::{Rgb, RgbImage};
use ndarray::{array, Array};
use ndarray_npy::{write_npy, NpzWriter};
use nn_runtime::data::files::{load_file, map_npy, FileOptions};

type Setup = fn(&Path) -> (std::path::PathBuf, FileOptions);

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn csv(text: &'static str) -> impl Fn(&Path) -> std::path::PathBuf {
    move |dir| write(dir, "table.csv", text)
}

fn defaults(path: std::path::PathBuf) -> (std::path::PathBuf, FileOptions) {
    (path, FileOptions::default())
}

fn png(dir: &Path, name: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(2, 2, Rgb([1, 2, 3])).save(path).unwrap();
}

fn npy_bytes(descr: &str, fortran: bool, shape: &str, payload: &[u8]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
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

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    out.extend(data);
    out
}

const CASES: &[(&str, Setup)] = &[
    ("csv_missing_value", |d| defaults(csv("a,b,y\n1,2,0\n1,,0\n")(d))),
    ("csv_missing_label", |d| defaults(csv("a,y\n1,\n")(d))),
    ("csv_not_a_number", |d| defaults(csv("a,b,y\n1,2,0\n1,abc,0\n")(d))),
    ("csv_ragged_row", |d| defaults(csv("a,b,y\n1,2,0\n3,4\n")(d))),
    ("csv_empty_file", |d| defaults(csv("")(d))),
    ("csv_header_only", |d| defaults(csv("a,b,y\n")(d))),
    ("csv_duplicate_columns", |d| defaults(csv("a,b,a\n1,2,3\n")(d))),
    ("csv_only_a_label_column", |d| defaults(csv("y\n1\n")(d))),
    ("csv_mixed_labels", |d| defaults(csv("a,y\n1,0\n2,1\n3,cat\n")(d))),
    ("csv_invalid_utf8", |d| defaults(write(d, "table.csv", b"a,y\n1,\xff\xfe\n"))),
    ("csv_unknown_label_column", |d| {
        let opts = FileOptions { label: Some("specis".into()), ..FileOptions::default() };
        (csv("sepal,petal,species\n1,2,setosa\n")(d), opts)
    }),
    ("csv_unknown_feature_column", |d| {
        let opts = FileOptions { features: Some(vec!["sepal".into(), "weight".into()]), ..FileOptions::default() };
        (csv("sepal,petal,species\n1,2,setosa\n")(d), opts)
    }),
    ("csv_label_also_a_feature", |d| {
        let opts = FileOptions { features: Some(vec!["sepal".into(), "species".into()]), ..FileOptions::default() };
        (csv("sepal,petal,species\n1,2,setosa\n")(d), opts)
    }),
    ("csv_unknown_class", |d| {
        let opts = FileOptions { class_names: Some(vec!["cat".into(), "dog".into()]), ..FileOptions::default() };
        (csv("a,animal\n1,cat\n2,dgo\n")(d), opts)
    }),
    ("unknown_file_type", |d| defaults(write(d, "data.parquet", "PAR1"))),
    ("missing_path", |d| defaults(d.join("nowhere.csv"))),
    ("npy_fortran_order", |d| {
        let path = d.join("x.npy");
        write_npy(&path, &array![[1.0f32, 2.0], [3.0, 4.0]].reversed_axes()).unwrap();
        defaults(path)
    }),
    ("npy_truncated", |d| {
        let path = d.join("x.npy");
        write_npy(&path, &Array::<f32, _>::zeros((10, 4))).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        defaults(write(d, "x.npy", &bytes[..bytes.len() - 9]))
    }),
    ("npy_trailing_bytes", |d| defaults(write(d, "x.npy", npy_bytes("|u1", false, "(2,)", &[1, 2, 3])))),
    ("npy_object_array", |d| defaults(write(d, "x.npy", npy_bytes("|O", false, "(2,)", b"\x80\x02.")))),
    ("npy_unsupported_dtype", |d| defaults(write(d, "x.npy", npy_bytes("<U3", false, "(1,)", &[0; 12])))),
    ("npy_bad_signature", |d| defaults(write(d, "x.npy", "x,y\n1,2\n"))),
    ("npy_scalar", |d| defaults(write(d, "x.npy", npy_bytes("<f4", false, "()", &[0; 4])))),
    ("npz_without_the_array_asked_for", |d| {
        let path = d.join("data.npz");
        let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
        npz.add_array("x_train", &array![1.0f32, 2.0]).unwrap();
        npz.add_array("y_train", &array![0i64, 1]).unwrap();
        npz.finish().unwrap();
        (path, FileOptions { features: Some(vec!["x_trian".into()]), ..FileOptions::default() })
    }),
    ("npz_lengths_differ", |d| {
        let path = d.join("data.npz");
        let mut npz = NpzWriter::new(std::fs::File::create(&path).unwrap());
        npz.add_array("x", &array![[1.0f32], [2.0], [3.0]]).unwrap();
        npz.add_array("y", &array![0i64, 1]).unwrap();
        npz.finish().unwrap();
        defaults(path)
    }),
    ("npz_not_a_zip", |d| defaults(write(d, "data.npz", "not a zip archive"))),
    ("idx_images_without_labels", |d| {
        write(d, "train-images-idx3-ubyte", idx(0x803, &[1, 2, 2], &[0; 4]));
        defaults(d.to_path_buf())
    }),
    ("idx_counts_differ", |d| {
        write(d, "train-images-idx3-ubyte", idx(0x803, &[2, 2, 2], &[0; 8]));
        write(d, "train-labels-idx1-ubyte", idx(0x801, &[3], &[0; 3]));
        defaults(d.to_path_buf())
    }),
    ("idx_truncated_images", |d| {
        write(d, "train-images-idx3-ubyte", idx(0x803, &[2, 2, 2], &[0; 7]));
        write(d, "train-labels-idx1-ubyte", idx(0x801, &[2], &[0; 2]));
        defaults(d.to_path_buf())
    }),
    ("idx_test_pair_only", |d| {
        write(d, "t10k-images-idx3-ubyte", idx(0x803, &[1, 2, 2], &[0; 4]));
        write(d, "t10k-labels-idx1-ubyte", idx(0x801, &[1], &[0]));
        defaults(d.to_path_buf())
    }),
    ("image_corrupt_png", |d| {
        png(d, "cat/ok.png");
        write(d, "cat/broken.png", b"\x89PNG\r\n\x1a\nnot really");
        defaults(d.to_path_buf())
    }),
    ("image_empty_class_folder", |d| {
        png(d, "cat/a.png");
        std::fs::create_dir_all(d.join("dog")).unwrap();
        defaults(d.to_path_buf())
    }),
    ("image_no_images", |d| {
        write(d, "readme.txt", "nothing here");
        defaults(d.to_path_buf())
    }),
    ("image_mixed_nesting", |d| {
        png(d, "cat/a.png");
        png(d, "stray.png");
        defaults(d.to_path_buf())
    }),
    ("image_nested_class_folder", |d| {
        png(d, "cat/a.png");
        png(d, "cat/kittens/b.png");
        defaults(d.to_path_buf())
    }),
    ("image_flat_folder_needs_labels", |d| {
        png(d, "a.png");
        png(d, "b.png");
        defaults(d.to_path_buf())
    }),
    ("image_unknown_class_folder", |d| {
        png(d, "cat/a.png");
        png(d, "dgo/a.png");
        (d.to_path_buf(), FileOptions { class_names: Some(vec!["cat".into(), "dog".into()]), ..FileOptions::default() })
    }),
    ("image_unsupported_format", |d| {
        png(d, "cat/a.png");
        write(d, "cat/b.bmp", "BM");
        defaults(d.to_path_buf())
    }),
    ("image_bad_channels", |d| {
        png(d, "cat/a.png");
        (d.to_path_buf(), FileOptions { channels: Some(4), ..FileOptions::default() })
    }),
];

fn check(name: &str, actual: &str, failures: &mut Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files_errors").join(format!("{name}.txt"));
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!("{name}:\n--- expected\n{expected}\n--- actual\n{actual}")),
        Err(_) => failures.push(format!("{name}: missing {}; run with NN_BLESS=1", path.display())),
    }
}

#[test]
fn every_error_is_clear() {
    let mut failures = Vec::new();
    for (name, setup) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let (path, opts) = setup(dir.path());
        let message = match load_file(&path, &opts) {
            Ok(data) => panic!("{name}: expected an error, loaded {:?}", data.names()),
            Err(e) => e.to_string(),
        };
        let actual = format!("{}\n", message.replace(&dir.path().display().to_string(), "<tmp>"));
        check(name, &actual, &mut failures);
    }
    // Mapping needs float32/float64/uint8 data.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.npy");
    write_npy(&path, &array![1i64, 2]).unwrap();
    let message = map_npy(&path).unwrap_err().to_string();
    check(
        "map_npy_integer_dtype",
        &format!("{}\n", message.replace(&dir.path().display().to_string(), "<tmp>")),
        &mut failures,
    );
    assert!(failures.is_empty(), "{} golden(s) differ:\n{}", failures.len(), failures.join("\n"));
    // Every golden belongs to a case (none left over from a renamed one).
    let goldens = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files_errors")).unwrap();
    for entry in goldens {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let stem = file.trim_end_matches(".txt");
        assert!(CASES.iter().any(|(n, _)| *n == stem) || stem == "map_npy_integer_dtype", "stale golden {file}");
    }
}
