//! Drives real `nn repl` sessions through piped stdin and checks what they
//! print: definitions at the prompt, training on the embedded Iris data,
//! recompilation that keeps weights, history, saving weights, expressions,
//! and recovery from malformed input, unknown commands and shape errors.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nn"))
        .arg("repl")
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the nn binary starts")
}

/// Runs a whole scripted session; returns (stdout, stderr).
fn session(script: &str) -> (String, String) {
    let mut child = spawn(&[]);
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the REPL exits with success: {:?}", out.status);
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

const NET: &str = "model net {
    input features: [4]
    dense(8, activation = relu)
    dense(3, activation = softmax)
    train {
        optimizer = adam(learning_rate = 0.01)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
        dataset = \"iris\"
        epochs = 1
    }
}
";

#[test]
fn define_fit_redefine_fit_history_save() {
    let weights = tempfile::tempdir().unwrap();
    let file = weights.path().join("net.safetensors");
    let redefined = NET.replace("dense(8,", "dense(16,");
    let script = format!(
        "{NET}:fit net\n{redefined}:fit net epochs=2\n:history net\n:save net {f}\n\
         :evaluate net\n:fit net\n:evaluate net\n:weights net {f}\n:evaluate net\n:quit\nrelu([7])\n",
        f = file.display()
    );
    let (out, err) = session(&script);
    assert!(err.is_empty(), "no errors expected:\n{err}");
    assert!(out.contains("defined model `net` (67 params)"), "{out}");
    assert!(out.contains("loaded dataset `iris`"), "{out}");
    assert!(out.contains("Epoch 1/1"), "{out}");
    // dense(8) -> dense(16): both kernels and the first bias change shape; the output bias [3] is kept.
    assert!(
        out.contains("recompiled model `net` (131 params): weights kept: 1 of 4; reinitialized: dense/kernel (shape [4, 8] -> [4, 16])"),
        "{out}"
    );
    assert!(out.contains("Epoch 2/3") && out.contains("Epoch 3/3"), "{out}");
    assert!(out.contains("`net` has trained 3 epoch(s) in total"), "{out}");
    assert!(out.contains("`net` has trained 4 epoch(s) in total"), "{out}");
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("epoch")).take(4).collect();
    assert_eq!(table.len(), 4, "{out}");
    assert!(table[0].split_whitespace().eq(["epoch", "accuracy", "loss"]), "{out}");
    for (i, row) in table[1..].iter().enumerate() {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[0], (i + 1).to_string(), "{out}");
        let acc: f64 = cells[1].parse().unwrap();
        let loss: f64 = cells[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&acc) && loss.is_finite() && loss > 0.0, "{row}");
    }
    assert!(file.exists(), "weights file written");
    assert!(out.contains(&format!("saved the weights of `net` to {}", file.display())), "{out}");
    assert!(out.contains("loaded the weights of `net`"), "{out}");
    // Loading the saved weights undoes the epoch trained after saving them.
    let evals: Vec<&str> = out.lines().filter(|l| l.starts_with("30 test samples - ")).collect();
    assert_eq!(evals.len(), 3, "{out}");
    assert_ne!(evals[0], evals[1], "{out}");
    assert_eq!(evals[0], evals[2], "{out}");
    assert!(!out.contains("[7.0000]"), "nothing runs after :quit:\n{out}");
}

#[test]
fn errors_never_end_the_session() {
    let script = format!(
        "model broken {{ input x: [4] dense( }}\n\
         :fti net\n\
         model shapes {{ input x: [4] dense(3) reshape([5]) }}\n\
         {NET}\
         :fit net epochs=0\n\
         model noloss {{ input x: [4] dense(3, activation = softmax) }}\n\
         :fit noloss iris\n\
         :fit noloss iris loss=sparse_categorical_crossentropy\n\
         :summary nett\n\
         relu([[1, -2], [3, -4]])\n\
         softmax([1, 2, 3])\n\
         :list\n\
         model open {{\n  input x: [4]\n\
         :help seed\n"
    );
    let (out, err) = session(&script);
    // The malformed block: a parse diagnostic naming <repl>.
    assert!(err.contains("<repl>:1:"), "{err}");
    assert!(err.contains("unknown command `:fti`; did you mean `:fit`?"), "{err}");
    // The shape error: a rendered diagnostic, then nothing changed.
    assert!(err.contains("reshape"), "{err}");
    assert!(err.contains("error: nothing was changed"), "{err}");
    assert!(err.contains("epochs must be at least 1"), "{err}");
    assert!(
        err.contains("model `noloss` has no loss; pass one (`:fit noloss loss=sparse_categorical_crossentropy`)"),
        "{err}"
    );
    assert!(out.contains("`noloss` has trained 1 epoch(s) in total"), "{out}");
    assert!(err.contains("no model named `nett`; did you mean `net`?"), "{err}");
    // Later entries still work.
    assert!(out.contains("defined model `net`"), "{out}");
    assert!(out.contains("[[1.0000, 0.0000], [3.0000, 0.0000]]  shape [2, 2]\n"), "{out}");
    assert!(out.contains("[0.0900, 0.2447, 0.6652]  shape [3]\n"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("model   net") && l.contains("67 params")), "{out}");
    assert!(!out.contains("broken") && !out.contains("shapes"), "rejected models are not defined:\n{out}");
    // A command typed inside an unclosed block ends the block (reported) and still runs.
    assert!(err.matches("<repl>:").count() >= 3, "{err}");
    assert!(out.contains(":seed N\n"), "{out}");
}

#[test]
fn inspection_commands_work_on_a_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("curves.svg");
    let script = format!(
        "layer scaled(x, factor = 2.0) {{ return x * factor }}\n\
         {}\
         :fit net epochs=2\n:evaluate net\n:predict net n=3\n:plot net\n:plot net {svg}\n:grad net wrt=dense_1/bias\n:ir net\n:asm net\n:check\n:help fit\n:engine jit\n:evaluate net\n",
        NET.replace("input features: [4]", "input features: [4]\n    scaled"),
        svg = svg.display()
    );
    let (out, err) = session(&script);
    assert!(err.is_empty(), "{err}");
    assert!(out.contains("defined layer `scaled`"), "{out}");
    assert!(out.contains("30 test samples - accuracy: "), "{out}");
    assert!(out.contains("first 3 test samples:"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("  [") && l.contains(" p=") && l.contains("true ")).count(),
        3,
        "{out}"
    );
    assert!(out.contains("Loss\n") && out.contains("━ loss (last "), "{out}");
    assert!(out.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)), "braille chart drawn:\n{out}");
    assert!(svg.exists() && out.contains("saved the training curves of `net` to"), "{out}");
    assert!(out.contains("d loss / d dense_1/bias ="), "{out}");
    assert!(
        out.contains("$0 dense/kernel: [4, 8] = glorot_uniform") && out.contains("= input<features> : f32[B, 4]"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.trim_start().starts_with("ret")), "machine code listed:\n{out}");
    assert!(out.contains("checked 2 item(s): 0 error(s)"), "{out}");
    assert!(out.contains(":fit MODEL [DATASET]"), "{out}");
    // The JIT engine gives the interpreter's results.
    assert!(out.contains("engine set to jit for every model"), "{out}");
    let evals: Vec<&str> = out.lines().filter(|l| l.starts_with("30 test samples - ")).collect();
    assert_eq!(evals.len(), 2, "{out}");
    assert_eq!(evals[0], evals[1], "{out}");
}

/// Reads the child's stdout on a thread so the test can wait for markers.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, marker: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let hit = line.contains(marker);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(e) => panic!("waiting for `{marker}`: {e}; output so far:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn reload_recompiles_changed_files_and_keeps_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.nn");
    std::fs::write(&path, NET).unwrap();
    let mut child = spawn(&[path.to_str().unwrap()]);
    let rx = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    wait_for(&rx, "defined model `net`");
    writeln!(stdin, ":fit net\n:seed 7").unwrap();
    wait_for(&rx, "seed set to 7");
    // Unchanged files are not recompiled.
    writeln!(stdin, ":reload").unwrap();
    wait_for(&rx, "no loaded file changed");
    // A broken edit is reported and changes nothing; the model keeps training state.
    std::fs::write(&path, NET.replace("activation = softmax", "activation = softmx")).unwrap();
    writeln!(stdin, ":reload\n:list").unwrap();
    let seen = wait_for(&rx, "model   net");
    assert!(
        seen.iter().any(|l| l.starts_with("reloading ")) && !seen.iter().any(|l| l.contains("recompiled")),
        "{seen:?}"
    );
    assert!(seen.last().unwrap().contains("1 epoch(s) trained"), "{seen:?}");
    std::fs::write(
        &path,
        NET.replace("dense(3, activation = softmax)", "dense(3, activation = softmax)\n    dropout(0.1)"),
    )
    .unwrap();
    writeln!(stdin, ":reload\n:list").unwrap();
    let seen = wait_for(&rx, "model   net");
    assert!(seen.iter().any(|l| l == "recompiled model `net` (67 params): weights kept (all 4)"), "{seen:?}");
    assert!(seen.last().unwrap().contains("1 epoch(s) trained"), "{seen:?}");
    writeln!(stdin, ":quit").unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn ctrl_c_stops_training_and_keeps_what_was_learned() {
    let mut child = spawn(&[]);
    let rx = lines_of(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{NET}:fit net epochs=1000000").unwrap();
    wait_for(&rx, "Epoch 3/1000000");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    wait_for(&rx, "training interrupted (Ctrl-C); the weights learned so far are kept");
    let seen = wait_for(&rx, "has trained");
    let total: usize = seen.last().unwrap().split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!((3..1000000).contains(&total), "{seen:?}");
    // The session goes on with the trained model.
    writeln!(stdin, ":list").unwrap();
    let seen = wait_for(&rx, "model   net");
    assert!(seen.last().unwrap().contains(&format!("{total} epoch(s) trained")), "{seen:?}");
    writeln!(stdin, ":quit").unwrap();
    assert!(child.wait().unwrap().success());
}

/// The interactive path: a pseudo-terminal, so rustyline edits the lines.
#[cfg(unix)]
#[test]
fn terminal_session_prompts_completes_and_keeps_history() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nn"));
    cmd.arg("repl").env("HOME", home.path()).env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).expect("a pty session starts");
    p.exp_string("type :help for commands").unwrap();
    p.exp_string("nn> ").unwrap();
    // A block continues with the `... ` prompt until its braces close.
    p.send_line("model tiny {").unwrap();
    p.exp_string("... ").unwrap();
    p.send_line("input x: [4] dense(2) }").unwrap();
    p.exp_string("defined model `tiny` (10 params)").unwrap();
    p.exp_string("nn> ").unwrap();
    // Tab completes the command, then the model name.
    p.send(":summ").unwrap();
    p.send("\t").unwrap();
    p.send(" ti").unwrap();
    p.send("\t").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Total params").unwrap();
    p.exp_string("nn> ").unwrap();
    // Ctrl-C at the prompt drops the line; the session goes on.
    p.send("half typed").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("Ctrl-C: type :quit").unwrap();
    p.send_line("relu([-1, 2])").unwrap();
    p.exp_string("[0.0000, 2.0000]  shape [2]").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let history = std::fs::read_to_string(home.path().join(".cache/nn/repl_history")).expect("history written");
    assert!(history.contains(":summary tiny"), "{history}");
    assert!(history.contains("relu([-1, 2])"), "{history}");
}

#[test]
fn literals_are_whole_tensors_and_layers_take_one_sample() {
    let (out, err) = session(
        "[[1, 2], [3, 4]] @ [[1], [1]]\n\
         sum([[1, 2], [3, 4]])\n\
         layer lin(x: [n]) {\n  w: [n, 2] = ones\n  return x @ w\n}\n\
         lin([1.0, 2.0])\n\
         lin([[1.0, 2.0], [3.0, 4.0]])\n\
         [[1, 2], [3, 4]] @ [[1], [1], [1]]\n",
    );
    assert!(out.contains("[[3.0000], [7.0000]]  shape [2, 1]"), "{out}\n{err}");
    assert!(out.contains("10.0000  shape []"), "{out}");
    // A vector given to a layer that takes samples is one sample.
    assert!(out.contains("[3.0000, 3.0000]  shape [2]"), "{out}\n{err}");
    // A matrix is not one sample of `[n]`.
    assert!(err.contains("`x` of `lin` expects shape [n] but gets [2, 2]"), "{err}");
    // Wrong either way: the whole-tensor diagnostic.
    assert!(err.contains("[3, 1]"), "{err}");
}

#[test]
fn fit_evaluate_and_predict_on_a_csv_file() {
    let (out, err) = session(
        "model flowers {\n  input features: [4]\n  dense(3, activation = softmax)\n  train {\n    optimizer = adam(learning_rate = 0.05)\n    loss = categorical_crossentropy\n    metrics = [accuracy]\n    epochs = 5\n    dataset = csv(\"runtime/tests/data/iris.csv\", label = \"species\")\n  }\n}\n\
         :fit flowers\n\
         :evaluate flowers\n\
         :predict flowers n=2\n",
    );
    assert!(out.contains("`flowers` has trained 5 epoch(s) in total"), "{out}\n{err}");
    assert!(out.contains("150 training samples - "), "{out}\n{err}");
    // One-hot targets show their class name.
    assert!(out.contains("true 0 (setosa)"), "{out}\n{err}");
}
