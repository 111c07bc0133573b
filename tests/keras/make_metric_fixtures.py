"""Writes runtime/tests/keras/metrics.json: Keras 3's epoch value of every
metric nn implements, accumulated over several batches (batch size 4 over 10
samples: a partial last batch), with the per-batch values beside it so a test
can tell a stateful result from a mean of batch results. Run from the
repository root with a Python that has Keras 3:

    python tests/keras/make_metric_fixtures.py
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import keras  # noqa: E402

M = keras.metrics
N, BATCH = 10, 4
rng = np.random.default_rng(7)


def f32(a):
    return np.asarray(a, np.float32)


binary1 = f32(rng.integers(0, 2, (N, 1)))
# Informative but imperfect scores, so the curves are not degenerate.
probs1 = f32(0.2 * binary1 + rng.uniform(0.0, 0.8, (N, 1)))
probs3 = f32(rng.uniform(0.0, 1.0, (N, 3)))
binary3 = f32(rng.integers(0, 2, (N, 3)))
real = f32(rng.uniform(-2.0, 2.0, (N, 3)))
real_pred = f32(real + rng.normal(0.0, 0.7, (N, 3)))
labels7 = rng.integers(0, 7, (N,)).astype(np.int32)
onehot7 = f32(np.eye(7)[labels7])
scores7 = f32(rng.uniform(0.0, 1.0, (N, 7)) + 0.25 * onehot7)
labels4 = rng.integers(0, 4, (N,))
onehot4 = f32(np.eye(4)[labels4])
scores4 = f32(rng.uniform(0.0, 1.0, (N, 4)) + 0.4 * onehot4)

# (nn metric, Keras metric, loss for the nn model, y_true, y_pred)
CASES = [
    ("precision", lambda: M.Precision(), "binary_crossentropy", binary1, probs1),
    ("recall", lambda: M.Recall(), "binary_crossentropy", binary1, probs1),
    ("precision", lambda: M.Precision(), "binary_crossentropy", binary3, probs3),
    ("recall", lambda: M.Recall(), "binary_crossentropy", binary3, probs3),
    ("auc", lambda: M.AUC(), "binary_crossentropy", binary1, probs1),
    ('auc(curve = "PR")', lambda: M.AUC(curve="PR"), "binary_crossentropy", binary1, probs1),
    ("auc(num_thresholds = 7)", lambda: M.AUC(num_thresholds=7), "binary_crossentropy", binary1, probs1),
    ('auc(num_thresholds = 13, curve = "PR")', lambda: M.AUC(num_thresholds=13, curve="PR"), "binary_crossentropy", binary1, probs1),
    ("root_mean_squared_error", lambda: M.RootMeanSquaredError(), "mse", real, real_pred),
    ("mape", lambda: M.MeanAbsolutePercentageError(), "mse", real, real_pred),
    ("r2_score", lambda: M.R2Score(), "mse", real, real_pred),
    ("top_k_categorical_accuracy", lambda: M.TopKCategoricalAccuracy(), "categorical_crossentropy", onehot7, scores7),
    ("top_k_categorical_accuracy(k = 2)", lambda: M.TopKCategoricalAccuracy(k=2), "categorical_crossentropy", onehot7, scores7),
    (
        "sparse_top_k_categorical_accuracy(k = 3)",
        lambda: M.SparseTopKCategoricalAccuracy(k=3),
        "sparse_categorical_crossentropy",
        labels7,
        scores7,
    ),
    ('f1_score(average = "macro")', lambda: M.F1Score(average="macro"), "categorical_crossentropy", onehot4, scores4),
    ('f1_score(average = "micro")', lambda: M.F1Score(average="micro"), "categorical_crossentropy", onehot4, scores4),
    ('f1_score(average = "weighted")', lambda: M.F1Score(average="weighted"), "categorical_crossentropy", onehot4, scores4),
    (
        'f1_score(average = "macro", threshold = 0.5)',
        lambda: M.F1Score(average="macro", threshold=0.5),
        "categorical_crossentropy",
        onehot4,
        scores4,
    ),
    ("f1_score(threshold = 0.5)", lambda: M.F1Score(threshold=0.5), "binary_crossentropy", binary1, probs1),
    (
        'f1_score(average = "micro", threshold = 0.4)',
        lambda: M.F1Score(average="micro", threshold=0.4),
        "binary_crossentropy",
        binary3,
        probs3,
    ),
    (
        'fbeta_score(beta = 2.0, average = "micro")',
        lambda: M.FBetaScore(beta=2.0, average="micro"),
        "categorical_crossentropy",
        onehot4,
        scores4,
    ),
    (
        'fbeta_score(beta = 0.5, average = "weighted", threshold = 0.6)',
        lambda: M.FBetaScore(beta=0.5, average="weighted", threshold=0.6),
        "categorical_crossentropy",
        onehot4,
        scores4,
    ),
    ("fbeta_score(threshold = 0.3)", lambda: M.FBetaScore(threshold=0.3), "binary_crossentropy", binary1, probs1),
]


def scalar(result):
    # average=None on a single unit gives a one-element vector.
    return float(np.asarray(result).reshape(-1)[0])


def case(spec, make, loss, y_true, y_pred):
    epoch = make()
    batches = []
    for start in range(0, N, BATCH):
        sl = slice(start, start + BATCH)
        epoch.update_state(y_true[sl], y_pred[sl])
        one = make()
        one.update_state(y_true[sl], y_pred[sl])
        batches.append(scalar(one.result()))
    return {
        "metric": spec,
        "loss": loss,
        "batch_size": BATCH,
        "y_true": np.asarray(y_true).tolist(),
        "y_pred": np.asarray(y_pred).tolist(),
        "value": scalar(epoch.result()),
        "batch_values": batches,
    }


def main():
    out = {"keras": keras.__version__, "backend": keras.backend.backend(), "cases": [case(*c) for c in CASES]}
    path = os.path.join("runtime", "tests", "keras", "metrics.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(out['cases'])} cases")


if __name__ == "__main__":
    main()
