//! End-to-end: `nn fit`, `nn evaluate` and `nn predict` on the user's own
//! files — CSV tables, `.npy` arrays and a folder of class subfolders of PNG
//! images — as a user runs them.

use std::path::Path;
use std::process::Output;

mod common;
use common::{nn, temp_dir, text};

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}\n{}\n{}", out.status.code(), text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/tests/data").join(name).display().to_string()
}

/// The value after `name: ` on the line that starts with it (`nn evaluate`'s output).
fn metric(stdout: &str, name: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` line in {stdout}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn iris_from_csv_with_class_names() {
    let dir = temp_dir("iris");
    let model = write(
        &dir,
        "flowers.nn",
        &format!(
            "model flowers {{
    input features: [4]
    dense(3, activation = softmax)
    train {{
        optimizer = adam(learning_rate = 0.05)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
        epochs = 60
        batch_size = 16
        dataset = csv(\"{}\", label = \"species\")
    }}
}}
",
            data("iris.csv")
        ),
    );
    let weights = dir.join("flowers.safetensors").display().to_string();
    ok(&nn(&["fit", &model, "--verbose", "0", "--save", &weights]));
    let stdout = ok(&nn(&["evaluate", &model, "--weights", &weights, "--input", &data("iris.csv")]));
    assert!(metric(&stdout, "accuracy") >= 0.9, "{stdout}");

    // New flowers without the label column: predictions name the class.
    let table = std::fs::read_to_string(data("iris.csv")).unwrap();
    let unlabelled: String = table
        .lines()
        .enumerate()
        .filter(|(i, _)| *i == 0 || *i % 50 == 1)
        .map(|(_, l)| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let new = write(&dir, "new.csv", &unlabelled);
    let out = dir.join("predictions.csv");
    ok(&nn(&["predict", &model, "--weights", &weights, "--input", &new, "--out", out.to_str().unwrap()]));
    let rows = std::fs::read_to_string(&out).unwrap();
    let predicted: Vec<&str> = rows.lines().skip(1).map(|l| l.rsplit(',').next().unwrap()).collect();
    assert_eq!(predicted, ["setosa", "versicolor", "virginica"], "{rows}");
}

#[test]
fn boston_from_csv_and_predictions_as_npy() {
    let dir = temp_dir("boston");
    let model = write(
        &dir,
        "houses.nn",
        &format!(
            "model houses {{
    input features: [13]
    dense(32, activation = relu)
    dense(1)
    train {{
        optimizer = adam(learning_rate = 0.01)
        loss = mse
        metrics = [mae]
        epochs = 30
        batch_size = 16
        validation_split = 0.2
        dataset = csv(\"{}\", label = \"MEDV\")
    }}
}}
",
            data("boston.csv")
        ),
    );
    let weights = dir.join("houses.safetensors").display().to_string();
    let history = dir.join("history.json");
    ok(&nn(&["fit", &model, "--verbose", "0", "--save", &weights, "--history", history.to_str().unwrap()]));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let mae = |key: &str| -> Vec<f64> {
        json["history"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {json}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let train = mae("mae");
    assert_eq!(train.len(), 30);
    assert!(train[29] < train[0] / 2.0, "training lowers the error: {train:?}");
    assert_eq!(mae("val_mae").len(), 30);

    // Unnormalized features with a small net: far better than predicting the mean (about 6.6).
    let stdout = ok(&nn(&["evaluate", &model, "--weights", &weights, "--input", &data("boston.csv")]));
    let test_mae = metric(&stdout, "mae");
    assert!(test_mae.is_finite() && test_mae < 6.0, "{stdout}");

    let out = dir.join("prices.npy");
    ok(&nn(&[
        "predict",
        &model,
        "--weights",
        &weights,
        "--input",
        &data("boston.csv"),
        "--out",
        out.to_str().unwrap(),
    ]));
    let prices: ndarray::Array2<f32> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(prices.shape(), [506, 1]);

    // The same samples as an `.npy` array give the same predictions.
    let table = std::fs::read_to_string(data("boston.csv")).unwrap();
    let rows: Vec<f32> = table
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').take(13).map(|v| v.parse::<f32>().unwrap()).collect::<Vec<_>>())
        .collect();
    let x = ndarray::Array2::from_shape_vec((506, 13), rows).unwrap();
    let npy = dir.join("x.npy");
    ndarray_npy::write_npy(&npy, &x).unwrap();
    let again = dir.join("again.npy");
    ok(&nn(&[
        "predict",
        &model,
        "--weights",
        &weights,
        "--input",
        npy.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]));
    let from_npy: ndarray::Array2<f32> = ndarray_npy::read_npy(&again).unwrap();
    assert_eq!(from_npy, prices);
}

/// Writes Fashion-MNIST samples `range` of `split` as PNGs, one subfolder per
/// class (`flat`: all in `dir` itself). Returns the labels in file-name order.
fn write_pngs(split: &nn::runtime::data::Split, range: std::ops::Range<usize>, dir: &Path, flat: bool) -> Vec<i32> {
    let x = split.x.select(&range.clone().collect::<Vec<_>>()).to_f32();
    let mut labels = vec![0i32; range.len()];
    split.y.gather_i32_into(&range.clone().collect::<Vec<_>>(), &mut labels).unwrap();
    for (i, label) in labels.iter().enumerate() {
        let pixels: Vec<u8> = x.index_axis(ndarray::Axis(0), i).iter().map(|v| (v * 255.0).round() as u8).collect();
        let image = image::GrayImage::from_raw(28, 28, pixels).unwrap();
        let folder = if flat { dir.to_path_buf() } else { dir.join(format!("class_{label}")) };
        std::fs::create_dir_all(&folder).unwrap();
        image.save(folder.join(format!("{i:05}.png"))).unwrap();
    }
    labels
}

#[test]
fn fashion_mnist_from_a_folder_of_png_images() {
    let dir = temp_dir("images");
    let fashion = nn::runtime::data::load("fashion-mnist", None).expect("Fashion-MNIST is installed (scripts/test.sh)");
    let test = fashion.test.as_ref().expect("Fashion-MNIST has a test split");
    write_pngs(&fashion.train, 0..3000, &dir.join("train"), false);
    write_pngs(test, 0..500, &dir.join("test"), false);
    let new_labels = write_pngs(test, 500..600, &dir.join("new"), true);
    let model = write(
        &dir,
        "clothes.nn",
        &format!(
            "model clothes {{
    input image: [28, 28, 1]
    flatten
    dense(64, activation = relu)
    dense(10, activation = softmax)
    train {{
        optimizer = adam
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
        epochs = 5
        validation_split = 0.2
        dataset = \"{}\"
        test = \"{}\"
    }}
}}
",
            dir.join("train").display(),
            dir.join("test").display()
        ),
    );
    let weights = dir.join("clothes.safetensors").display().to_string();
    let history = dir.join("history.json");
    let stdout =
        ok(&nn(&["fit", &model, "--verbose", "0", "--save", &weights, "--history", history.to_str().unwrap()]));
    let test_line = stdout.lines().find_map(|l| l.strip_prefix("Test: ")).unwrap_or_else(|| panic!("{stdout}"));
    let test_acc: f64 =
        test_line.split(" - ").find_map(|p| p.trim().strip_prefix("accuracy: ")).unwrap().trim().parse().unwrap();
    assert!(test_acc >= 0.7, "{stdout}");
    // The files are shuffled before the validation split, as Keras does: the
    // last fifth holds every class, so validation accuracy is like the test's.
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let val_acc = json["history"]["val_accuracy"][4].as_f64().unwrap_or_else(|| panic!("{json}"));
    assert!(val_acc >= 0.65, "validation accuracy {val_acc}");

    let stdout = ok(&nn(&["evaluate", &model, "--weights", &weights, "--input", dir.join("test").to_str().unwrap()]));
    assert!((metric(&stdout, "accuracy") - test_acc).abs() < 1e-3, "{stdout} vs {test_line}");

    let out = dir.join("new.csv");
    ok(&nn(&[
        "predict",
        &model,
        "--weights",
        &weights,
        "--input",
        dir.join("new").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let rows = std::fs::read_to_string(&out).unwrap();
    let mut lines = rows.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("file,") || header.contains("predicted"), "{header}");
    let predicted: Vec<String> = lines.map(|l| l.rsplit(',').next().unwrap().to_string()).collect();
    assert_eq!(predicted.len(), 100);
    let right = predicted.iter().zip(&new_labels).filter(|(p, y)| **p == format!("class_{y}")).count();
    assert!(right >= 60, "{right} of 100 new images predicted right:\n{rows}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_model_without_a_dataset_trains_on_the_file_given_with_data() {
    let dir = temp_dir("npz");
    let model = write(
        &dir,
        "pairs.nn",
        "model pairs {
    input x: [2]
    dense(2, activation = softmax)
    train {
        optimizer = adam(learning_rate = 0.1)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
        epochs = 20
    }
}
",
    );
    // Class 1 when x0 > x1.
    let x = ndarray::Array2::from_shape_fn((200, 2), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0);
    let y = ndarray::Array1::from_shape_fn(200, |i| i64::from(x[[i, 0]] > x[[i, 1]]));
    let npz = dir.join("pairs.npz");
    let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&npz).unwrap());
    w.add_array("x", &x).unwrap();
    w.add_array("y", &y).unwrap();
    w.finish().unwrap();
    let stdout = ok(&nn(&["fit", &model, "--data", npz.to_str().unwrap(), "--verbose", "2"]));
    assert!(stdout.contains("pairs.npz"), "the data source is named: {stdout}");
    // Features alone cannot train: the error says how to add the labels.
    let features_only = dir.join("x.npy");
    ndarray_npy::write_npy(&features_only, &x).unwrap();
    let out = nn(&["fit", &model, "--data", features_only.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("x.npy") && stderr.contains("holds: x)") && stderr.contains("np.savez"), "{stderr}");

    let out = nn(&["fit", &model]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("names no dataset") && text(&out.stderr).contains("--data"),
        "{}",
        text(&out.stderr)
    );
}
