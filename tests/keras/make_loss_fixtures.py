"""Writes compiler/tests/keras/losses.json: Keras 3's value and gradient (with
respect to the prediction) of every loss nn implements, on fixed inputs, in
float64. Run from the repository root with a Python that has Keras 3:

    python tests/keras/make_loss_fixtures.py
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

keras.config.set_floatx("float64")
L = keras.losses

rng = np.random.default_rng(20240607)
N, C = 4, 3
raw = rng.uniform(-2.5, 2.5, (N, C))
probs = rng.uniform(0.02, 0.98, (N, C))
softmax = np.exp(raw) / np.exp(raw).sum(-1, keepdims=True)
real = rng.uniform(-1.5, 1.5, (N, C))
positive = rng.uniform(0.1, 3.0, (N, C))
binary = rng.integers(0, 2, (N, C)).astype(np.float64)
signs = 2.0 * rng.integers(0, 2, (N, C)) - 1.0
labels = rng.integers(0, C, (N,))
one_hot = np.eye(C)[labels]
# Half the errors inside delta = 0.5, half outside.
huber_pred = real + rng.choice([-0.2, 0.3, -1.1, 1.4], (N, C))

# (nn spec, Keras loss object, y_true, y_pred)
CASES = [
    ("mse", L.MeanSquaredError(), real, raw),
    ("mae", L.MeanAbsoluteError(), real, raw),
    ("mape", L.MeanAbsolutePercentageError(), real, raw),
    ("mean_absolute_percentage_error", L.MeanAbsolutePercentageError(), positive, raw),
    ("msle", L.MeanSquaredLogarithmicError(), positive, probs * 3.0),
    ("mean_squared_logarithmic_error", L.MeanSquaredLogarithmicError(), positive, raw),
    ("huber", L.Huber(), real, huber_pred),
    ("huber(delta = 0.5)", L.Huber(delta=0.5), real, huber_pred),
    ("log_cosh", L.LogCosh(), real, raw),
    ("kl_divergence", L.KLDivergence(), one_hot * 0.9 + 0.1 / C, softmax),
    ("kld", L.KLDivergence(), probs, softmax),
    ("poisson", L.Poisson(), positive, probs * 2.0),
    ("hinge", L.Hinge(), binary, raw),
    ("hinge", L.Hinge(), signs, raw),
    ("squared_hinge", L.SquaredHinge(), binary, raw),
    ("squared_hinge", L.SquaredHinge(), signs, raw),
    ("categorical_hinge", L.CategoricalHinge(), one_hot, raw),
    ("cosine_similarity", L.CosineSimilarity(), real, raw),
    ("cosine_similarity(axis = 1)", L.CosineSimilarity(axis=1), real, raw),
    ("binary_crossentropy(label_smoothing = 0.2)", L.BinaryCrossentropy(label_smoothing=0.2), binary, probs),
    (
        "binary_crossentropy(from_logits = true, label_smoothing = 0.1)",
        L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        binary,
        raw,
    ),
    (
        "categorical_crossentropy(label_smoothing = 0.1)",
        L.CategoricalCrossentropy(label_smoothing=0.1),
        one_hot,
        softmax,
    ),
    (
        "categorical_crossentropy(from_logits = true, label_smoothing = 0.3)",
        L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
        one_hot,
        raw,
    ),
    ("binary_focal_crossentropy", L.BinaryFocalCrossentropy(), binary, probs),
    (
        "binary_focal_crossentropy(gamma = 1.5, from_logits = true)",
        L.BinaryFocalCrossentropy(gamma=1.5, from_logits=True),
        binary,
        raw,
    ),
    (
        "binary_focal_crossentropy(apply_class_balancing = true, alpha = 0.3, label_smoothing = 0.1)",
        L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, label_smoothing=0.1),
        binary,
        probs,
    ),
]


def case(spec, loss, y_true, y_pred):
    yp = tf.Variable(np.asarray(y_pred, np.float64))
    with tf.GradientTape() as tape:
        value = loss(tf.constant(np.asarray(y_true, np.float64)), yp)
    grad = tape.gradient(value, yp)
    return {
        "loss": spec,
        "y_true": np.asarray(y_true).tolist(),
        "y_pred": np.asarray(y_pred).tolist(),
        "value": float(value.numpy()),
        "grad": grad.numpy().tolist(),
    }


def main():
    out = {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "cases": [case(*c) for c in CASES],
    }
    path = os.path.join("compiler", "tests", "keras", "losses.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(out['cases'])} cases")


if __name__ == "__main__":
    main()
