//! Hostile inputs: the `nn` binary, under a memory limit and a timeout, on
//! crafted model files, datasets, weights and checkpoints. Every case must
//! end with the exit code it expects (1 for bad input: never a panic's 101,
//! an abort's 134 or a signal) and print the diagnostic its golden holds
//! (tests/hostile/<case>.stderr; NN_BLESS=1 rewrites them).
//!
//! Small inputs live in tests/hostile/inputs/; large ones (deep chains,
//! decompression bombs, endless files) are generated here at run time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Address-space limit for every run, in KiB (`ulimit -v`).
const MEMORY_LIMIT_KIB: u64 = 1 << 20;
/// Seconds before a run counts as hung.
const TIMEOUT_SECS: u32 = 30;

struct Case {
    name: String,
    args: Vec<String>,
    code: i32,
}

fn case(name: &str, args: &[&str], code: i32) -> Case {
    Case { name: name.to_string(), args: args.iter().map(|s| s.to_string()).collect(), code }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary under `ulimit -v` and `timeout`; returns (exit code, stderr).
fn run(args: &[String]) -> (Option<i32>, String) {
    let script = format!("ulimit -v {MEMORY_LIMIT_KIB} && exec timeout -s KILL {TIMEOUT_SECS} \"$@\"");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_nn"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("sh runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Replaces what differs between machines and runs: the temporary folder
/// and the amount of free memory.
fn normalize(text: &str, tmp: &Path) -> String {
    let mut s = text.replace(&tmp.display().to_string(), "<tmp>");
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        s = s.replace(&*home.to_string_lossy(), "<home>");
    }
    for (before, after) in [("but only ", " of memory is available"), ("more than the ", " bytes of memory available")]
    {
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find(before) {
            let start = i + before.len();
            let Some(len) = rest[start..].find(after) else { break };
            out.push_str(&rest[..start]);
            out.push_str("<available>");
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        s = out;
    }
    // Inputs of a megabyte on one line are echoed by diagnostics; the
    // goldens keep the start of each line.
    s.lines()
        .map(|l| {
            if l.chars().count() > MAX_LINE {
                format!("{}…", l.chars().take(MAX_LINE).collect::<String>())
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// Characters of each stderr line compared with the golden.
const MAX_LINE: usize = 200;

fn golden_path(name: &str) -> PathBuf {
    root().join("tests/hostile").join(format!("{name}.stderr"))
}

// ------------------------------------------------------------ generated inputs

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> String {
    std::fs::write(path, bytes).unwrap();
    path.display().to_string()
}

const TRAIN: &str = "train { optimizer = sgd loss = mse batch_size = 4 epochs = 1 dataset = \"iris\" }";

/// `layer l0(x) { return l1(x) }` … with `calls` applications of the next layer per body.
fn chain(n: usize, calls: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let body = vec![format!("l{}(x)", i + 1); calls].join(" + ");
        s += &format!("layer l{i}(x) {{ return {body} }}\n");
    }
    s + &format!("layer l{n}(x) {{ return dense(3)(x) }}\nmodel m {{ input x: [4] l0 dense(3) {TRAIN} }}\n")
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

fn gzip(parts: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    parts(&mut enc);
    enc.finish().unwrap()
}

/// A Fashion-MNIST folder of tiny valid files, with `train-images` replaced.
fn idx_dir(tmp: &Path, name: &str, train_images: Option<Vec<u8>>) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (prefix, n) in [("train", 2u32), ("t10k", 1)] {
        let images = idx(0x803, &[n, 28, 28], &vec![0; n as usize * 784]);
        let labels = idx(0x801, &[n], &vec![1; n as usize]);
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
    if let Some(bytes) = train_images {
        std::fs::remove_file(dir.join("train-images-idx3-ubyte")).unwrap();
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), bytes).unwrap();
    }
    dir
}

/// A `.npy` object array (`|O`, shape (1,)) whose payload is `pickle`.
fn npy_object(pickle: &[u8]) -> Vec<u8> {
    let mut header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(pickle);
    out
}

fn npz(path: &Path, members: &[(&str, Vec<u8>)]) -> String {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path.display().to_string()
}

/// A safetensors file: the JSON header as given, then `data` bytes.
fn safetensors(header: &str, data: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(vec![0u8; data]);
    out
}

fn generated_cases(tmp: &Path) -> Vec<Case> {
    let t = |name: &str| tmp.join(name);
    let mut cases = Vec::new();
    let mut add = |name: &str, args: Vec<String>, code: i32| cases.push(Case { name: name.into(), args, code });
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // The language: deep, long, large.
    let deep = write(
        &t("deep_parens.nn"),
        format!("model m {{ input x: [4] y = {}x{} }}", "(".repeat(100_000), ")".repeat(100_000)),
    );
    add("deep_parens", s(&["check", &deep]), 1);
    let list =
        write(&t("deep_list.nn"), format!("model m {{ input x: {}4{} }}", "[".repeat(50_000), "]".repeat(50_000)));
    add("deep_list", s(&["check", &list]), 1);
    let sum = write(&t("long_sum.nn"), format!("model m {{ input x: [4] y = x{} output y }}", " + x".repeat(100_000)));
    add("long_sum", s(&["check", &sum]), 1);
    let calls = write(
        &t("nested_calls.nn"),
        format!("model m {{ input x: [4] y = {}x{} output y }}", "relu(".repeat(60), ")".repeat(60)),
    );
    add("nested_calls", s(&["check", &calls]), 0);
    let ident = write(&t("long_identifier.nn"), format!("model m {{ input x: [4] {} }}", "a".repeat(1 << 20)));
    add("long_identifier", s(&["check", &ident]), 1);
    let big = write(&t("oversized.nn"), format!("// {}\nmodel m {{ input x: [4] dense(1) }}", "x".repeat(17 << 20)));
    add("oversized_file", s(&["check", &big]), 1);
    add("dev_zero_model", s(&["check", "/dev/zero"]), 1);
    add("directory_model", s(&["check", "tests/hostile"]), 1);
    add("missing_model", s(&["summary", "tests/hostile/inputs/does_not_exist.nn"]), 1);
    let many = write(&t("many_errors.nn"), "model m { input x: [4] nope }\n".repeat(30));
    add("many_errors", s(&["check", &many]), 1);

    // Custom layers nested inside each other, or doubling at every level.
    let chain_file = write(&t("chain.nn"), chain(1400, 1));
    for cmd in ["check", "summary", "ir", "grad", "fit"] {
        add(&format!("chain_1400_{cmd}"), s(&[cmd, &chain_file]), 1);
    }
    // The depth the review used: the same cap, the same kind of error.
    add("chain_1600_fit", s(&["fit", &write(&t("chain1600.nn"), chain(1600, 1))]), 1);
    let expo = write(&t("doubling.nn"), chain(40, 2));
    for cmd in ["check", "fit"] {
        add(&format!("doubling_40_{cmd}"), s(&[cmd, &expo]), 1);
    }
    let seq = write(&t("seq.nn"), format!("model m {{ input x: [4]\n{}{TRAIN} }}", "dense(2)\n".repeat(10_000)));
    add("sequential_10000_grad", s(&["grad", &seq, "--wrt", "dense/kernel"]), 0);

    // Huge layers: described, never allocated.
    let huge = "tests/hostile/inputs/dense_max.nn";
    add("dense_max_check", s(&["check", huge]), 0);
    add("dense_max_summary", s(&["summary", huge]), 0);
    add("dense_max_fit", s(&["fit", huge]), 1);
    add("dense_max_evaluate", s(&["evaluate", huge, "--untrained"]), 1);
    // Weights that fit, activations that do not: 32 samples × 20M outputs.
    let wide = write(&t("wide.nn"), "model wide { input x: [1] dense(20000000, activation = relu) }\n");
    let mut x_npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (32, 1), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    x_npy.extend((header.len() as u16).to_le_bytes());
    x_npy.extend(header.as_bytes());
    x_npy.extend([0u8; 32 * 4]);
    let samples = write(&t("x32.npy"), x_npy);
    add("wide_activations_predict", s(&["predict", &wide, "--untrained", "--input", &samples]), 1);

    // IDX files (Fashion-MNIST).
    let fmnist = "examples/fashion_mlp.nn";
    let fit_on =
        |dir: &Path| s(&["fit", fmnist, "--epochs", "1", "--verbose", "0", "--data", &dir.display().to_string()]);
    let bomb = gzip(|w| {
        w.write_all(&idx(0x803, &[2, 28, 28], &[])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1200 {
            w.write_all(&zeros).unwrap();
        }
    });
    add("idx_gzip_bomb", fit_on(&idx_dir(tmp, "bomb", Some(bomb))), 1);
    let d = idx_dir(tmp, "zero", None);
    std::fs::remove_file(d.join("train-images-idx3-ubyte")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("train-images-idx3-ubyte")).unwrap();
    add("idx_dev_zero", fit_on(&d), 1);
    let promise = gzip(|w| w.write_all(&idx(0x803, &[65536, 65536, 1024], &[1, 2, 3])).unwrap());
    add("idx_promises_terabytes", fit_on(&idx_dir(tmp, "promise", Some(promise))), 1);
    let overflow = gzip(|w| w.write_all(&idx(0x803, &[u32::MAX, u32::MAX, u32::MAX], &[])).unwrap());
    add("idx_dims_overflow", fit_on(&idx_dir(tmp, "overflow", Some(overflow))), 1);
    let magic = gzip(|w| w.write_all(&idx(0x0d03, &[2, 28, 28], &[0; 1568])).unwrap());
    add("idx_bad_magic", fit_on(&idx_dir(tmp, "magic", Some(magic))), 1);
    let trunc = gzip(|w| w.write_all(&idx(0x803, &[2, 28, 28], &[0; 1000])).unwrap());
    add("idx_truncated", fit_on(&idx_dir(tmp, "trunc", Some(trunc))), 1);
    let mut cut = gzip(|w| w.write_all(&idx(0x803, &[2, 28, 28], &[7; 1568])).unwrap());
    cut.truncate(cut.len() / 2);
    add("idx_gzip_cut", fit_on(&idx_dir(tmp, "cut", Some(cut))), 1);
    let garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef];
    add("idx_gzip_garbage", fit_on(&idx_dir(tmp, "garbage", Some(garbage))), 1);

    // Keras .npz archives with pickled object arrays (IMDB).
    let imdb = "examples/imdb.nn";
    let fit_npz = |p: &str| s(&["fit", imdb, "--epochs", "1", "--verbose", "0", "--data", p]);
    let mut nested = vec![0x80, 2, b')'];
    nested.extend(std::iter::repeat_n(0x85, 200_000));
    nested.push(b'.');
    let members = |x: Vec<u8>| {
        vec![("x_train.npy", x.clone()), ("y_train.npy", x.clone()), ("x_test.npy", x.clone()), ("y_test.npy", x)]
    };
    add("npz_nested_tuples", fit_npz(&npz(&t("imdb.npz"), &members(npy_object(&nested)))), 1);
    let memo = npy_object(&[0x80, 2, b']', b'r', 0xff, 0xff, 0xff, 0x7f, b'.']);
    add("npz_memo_bomb", fit_npz(&npz(&t("memo/imdb.npz").tap_dir(), &members(memo))), 1);
    add("npz_not_zip", fit_npz(&write(&t("notzip.npz"), b"PK\x03\x04 this is not a zip")), 1);
    add("npz_empty_zip", fit_npz(&npz(&t("empty.npz"), &[])), 1);
    let mut lying = std::fs::read(npz(&t("lying.npz"), &members(npy_object(&nested)))).unwrap();
    patch_zip_sizes(&mut lying, 100);
    add("npz_member_inflates_past_declared_size", fit_npz(&write(&t("lying.npz"), lying)), 1);
    add("npz_dev_zero", fit_npz("/dev/zero"), 1);
    // Found by the `npz` fuzz target: a deflated member whose header claims
    // gigabytes of compressed data in a 516-byte archive.
    let claims = "tests/hostile/inputs/npz_lying_compressed_size.npz";
    let plain = write(&t("plain.nn"), "model plain { input x: [4] dense(3) train { loss = mse } }\n");
    add("npz_lying_compressed_size", s(&["fit", &plain, "--verbose", "0", "--data", claims]), 1);

    // Safetensors weights and checkpoints.
    let iris = "examples/iris.nn";
    let eval_with = |p: &str| s(&["evaluate", iris, "--weights", p]);
    add("weights_dev_zero", eval_with("/dev/zero"), 1);
    add("weights_directory", eval_with("tests/hostile"), 1);
    add("weights_empty", eval_with(&write(&t("empty.safetensors"), b"")), 1);
    add(
        "weights_header_garbage",
        eval_with(&write(
            &t("lies.safetensors"),
            safetensors("{}", 0)[..8].iter().copied().chain([0xff; 8]).collect::<Vec<_>>(),
        )),
        1,
    );
    let mut huge_len = (1u64 << 62).to_le_bytes().to_vec();
    huge_len.extend(b"{}");
    add("weights_header_length_huge", eval_with(&write(&t("huge.safetensors"), huge_len)), 1);
    add(
        "weights_header_not_json",
        eval_with(&write(&t("notjson.safetensors"), safetensors("{\"dense/kernel\": [1, 2", 0))),
        1,
    );
    let kernel = "\"dense/kernel\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}";
    let bias = "\"dense/bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}";
    add(
        "weights_offsets_past_end",
        eval_with(&write(&t("offsets.safetensors"), safetensors(&format!("{{{kernel},{bias}}}"), 20))),
        1,
    );
    let wrong_dtype = format!(
        "{{\"dense/kernel\":{{\"dtype\":\"I64\",\"shape\":[4,3],\"data_offsets\":[0,96]}},{}}}",
        bias.replace("48,60", "96,108")
    );
    add("weights_wrong_dtype", eval_with(&write(&t("dtype.safetensors"), safetensors(&wrong_dtype, 108))), 1);
    let wrong_shape =
        format!("{{\"dense/kernel\":{{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}},{bias}}}");
    add("weights_wrong_shape", eval_with(&write(&t("shape.safetensors"), safetensors(&wrong_shape, 60))), 1);
    add(
        "weights_missing_tensor",
        eval_with(&write(&t("missing.safetensors"), safetensors(&format!("{{{kernel}}}"), 48))),
        1,
    );
    let valid = write(&t("valid.safetensors"), safetensors(&format!("{{{kernel},{bias}}}"), 60));
    let resume = |p: &str| s(&["fit", iris, "--epochs", "1", "--verbose", "0", "--resume", p]);
    add("checkpoint_from_weights_file", resume(&valid), 1);
    add("checkpoint_dev_zero", resume("/dev/zero"), 1);
    let meta = format!("{{\"__metadata__\":{{\"format\":\"nn-checkpoint-v1\",\"epoch\":\"-3\"}},{kernel},{bias}}}");
    add("checkpoint_bad_metadata", resume(&write(&t("meta.safetensors"), safetensors(&meta, 60))), 1);
    // Checkpoints of the training state: a sound header around a bad part.
    let (wk, wb) = (kernel.replace("\"dense/", "\"weights/dense/"), bias.replace("\"dense/", "\"weights/dense/"));
    let ckpt = |extra_meta: &str, extra_tensor: &str, name: &str| {
        let meta = format!(
            "{{\"__metadata__\":{{\"format\":\"nn-checkpoint-v1\",\"epoch\":\"1\",\"iterations\":\"0\",\
             \"learning_rate_bits\":\"0\",\"seed\":\"1\",\"shuffle_seed\":\"1\",\"optimizer\":\"sgd\"{extra_meta}}},\
             {wk},{wb}{extra_tensor}}}"
        );
        resume(&write(&t(name), safetensors(&meta, if extra_tensor.is_empty() { 60 } else { 72 })))
    };
    add("checkpoint_fit_state_not_json", ckpt(",\"fit_state\":\"{\\\"epoch\\\": [\"", "", "fs_json.ckpt"), 1);
    let state = |epoch: u32, batch: u32| {
        format!(
            ",\"fit_state\":\"{{\\\"epoch\\\":{epoch},\\\"batch\\\":{batch},\\\"batch_size\\\":32,\\\"train_samples\\\":120,\\\"shuffle\\\":true,\\\"sums\\\":[],\\\"count\\\":0,\\\"history\\\":{{\\\"epochs\\\":[],\\\"history\\\":{{}},\\\"partial_epochs\\\":[],\\\"gaps\\\":{{}}}},\\\"callbacks\\\":[]}}\""
        )
    };
    add("checkpoint_fit_state_past_the_epoch", ckpt(&state(1, 9), "", "fs_batch.ckpt"), 1);
    add("checkpoint_fit_state_other_epoch", ckpt(&state(3, 0), "", "fs_epoch.ckpt"), 1);
    let stray = ",\"state/callback0/x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[60,72]}";
    add("checkpoint_stray_state_tensor", ckpt(&state(1, 0), stray, "fs_stray.ckpt"), 1);
    add("checkpoint_other_model", ckpt(",\"model_fingerprint\":\"0123456789abcdef\"", "", "fs_finger.ckpt"), 1);
    // A bad label in the test split is found before training, not after it.
    let labels = idx_dir(tmp, "test_label", None);
    std::fs::write(labels.join("t10k-labels-idx1-ubyte"), idx(0x801, &[1], &[200])).unwrap();
    add("idx_bad_test_label", fit_on(&labels), 1);
    cases
}

/// Makes the parent folder of a path, returning the path.
trait TapDir {
    fn tap_dir(self) -> Self;
}
impl TapDir for PathBuf {
    fn tap_dir(self) -> Self {
        std::fs::create_dir_all(self.parent().unwrap()).unwrap();
        self
    }
}

/// Sets every uncompressed-size field of a zip (local and central headers) to `size`.
fn patch_zip_sizes(zip: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 46 <= zip.len() {
        match &zip[i..i + 4] {
            b"PK\x03\x04" => zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
            b"PK\x01\x02" => zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
            _ => {}
        }
        i += 1;
    }
}

fn committed_cases() -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("tests/hostile/inputs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".nn") && n != "dense_max.nn")
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let stem = n.trim_end_matches(".nn");
            let path = format!("tests/hostile/inputs/{n}");
            // A model file that is fine is checked and then summarized: both must succeed.
            case(stem, &["check", &path], 1)
        })
        .collect()
}

#[test]
fn hostile_inputs_end_in_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = committed_cases();
    cases.extend(generated_cases(tmp.path()));
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let bless = std::env::var_os("NN_BLESS").is_some();
    let mut failures = Vec::new();
    for c in &cases {
        let (code, stderr) = run(&c.args);
        let stderr = normalize(&stderr, tmp.path());
        if code != Some(c.code) {
            failures.push(format!("{}: exit {code:?}, expected {}\n{stderr}", c.name, c.code));
            continue;
        }
        if c.code != 0 && stderr.trim().is_empty() {
            failures.push(format!("{}: failed without saying why", c.name));
        }
        let path = golden_path(&c.name);
        if bless {
            std::fs::write(&path, &stderr).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == stderr => {}
            Ok(expected) => failures.push(format!(
                "{}: stderr differs from {}\n--- expected\n{expected}\n--- actual\n{stderr}",
                c.name,
                path.display()
            )),
            Err(_) => failures.push(format!("{}: missing golden {}; run with NN_BLESS=1", c.name, path.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
