//! Mid-epoch resume: a run that crashes at any step and continues from its
//! last step checkpoint ends with the weights, History, CSV log and final
//! checkpoint of a run that never stopped — with dropout (masks keyed by the
//! step), shuffling, validation and callbacks that carry state. A checkpoint
//! that does not belong to the model or the fit is refused.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use nn_runtime::{
    BackupAndRestore, Callback, CsvLogger, EarlyStopping, FitContext, FitOptions, Logs, Model, ModelCheckpoint,
    ReduceLrOnPlateau, RuntimeError, ValidationData,
};

const EPOCHS: usize = 4;

/// 50 samples in batches of 8: 7 steps per epoch, the last one partial.
fn options(batch_size: usize) -> FitOptions {
    let (vx, vy) = blobs(20, 99);
    FitOptions {
        epochs: EPOCHS,
        batch_size,
        verbose: 0,
        shuffle: true,
        validation: ValidationData::Data(vx, vy),
        ..FitOptions::default()
    }
}

/// Fails `fit` after step `at` (counted over the run), as a kill would end it:
/// nothing after that step runs, not even `on_train_end`.
struct CrashAtStep(u64);
impl Callback for CrashAtStep {
    fn on_train_batch_end(&mut self, _: usize, _: &Logs, ctx: &mut FitContext<'_>) -> Result<(), RuntimeError> {
        if ctx.iterations() == self.0 {
            return Err(RuntimeError::InvalidArgument("simulated crash".into()));
        }
        Ok(())
    }
}

/// What a run leaves: weights, History JSON, CSV log bytes, last checkpoint bytes.
#[derive(Debug, PartialEq)]
struct Outcome {
    weights: Vec<(String, Vec<f32>)>,
    history: String,
    log: Vec<u8>,
    checkpoint: Vec<u8>,
}

/// One process's fit: a model built from scratch and fresh callbacks,
/// crashing at `crash`.
fn run(dir: &Path, init_seed: u64, crash: Option<u64>) -> Result<Outcome, RuntimeError> {
    run_with("adam(learning_rate = 0.01)", dir, init_seed, crash)
}

fn run_with(optimizer: &str, dir: &Path, init_seed: u64, crash: Option<u64>) -> Result<Outcome, RuntimeError> {
    let (x, y) = blobs(50, 3);
    // A run that starts over (no backup yet) is the same program again: the
    // same initial weights. One that resumes starts from other weights, which
    // the backup must replace.
    let seed = if dir.join("backup/backup.ckpt").exists() { init_seed } else { 1 };
    let mut model: Model = compiled(&dropout_source(optimizer), seed);
    let mut backup = BackupAndRestore::new(dir.join("backup")).save_every_steps(Some(3));
    let mut early = EarlyStopping::new("val_loss").patience(10).restore_best_weights(true);
    let mut plateau = ReduceLrOnPlateau::new("val_loss").patience(1).factor(0.5);
    let mut log = CsvLogger::new(dir.join("log.csv"));
    let ckpt = dir.join("every.ckpt");
    let mut every = ModelCheckpoint::new(ckpt.display().to_string()).save_every_steps(Some(5));
    let mut crasher = CrashAtStep(crash.unwrap_or(u64::MAX));
    let history = model.fit_with(
        &x,
        &y,
        &options(8),
        &mut [&mut backup, &mut early, &mut plateau, &mut log, &mut every, &mut crasher],
    )?;
    Ok(Outcome {
        weights: weights(&model),
        history: history.to_json(),
        log: std::fs::read(dir.join("log.csv")).unwrap(),
        checkpoint: std::fs::read(&ckpt).unwrap(),
    })
}

fn fresh(name: &str) -> PathBuf {
    temp_dir(name)
}

#[test]
fn crashes_at_any_step_resume_to_the_uninterrupted_run() {
    let reference = run(&fresh("resume-ref"), 1, None).unwrap();
    // Crashes inside an epoch, right after a backup, at an epoch's last
    // (partial) batch, and several in one run.
    for crashes in [vec![4], vec![6], vec![7], vec![14, 15], vec![2, 9, 17, 23]] {
        let dir = fresh("resume-crash");
        for (i, &step) in crashes.iter().enumerate() {
            let err = run(&dir, 1 + i as u64 * 7, Some(step)).unwrap_err();
            assert!(err.to_string().contains("simulated crash"), "{err}");
        }
        let resumed = run(&dir, 42, None).unwrap();
        assert_eq!(resumed.weights, reference.weights, "weights after crashes at {crashes:?}");
        assert_eq!(resumed.history, reference.history, "History after crashes at {crashes:?}");
        assert_eq!(resumed.log, reference.log, "CSV log after crashes at {crashes:?}");
        assert!(resumed.checkpoint == reference.checkpoint, "last checkpoint bytes after crashes at {crashes:?}");
        assert!(!dir.join("backup/backup.ckpt").exists(), "a finished run deletes its backup");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn moving_averages_resume_with_the_optimizer_slots() {
    // The averages are optimizer slots: backups carry them, and the resumed
    // run overwrites and finalizes exactly as the uninterrupted one.
    let opt = "adam(learning_rate = 0.01, use_ema = true, ema_momentum = 0.9, ema_overwrite_frequency = 4)";
    let reference = run_with(opt, &fresh("resume-ema-ref"), 1, None).unwrap();
    for crashes in [vec![5], vec![9, 18]] {
        let dir = fresh("resume-ema-crash");
        for (i, &step) in crashes.iter().enumerate() {
            let err = run_with(opt, &dir, 1 + i as u64 * 7, Some(step)).unwrap_err();
            assert!(err.to_string().contains("simulated crash"), "{err}");
        }
        let resumed = run_with(opt, &dir, 42, None).unwrap();
        assert_eq!(resumed.weights, reference.weights, "weights after crashes at {crashes:?}");
        assert_eq!(resumed.history, reference.history, "History after crashes at {crashes:?}");
        assert!(resumed.checkpoint == reference.checkpoint, "last checkpoint bytes after crashes at {crashes:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_step_checkpoint_restores_the_position_and_the_partial_epoch() {
    let dir = fresh("resume-position");
    let ckpt = dir.join("c.ckpt");
    let (x, y) = blobs(50, 3);
    let mut model = compiled(&dropout_source("sgd"), 1);
    let mut every = ModelCheckpoint::new(ckpt.display().to_string()).save_every_steps(Some(10));
    let err = model.fit_with(&x, &y, &options(8), &mut [&mut every, &mut CrashAtStep(12)]).unwrap_err();
    assert!(err.to_string().contains("simulated crash"));
    // Step 10 is the third batch of the second epoch (7 steps per epoch).
    let mut again = compiled(&dropout_source("sgd"), 5);
    assert_eq!(again.load_checkpoint(&ckpt).unwrap(), 1, "one epoch completed");
    assert_eq!(again.iterations(), 10);
    let mut opts = options(8);
    opts.initial_epoch = 1;
    let history = again.fit(&x, &y, &opts).unwrap();
    assert_eq!(history.epochs, [0, 1, 2, 3], "the History of the first epoch comes from the checkpoint");
    assert_eq!(again.iterations(), 28);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_checkpoint_from_another_fit_or_model_is_refused() {
    let dir = fresh("resume-refused");
    let ckpt = dir.join("c.ckpt");
    let (x, y) = blobs(50, 3);
    let mut model = compiled(&dropout_source("sgd"), 1);
    let mut every = ModelCheckpoint::new(ckpt.display().to_string()).save_every_steps(Some(10));
    let _ = model.fit_with(&x, &y, &options(8), &mut [&mut every, &mut CrashAtStep(12)]);

    // Another batch size would see other batches: refused, naming both.
    let mut again = compiled(&dropout_source("sgd"), 1);
    again.load_checkpoint(&ckpt).unwrap();
    let mut opts = options(16);
    opts.initial_epoch = 1;
    let err = again.fit(&x, &y, &opts).unwrap_err().to_string();
    assert!(err.contains("batch size 8") && err.contains("16"), "{err}");

    // Another model with the same variable names and shapes (another activation).
    let other = dropout_source("sgd").replace("activation = relu", "activation = tanh");
    let mut foreign = compiled(&other, 1);
    let err = foreign.load_checkpoint(&ckpt).unwrap_err().to_string();
    assert!(err.contains("belongs to another model") && err.contains("c.ckpt"), "{err}");

    // A training state that does not add up.
    let file = nn_runtime::io::read_tensors(&ckpt).unwrap();
    let mut meta = file.metadata.clone();
    let state = meta["fit_state"].replace("\"batch\":3", "\"batch\":99");
    assert_ne!(state, meta["fit_state"], "the test edits the batch position");
    meta.insert("fit_state".into(), state);
    let tensors: Vec<(String, &[usize], &[f32])> =
        file.tensors.iter().map(|(k, t)| (k.clone(), t.shape.as_slice(), t.data.as_slice())).collect();
    let bad = dir.join("bad.ckpt");
    nn_runtime::io::write_tensors(&bad, tensors, meta).unwrap();
    let err = compiled(&dropout_source("sgd"), 1).load_checkpoint(&bad).unwrap_err().to_string();
    assert!(err.contains("batch 99") && err.contains("bad.ckpt"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
