//! `load_file` on real tables (iris and Boston written out as CSV and committed) and on generated
//! `.npy`/`.npz` files, IDX folders and image folders.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use ndarray::{array, Array, ArrayD};
use ndarray_npy::{write_npy, NpzWriter};
use nn_runtime::data::files::{load_file, map_npy, Column, FileData, FileOptions};
use nn_runtime::data::Features;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Compares `actual` with the committed file (rewritten under `NN_BLESS=1`).
fn golden_file(path: &Path, actual: &str) {
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("missing golden {}; run with NN_BLESS=1 to create it", path.display()));
    assert!(expected == actual, "golden {} differs (NN_BLESS=1 rewrites it)", path.display());
}

fn f32_of(column: &Column) -> ArrayD<f32> {
    match column {
        Column::F32(f) => f.to_f32(),
        other => panic!("expected float32, got {}", other.dtype_name()),
    }
}

fn i64_of(column: &Column) -> &ArrayD<i64> {
    match column {
        Column::I64(a) => a,
        other => panic!("expected int64, got {}", other.dtype_name()),
    }
}

fn u8_of(column: &Column) -> &ArrayD<u8> {
    match column {
        Column::U8(a) => a,
        other => panic!("expected uint8, got {}", other.dtype_name()),
    }
}

fn load(path: &Path) -> FileData {
    load_file(path, &FileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn table(rows: &[Vec<f32>], header: &str, label: impl Fn(usize) -> String) -> String {
    let mut text = format!("{header}\n");
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        text.push_str(&format!("{},{}\n", cells.join(","), label(i)));
    }
    text
}

// ---------------------------------------------------------------- real tables

#[test]
fn iris_csv_holds_exactly_the_embedded_table() {
    let d = smartcore::dataset::iris::load_dataset();
    let rows: Vec<Vec<f32>> = d.data.chunks(d.num_features).map(<[f32]>::to_vec).collect();
    let species = ["setosa", "versicolor", "virginica"];
    let text = table(&rows, "sepal_length,sepal_width,petal_length,petal_width,species", |i| {
        species[d.target[i] as usize].to_string()
    });
    let path = data_dir().join("iris.csv");
    golden_file(&path, &text);

    let data = load(&path);
    assert_eq!(data.names(), ["x", "y"]);
    assert_eq!(f32_of(data.get("x").unwrap()).into_raw_vec_and_offset().0, d.data);
    let y: Vec<i64> = d.target.iter().map(|&t| t as i64).collect();
    assert_eq!(i64_of(data.get("y").unwrap()).as_slice().unwrap(), y.as_slice());
    assert_eq!(data.class_names.unwrap(), species);
}

#[test]
fn boston_csv_holds_exactly_the_embedded_table() {
    let d = smartcore::dataset::boston::load_dataset();
    let rows: Vec<Vec<f32>> = d.data.chunks(d.num_features).map(<[f32]>::to_vec).collect();
    let header = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT,MEDV";
    let text = table(&rows, header, |i| format!("{:?}", d.target[i]));
    let path = data_dir().join("boston.csv");
    golden_file(&path, &text);

    let data = load(&path);
    let x = f32_of(data.get("x").unwrap());
    assert_eq!(x.shape(), &[506, 13]);
    assert_eq!(x.into_raw_vec_and_offset().0, d.data);
    let y = f32_of(data.get("y").unwrap());
    assert_eq!(y.shape(), &[506]);
    assert_eq!(y.into_raw_vec_and_offset().0, d.target);
    assert_eq!(data.class_names, None);

    // The same table with the label picked by name and two features in a chosen order.
    let opts = FileOptions {
        label: Some("MEDV".into()),
        features: Some(vec!["RM".into(), "CRIM".into()]),
        ..FileOptions::default()
    };
    let picked = load_file(&path, &opts).unwrap();
    let x = f32_of(picked.get("x").unwrap());
    assert_eq!(x.shape(), &[506, 2]);
    assert_eq!((x[[0, 0]], x[[0, 1]]), (d.data[5], d.data[0]));
}

// ---------------------------------------------------------------- CSV variants

#[test]
fn csv_delimiters_quotes_and_label_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let semi = dir.path().join("semi.csv");
    std::fs::write(&semi, "a;\"b;c\";label\n1;2.5;3\n\n4;-5e-1;7\n").unwrap();
    let data = load(&semi);
    assert_eq!(f32_of(data.get("x").unwrap()), array![[1.0f32, 2.5], [4.0, -0.5]].into_dyn());
    assert_eq!(i64_of(data.get("y").unwrap()), &array![3i64, 7].into_dyn(), "integer labels stay integer");

    let tsv = dir.path().join("t.tsv");
    std::fs::write(&tsv, "y\tx\n0.5\t1\n2\t3\n").unwrap();
    let opts = FileOptions { label: Some("y".into()), ..FileOptions::default() };
    let data = load_file(&tsv, &opts).unwrap();
    assert_eq!(f32_of(data.get("y").unwrap()), array![0.5f32, 2.0].into_dyn(), "a fraction makes labels float");
    assert_eq!(f32_of(data.get("x").unwrap()), array![[1.0f32], [3.0]].into_dyn());

    // Text labels: ids in sorted order of the names, whatever order they appear in.
    let text = dir.path().join("text.csv");
    std::fs::write(&text, "f,animal\n1,dog\n2,cat\n3,dog\n4,ant\n").unwrap();
    let data = load(&text);
    assert_eq!(i64_of(data.get("y").unwrap()), &array![2i64, 1, 2, 0].into_dyn());
    assert_eq!(data.class_names.unwrap(), ["ant", "cat", "dog"]);

    // A fixed mapping from training keeps training's ids.
    let fixed = FileOptions { class_names: Some(vec!["dog".into(), "cat".into(), "ant".into()]), ..Default::default() };
    let data = load_file(&text, &fixed).unwrap();
    assert_eq!(i64_of(data.get("y").unwrap()), &array![0i64, 1, 0, 2].into_dyn());
    assert_eq!(data.class_names.unwrap(), ["dog", "cat", "ant"]);
}

#[test]
fn csv_for_predict_may_lack_the_label() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.csv");
    std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
    let opts = FileOptions { label: Some("price".into()), labels_required: false, ..FileOptions::default() };
    let data = load_file(&path, &opts).unwrap();
    assert_eq!(data.names(), ["x"]);
    assert_eq!(f32_of(data.get("x").unwrap()), array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
    // Present after all: it is read.
    let with = dir.path().join("with.csv");
    std::fs::write(&with, "a,price,b\n1,9,2\n").unwrap();
    let data = load_file(&with, &opts).unwrap();
    assert_eq!(data.names(), ["x", "y"]);
    assert_eq!(f32_of(data.get("x").unwrap()), array![[1.0f32, 2.0]].into_dyn());
}

// ---------------------------------------------------------------- NumPy

#[test]
fn npy_round_trips_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let f = Array::from_shape_fn((3, 2, 2), |(i, j, k)| (i * 4 + j * 2 + k) as f32 * 0.25 - 1.0);
    write_npy(p("x_train.npy"), &f).unwrap();
    let data = load(&p("x_train.npy"));
    assert_eq!(data.names(), ["x_train"], "named after the file stem");
    assert_eq!(f32_of(data.get("x_train").unwrap()), f.clone().into_dyn());

    write_npy(p("d.npy"), &f.mapv(f64::from)).unwrap();
    assert_eq!(f32_of(load(&p("d.npy")).get("d").unwrap()), f.clone().into_dyn(), "float64 → float32");

    let bytes = Array::from_shape_fn((2, 3), |(i, j)| (i * 100 + j * 70) as u8);
    write_npy(p("u.npy"), &bytes).unwrap();
    assert_eq!(u8_of(load(&p("u.npy")).get("u").unwrap()), &bytes.clone().into_dyn());

    write_npy(p("i32.npy"), &array![-3i32, 0, 7]).unwrap();
    assert_eq!(i64_of(load(&p("i32.npy")).get("i32").unwrap()), &array![-3i64, 0, 7].into_dyn());
    write_npy(p("i64.npy"), &array![[1i64 << 40], [-2]]).unwrap();
    assert_eq!(i64_of(load(&p("i64.npy")).get("i64").unwrap()), &array![[1i64 << 40], [-2]].into_dyn());
    write_npy(p("b.npy"), &array![true, false, true]).unwrap();
    assert_eq!(i64_of(load(&p("b.npy")).get("b").unwrap()), &array![1i64, 0, 1].into_dyn());
}

#[test]
fn npz_keeps_names_compressed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let x = Array::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64 / 8.0);
    let y = array![0i64, 1, 1, 0];
    let x_test = array![[9u8, 8, 7]];
    for compressed in [false, true] {
        let path = dir.path().join(format!("d{compressed}.npz"));
        let file = std::fs::File::create(&path).unwrap();
        let mut npz = if compressed { NpzWriter::new_compressed(file) } else { NpzWriter::new(file) };
        npz.add_array("x", &x).unwrap();
        npz.add_array("y", &y).unwrap();
        npz.add_array("x_test", &x_test).unwrap();
        npz.finish().unwrap();
        let data = load(&path);
        assert_eq!(data.names(), ["x", "y", "x_test"]);
        assert_eq!(f32_of(data.get("x").unwrap()), x.mapv(|v| v as f32).into_dyn());
        assert_eq!(i64_of(data.get("y").unwrap()), &y.clone().into_dyn());
        assert_eq!(u8_of(data.get("x_test").unwrap()), &x_test.clone().into_dyn());

        let opts = FileOptions { features: Some(vec!["x_test".into()]), ..FileOptions::default() };
        assert_eq!(load_file(&path, &opts).unwrap().names(), ["x_test"], "features select arrays");
    }
}

#[test]
fn mapped_npy_gathers_the_same_rows_as_an_owned_array() {
    let dir = tempfile::tempdir().unwrap();
    let owned = Array::from_shape_fn((50, 3, 4), |(i, j, k)| (i as f32).sin() * 10.0 + j as f32 - k as f32 * 0.125);
    let rows = [49usize, 0, 17, 17, 3];
    let row = 12;
    for (name, dtype_owned) in [("f32", owned.clone()), ("f64", owned.mapv(|v| (v as f64) as f32))] {
        let path = dir.path().join(format!("{name}.npy"));
        if name == "f32" {
            write_npy(&path, &owned).unwrap();
        } else {
            write_npy(&path, &owned.mapv(f64::from)).unwrap();
        }
        let mapped = map_npy(&path).unwrap();
        assert!(matches!(mapped, Features::Mapped(_)));
        let reference = Features::F32(dtype_owned.into_dyn());
        assert_eq!((mapped.len(), mapped.shape()), (50, &[50usize, 3, 4][..]));
        let (mut a, mut b) = (vec![0.0; rows.len() * row], vec![1.0; rows.len() * row]);
        mapped.gather_into(&rows, &mut a);
        reference.gather_into(&rows, &mut b);
        assert_eq!(a, b, "{name}");
        assert_eq!(mapped.select(&rows), reference.select(&rows), "{name}");
        assert_eq!(mapped.to_f32(), reference.to_f32(), "{name}");
    }
    let pixels = Array::from_shape_fn((6, 2, 2), |(i, j, k)| (i * 40 + j * 7 + k) as u8);
    let path = dir.path().join("pixels.npy");
    write_npy(&path, &pixels).unwrap();
    let Features::Mapped(mapped) = map_npy(&path).unwrap() else { panic!("mapped") };
    let mapped = Features::Mapped(mapped.with_scale(1.0 / 255.0, 0.0));
    let owned = Features::images_u8(pixels.into_dyn());
    let (mut a, mut b) = (vec![0.0; 8], vec![1.0; 8]);
    mapped.gather_into(&[5, 1], &mut a);
    owned.gather_into(&[5, 1], &mut b);
    assert_eq!(a, b);
    assert_eq!(mapped.select(&[2, 3]), owned.select(&[2, 3]), "u8 stays u8 with its scale");
}

// ---------------------------------------------------------------- IDX folders

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    out.extend(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn idx_folder_gives_train_and_test_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..3 * 2 * 2).map(|v| v as u8 * 10).collect();
    std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gzip(&idx(0x803, &[3, 2, 2], &pixels))).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), idx(0x801, &[3], &[2, 0, 9])).unwrap();
    let data = load(dir.path());
    assert_eq!(data.names(), ["x", "y"], "the test pair is optional");
    assert_eq!(u8_of(data.get("x").unwrap()).as_slice().unwrap(), pixels.as_slice());
    assert_eq!(i64_of(data.get("y").unwrap()).as_slice().unwrap(), &[2, 0, 9]);

    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), idx(0x803, &[1, 2, 2], &[1, 2, 3, 4])).unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), gzip(&idx(0x801, &[1], &[5]))).unwrap();
    let data = load(dir.path());
    assert_eq!(data.names(), ["x", "y", "x_test", "y_test"]);
    assert_eq!(u8_of(data.get("x_test").unwrap()).shape(), &[1, 2, 2]);
    assert_eq!(i64_of(data.get("y_test").unwrap()).as_slice().unwrap(), &[5]);
}

// ---------------------------------------------------------------- image folders

fn save(image: &RgbImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

#[test]
fn image_folder_resizes_and_converts() {
    let dir = tempfile::tempdir().unwrap();
    // 4x4 red ramp: halving averages 2x2 blocks (bilinear at half-pixel centers).
    let ramp = RgbImage::from_fn(4, 4, |x, y| Rgb([(y * 40 + x * 10) as u8, 0, 255]));
    save(&ramp, &dir.path().join("zebra/a.png"));
    save(&RgbImage::from_pixel(3, 5, Rgb([200, 100, 50])), &dir.path().join("cat/b.jpg"));
    save(&RgbImage::from_pixel(2, 2, Rgb([0, 255, 0])), &dir.path().join("cat/a.png"));
    std::fs::write(dir.path().join("cat/notes.txt"), "ignored").unwrap();

    let opts = FileOptions { image_size: Some((2, 2)), channels: Some(3), ..FileOptions::default() };
    let data = load_file(dir.path(), &opts).unwrap();
    assert_eq!(data.class_names.as_deref().unwrap(), ["cat", "zebra"]);
    assert_eq!(i64_of(data.get("y").unwrap()).as_slice().unwrap(), &[0, 0, 1], "class order, names sorted");
    let x = u8_of(data.get("x").unwrap());
    assert_eq!(x.shape(), &[3, 2, 2, 3]);
    assert_eq!(x.slice(ndarray::s![0, 0, 0, ..]).to_vec(), [0, 255, 0], "cat/a.png first");
    let jpeg = x.slice(ndarray::s![1, .., .., ..]);
    for (value, want) in jpeg.iter().zip([200u8, 100, 50].iter().cycle()) {
        assert!(value.abs_diff(*want) <= 3, "jpeg pixel {value} vs {want}");
    }
    let red: Vec<u8> = x.slice(ndarray::s![2, .., .., 0]).iter().copied().collect();
    assert_eq!(red, [25, 45, 105, 125]);

    // Grayscale with the 0.299/0.587/0.114 weights.
    let gray = FileOptions { image_size: Some((2, 2)), channels: Some(1), ..FileOptions::default() };
    let x = load_file(dir.path(), &gray).unwrap();
    let x = u8_of(x.get("x").unwrap());
    assert_eq!(x.shape(), &[3, 2, 2, 1]);
    assert_eq!(x[[0, 1, 1, 0]], 150, "round(0.587 * 255)");
}

#[test]
fn flat_image_folder_for_predict_records_file_names() {
    let dir = tempfile::tempdir().unwrap();
    save(&RgbImage::from_pixel(8, 8, Rgb([10, 20, 30])), &dir.path().join("b.png"));
    save(&RgbImage::from_pixel(4, 2, Rgb([90, 90, 90])), &dir.path().join("a.png"));
    let opts = FileOptions { image_size: Some((3, 3)), labels_required: false, ..FileOptions::default() };
    let data = load_file(dir.path(), &opts).unwrap();
    assert_eq!(data.names(), ["x"]);
    assert_eq!(data.file_names.as_deref().unwrap(), ["a.png", "b.png"]);
    let x = u8_of(data.get("x").unwrap());
    assert_eq!(x.shape(), &[2, 3, 3, 3]);
    assert!(x.slice(ndarray::s![1, .., .., ..]).iter().copied().eq([10u8, 20, 30].repeat(9)));
}

#[test]
fn default_image_size_is_keras_256() {
    let dir = tempfile::tempdir().unwrap();
    save(&RgbImage::from_pixel(5, 7, Rgb([1, 2, 3])), &dir.path().join("only/x.png"));
    let data = load(dir.path());
    assert_eq!(data.get("x").unwrap().shape(), &[1, 256, 256, 3]);
}

// ---------------------------------------------------------------- no panics on garbage

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    #[test]
    fn garbage_tables_never_panic(text in "[a-c0-9,;. \"\n\t-]{0,80}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, &text).unwrap();
        let _ = load_file(&path, &FileOptions::default());
        let _ = load_file(&path, &FileOptions { labels_required: false, ..FileOptions::default() });
    }

    #[test]
    fn damaged_numpy_files_never_panic(cut in 0usize..200, at in 0usize..200, byte: u8, npz: bool) {
        let dir = tempfile::tempdir().unwrap();
        let name = if npz { "d.npz" } else { "d.npy" };
        let path = dir.path().join(name);
        let x = array![[1.0f32, 2.0], [3.0, 4.0]];
        if npz {
            let mut w = NpzWriter::new(std::fs::File::create(&path).unwrap());
            w.add_array("x", &x).unwrap();
            w.finish().unwrap();
        } else {
            write_npy(&path, &x).unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if at < bytes.len() {
            bytes[at] = byte;
        }
        bytes.truncate(bytes.len().saturating_sub(cut % 3 * cut));
        std::fs::write(&path, &bytes).unwrap();
        let _ = load_file(&path, &FileOptions::default());
    }
}
