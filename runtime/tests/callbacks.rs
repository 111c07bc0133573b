//! Built-in callbacks: when they act and what they leave behind.

mod common;

use common::*;
use nn_runtime::callbacks::Mode;
use nn_runtime::{
    BackupAndRestore, Callback, CsvLogger, EarlyStopping, FitOptions, LearningRateScheduler, Model, ModelCheckpoint,
    ReduceLrOnPlateau, TerminateOnNan, ValidationData,
};

fn opts(epochs: usize) -> FitOptions {
    let (vx, vy) = blobs(30, 99);
    FitOptions {
        epochs,
        batch_size: 10,
        verbose: 0,
        shuffle: false,
        validation: ValidationData::Data(vx, vy),
        ..FitOptions::default()
    }
}

/// Learning rate 0.1 for the first two epochs, then `after`.
fn two_epochs_then(after: f64) -> LearningRateScheduler {
    LearningRateScheduler::new(move |epoch, _| if epoch < 2 { 0.1 } else { after })
}

#[test]
fn early_stopping_stops_after_patience_epochs_without_improvement() {
    let (x, y) = blobs(60, 1);
    let mut model = compiled(&blob_source("sgd"), 1);
    // From epoch 3 on the weights are frozen, so val_loss stops improving.
    let mut lr = two_epochs_then(0.0);
    let mut stop = EarlyStopping::new("val_loss").patience(2);
    let history = model.fit_with(&x, &y, &opts(10), &mut [&mut lr, &mut stop]).unwrap();
    let val = history.get("val_loss").unwrap();
    assert!(val[1] < val[0], "precondition: epoch 2 improves: {val:?}");
    assert_eq!(val[2], val[1], "frozen weights give the same val_loss");
    assert_eq!(history.epochs, [0, 1, 2, 3]);
    assert_eq!(stop.stopped_epoch(), Some(3));
    assert_eq!(stop.best_epoch(), Some(1));
    let reason = history.stop_reason.unwrap();
    assert!(reason.contains("early stopping at epoch 4"), "{reason}");
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let (x, y) = blobs(60, 1);
    let mut reference = compiled(&blob_source("sgd"), 1);
    let mut lr = two_epochs_then(0.1);
    reference.fit_with(&x, &y, &opts(2), &mut [&mut lr]).unwrap();

    // Same run, but from epoch 3 on the weights are zeroed before each epoch,
    // so val_loss gets worse than after epoch 2.
    struct Sabotage;
    impl Callback for Sabotage {
        fn on_epoch_begin(
            &mut self,
            epoch: usize,
            ctx: &mut nn_runtime::FitContext<'_>,
        ) -> Result<(), nn_runtime::RuntimeError> {
            if epoch >= 2 {
                let names: Vec<String> = ctx.model().weights().names().iter().map(|s| s.to_string()).collect();
                for name in names {
                    let zero = ctx.model().get_weight(&name).unwrap().mapv(|_| 0.0);
                    ctx.model().set_weight(&name, &zero)?;
                }
            }
            Ok(())
        }
    }
    let mut model = compiled(&blob_source("sgd"), 1);
    let mut lr = two_epochs_then(0.1);
    let mut stop = EarlyStopping::new("val_loss").patience(2).restore_best_weights(true);
    let history = model.fit_with(&x, &y, &opts(10), &mut [&mut lr, &mut Sabotage, &mut stop]).unwrap();
    let val = history.get("val_loss").unwrap();
    assert!(val[2] > val[1] && val[3] > val[1], "precondition: epochs 3-4 are worse: {val:?}");
    assert_eq!(history.epochs.len(), 4);
    assert_eq!(weights(&model), weights(&reference), "weights are those after epoch 2");
}

#[test]
fn early_stopping_mode_max_for_accuracy() {
    assert!(EarlyStopping::new("val_accuracy").mode(Mode::Auto).mode == Mode::Auto);
    let (x, y) = blobs(40, 2);
    let mut model = compiled(&blob_source("sgd"), 1);
    let mut lr = LearningRateScheduler::new(|_, _| 0.0);
    // Accuracy never changes with a zero rate: stop after `patience` epochs.
    let mut stop = EarlyStopping::new("val_accuracy").patience(1);
    let history = model.fit_with(&x, &y, &opts(10), &mut [&mut lr, &mut stop]).unwrap();
    assert_eq!(history.epochs, [0, 1]);
}

#[test]
fn terminate_on_nan_names_epoch_batch_and_step() {
    let (x, y) = blobs(50, 3);
    let mut data = x.to_f32();
    data[[25, 0]] = f32::NAN; // sample 25 is in the third batch of 10
    let x = nn_runtime::data::Features::F32(data);
    let mut model = compiled(&blob_source("sgd"), 1);
    let mut nan = TerminateOnNan::new();
    let history = model.fit_with(&x, &y, &opts(3), &mut [&mut nan]).unwrap();
    assert_eq!(nan.terminated_at(), Some((0, 2, 3)));
    assert_eq!(model.iterations(), 3, "no update after the bad batch");
    assert_eq!(history.epochs, [0]);
    let reason = history.stop_reason.unwrap();
    assert!(reason.contains("epoch 1, batch 3 (step 3)") && reason.contains("NaN"), "{reason}");
}

#[test]
fn csv_logger_writes_keras_columns() {
    let dir = temp_dir("csv");
    let path = dir.join("log.csv");
    let (x, y) = blobs(40, 4);
    let mut model = compiled(&blob_source("adam"), 1);
    let mut log = CsvLogger::new(&path);
    let history = model.fit_with(&x, &y, &opts(3), &mut [&mut log]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,accuracy,loss,val_accuracy,val_loss");
    assert_eq!(lines.len(), 4);
    for (epoch, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], epoch.to_string());
        for (field, key) in fields[1..].iter().zip(["accuracy", "loss", "val_accuracy", "val_loss"]) {
            assert_eq!(field.parse::<f64>().unwrap(), history.get(key).unwrap()[epoch], "{key} at epoch {epoch}");
        }
    }
    // Appending continues the file without a second header.
    let mut log = CsvLogger::new(&path).append(true);
    model.fit_with(&x, &y, &FitOptions { initial_epoch: 3, ..opts(4) }, &mut [&mut log]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(text.lines().nth(4).unwrap().starts_with("3,"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn model_checkpoint_writes_loadable_files_and_no_temp_files() {
    let dir = temp_dir("ckpt");
    let template = dir.join("model-{epoch:02d}.safetensors");
    let (x, y) = blobs(40, 5);
    let mut model = compiled(&blob_source("adam"), 1);
    let mut ckpt = ModelCheckpoint::new(template.to_str().unwrap());
    model.fit_with(&x, &y, &opts(3), &mut [&mut ckpt]).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["model-01.safetensors", "model-02.safetensors", "model-03.safetensors"]);

    let mut restored = compiled(&blob_source("adam"), 77);
    assert_ne!(weights(&restored), weights(&model));
    restored.load_weights(dir.join("model-03.safetensors")).unwrap();
    assert_eq!(weights(&restored), weights(&model));
    assert_eq!(restored.load_checkpoint(dir.join("model-03.safetensors")).unwrap(), 3);
    assert_eq!(restored.iterations(), model.iterations());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn model_checkpoint_save_best_only_saves_on_improvement() {
    let dir = temp_dir("ckpt-best");
    let path = dir.join("best.safetensors");
    let (x, y) = blobs(60, 1);
    let mut model = compiled(&blob_source("sgd"), 1);
    let mut lr = two_epochs_then(0.0);
    let mut ckpt = ModelCheckpoint::new(path.to_str().unwrap()).save_best_only(true);
    model.fit_with(&x, &y, &opts(4), &mut [&mut lr, &mut ckpt]).unwrap();
    // Epochs 1 and 2 improve val_loss; 3 and 4 repeat epoch 2's value.
    assert_eq!(ckpt.saved().len(), 2);
    let mut fresh = compiled(&blob_source("sgd"), 5);
    assert_eq!(fresh.load_checkpoint(&path).unwrap(), 2);

    // Weights only: loadable as weights, not as a checkpoint.
    let weights_path = dir.join("weights.safetensors");
    let mut ckpt = ModelCheckpoint::new(weights_path.to_str().unwrap()).save_weights_only(true);
    model.fit_with(&x, &y, &opts(1), &mut [&mut ckpt]).unwrap();
    fresh.load_weights(&weights_path).unwrap();
    assert_eq!(weights(&fresh), weights(&model));
    assert!(fresh.load_checkpoint(&weights_path).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reduce_lr_on_plateau_divides_after_patience() {
    let (x, y) = blobs(40, 6);
    let mut model = compiled(&blob_source("sgd(learning_rate = 1e-9)"), 1);
    let mut plateau = ReduceLrOnPlateau::new("val_loss").patience(2).factor(0.1);
    let history = model.fit_with(&x, &y, &opts(6), &mut [&mut plateau]).unwrap();
    let lrs = history.get("learning_rate").unwrap();
    let expected = [1e-9, 1e-9, 1e-9, 1e-10, 1e-10, 1e-11];
    for (got, want) in lrs.iter().zip(expected) {
        assert!((got - want).abs() <= want * 1e-9, "{lrs:?}");
    }
}

#[test]
fn learning_rate_scheduler_sets_and_logs_the_rate() {
    let (x, y) = blobs(40, 7);
    let mut model = compiled(&blob_source("sgd"), 1);
    let mut lr = LearningRateScheduler::new(|epoch, _| 0.1 / (epoch + 1) as f64);
    let history = model.fit_with(&x, &y, &opts(3), &mut [&mut lr]).unwrap();
    assert_eq!(history.get("learning_rate").unwrap(), [0.1, 0.05, 0.1 / 3.0]);
    assert_eq!(model.learning_rate(), 0.1 / 3.0);
    // A zero rate leaves the weights alone.
    let before = weights(&model);
    let mut zero = LearningRateScheduler::new(|_, _| 0.0);
    model.fit_with(&x, &y, &opts(1), &mut [&mut zero]).unwrap();
    assert_eq!(weights(&model), before);
}

/// A user-defined callback sees every hook in order.
#[test]
fn custom_callbacks_see_hooks_in_order() {
    struct Recorder(Vec<String>);
    impl Callback for Recorder {
        fn on_train_begin(&mut self, _: &mut nn_runtime::FitContext<'_>) -> Result<(), nn_runtime::RuntimeError> {
            self.0.push("begin".into());
            Ok(())
        }
        fn on_epoch_begin(
            &mut self,
            e: usize,
            _: &mut nn_runtime::FitContext<'_>,
        ) -> Result<(), nn_runtime::RuntimeError> {
            self.0.push(format!("epoch{e}"));
            Ok(())
        }
        fn on_train_batch_end(
            &mut self,
            b: usize,
            logs: &nn_runtime::Logs,
            _: &mut nn_runtime::FitContext<'_>,
        ) -> Result<(), nn_runtime::RuntimeError> {
            assert!(logs.contains_key("loss"));
            self.0.push(format!("batch{b}"));
            Ok(())
        }
        fn on_epoch_end(
            &mut self,
            e: usize,
            logs: &mut nn_runtime::Logs,
            _: &mut nn_runtime::FitContext<'_>,
        ) -> Result<(), nn_runtime::RuntimeError> {
            assert!(logs.contains_key("val_loss"));
            self.0.push(format!("end{e}"));
            Ok(())
        }
        fn on_train_end(&mut self, _: &mut nn_runtime::FitContext<'_>) -> Result<(), nn_runtime::RuntimeError> {
            self.0.push("done".into());
            Ok(())
        }
    }
    let (x, y) = blobs(20, 8);
    let mut model: Model = compiled(&blob_source("sgd"), 1);
    let mut rec = Recorder(Vec::new());
    model.fit_with(&x, &y, &opts(2), &mut [&mut rec]).unwrap();
    assert_eq!(rec.0, ["begin", "epoch0", "batch0", "batch1", "end0", "epoch1", "batch0", "batch1", "end1", "done"]);
    // Callbacks given in the options run too.
    let with_opts = opts(1).callback(TerminateOnNan::new());
    model.fit(&x, &y, &with_opts).unwrap();
}

/// Fails `fit` as epoch `at + 1` (0-based) begins, as a process killed
/// right after epoch `at` ended would: no `on_train_end`.
struct CrashAfter(usize);
impl Callback for CrashAfter {
    fn on_epoch_begin(
        &mut self,
        epoch: usize,
        _ctx: &mut nn_runtime::FitContext<'_>,
    ) -> Result<(), nn_runtime::RuntimeError> {
        if epoch == self.0 + 1 {
            return Err(nn_runtime::RuntimeError::InvalidArgument("simulated crash".into()));
        }
        Ok(())
    }
}

#[test]
fn backup_and_restore_resumes_a_crashed_run_bit_exactly() {
    let dir = temp_dir("backup");
    let (x, y) = blobs(60, 3);
    let shuffled = |epochs| FitOptions { shuffle: true, ..opts(epochs) };
    let mut uninterrupted = compiled(&blob_source("adam"), 1);
    let full = uninterrupted.fit(&x, &y, &shuffled(5)).unwrap();

    let mut first = compiled(&blob_source("adam"), 1);
    let mut backup = BackupAndRestore::new(&dir);
    let err = first.fit_with(&x, &y, &shuffled(5), &mut [&mut backup, &mut CrashAfter(2)]).unwrap_err();
    assert!(err.to_string().contains("simulated crash"), "{err}");
    assert!(backup.backup_path().exists(), "the backup survives the crash");
    assert_eq!(backup.restored_epoch(), None);

    // A new process: the model is built from scratch with other weights.
    let mut second = compiled(&blob_source("adam"), 9);
    let mut backup = BackupAndRestore::new(&dir);
    let history = second.fit_with(&x, &y, &shuffled(5), &mut [&mut backup]).unwrap();
    assert_eq!(backup.restored_epoch(), Some(3), "epochs 1–3 completed before the crash");
    // The backup carries the History of the epochs before the crash.
    assert_eq!(history.epochs, [0, 1, 2, 3, 4]);
    assert_eq!(history.to_json(), full.to_json());
    assert_eq!(weights(&second), weights(&uninterrupted));
    assert_eq!(second.iterations(), uninterrupted.iterations());
    assert!(!backup.backup_path().exists(), "a finished run deletes its backup");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn backup_and_restore_keeps_the_backup_when_asked_and_reports_a_file_in_the_way() {
    let dir = temp_dir("backup-keep");
    let (x, y) = blobs(40, 4);
    let mut model = compiled(&blob_source("sgd"), 1);
    let mut backup = BackupAndRestore::new(&dir).delete_checkpoint(false);
    model.fit_with(&x, &y, &opts(2), &mut [&mut backup]).unwrap();
    let mut again = compiled(&blob_source("sgd"), 1);
    assert_eq!(again.load_checkpoint(backup.backup_path()).unwrap(), 2);
    assert_eq!(weights(&again), weights(&model));

    let file = dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let mut backup = BackupAndRestore::new(&file);
    let err = model.fit_with(&x, &y, &opts(1), &mut [&mut backup]).unwrap_err().to_string();
    assert!(err.contains("not-a-folder") && err.contains("backup"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
