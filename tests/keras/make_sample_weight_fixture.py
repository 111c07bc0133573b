"""Keras 3 reference for per-sample loss weights: `sample_weight` and
`class_weight` (a map and scikit-learn's "balanced" formula) on a small
classifier with fixed weights, trained for one epoch of three SGD/Adam steps
(batches of 4, 4 and 2 samples, no shuffling), then evaluated with weights.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_sample_weight_fixture.py

It writes runtime/tests/keras/sample_weights.json, which
runtime/tests/sample_weights.rs reads (the Rust tests do not need Python).
Weights are stored under the `.nn` variable names (dense, dense_1).
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

rng = np.random.RandomState(20261206)
N, FEATURES, CLASSES = 10, 4, 3

x = rng.uniform(-1.5, 1.5, (N, FEATURES)).astype("float32")
y = np.array([0, 1, 2, 1, 1, 0, 1, 1, 2, 1], dtype="int32")
sample_weight = rng.uniform(0.0, 3.0, (N,)).astype("float32")
sample_weight[3] = 0.0

kernels = {
    "dense/kernel": rng.uniform(-0.9, 0.9, (FEATURES, 5)).astype("float32"),
    "dense/bias": rng.uniform(-0.3, 0.3, (5,)).astype("float32"),
    "dense_1/kernel": rng.uniform(-0.9, 0.9, (5, CLASSES)).astype("float32"),
    "dense_1/bias": rng.uniform(-0.3, 0.3, (CLASSES,)).astype("float32"),
}


def build(optimizer):
    inp = keras.Input((FEATURES,))
    h = keras.layers.Dense(5, activation="tanh", name="hidden")(inp)
    out = keras.layers.Dense(CLASSES, activation="softmax", name="out")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.get_layer("hidden").set_weights([kernels["dense/kernel"], kernels["dense/bias"]])
    model.get_layer("out").set_weights([kernels["dense_1/kernel"], kernels["dense_1/bias"]])
    return model


def trained(optimizer, **weighting):
    model = build(optimizer)
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, **weighting)
    after = {}
    for layer, prefix in ((model.get_layer("hidden"), "dense"), (model.get_layer("out"), "dense_1")):
        k, b = layer.get_weights()
        after[f"{prefix}/kernel"] = k.tolist()
        after[f"{prefix}/bias"] = b.tolist()
    return {
        "history": {k: float(v[0]) for k, v in history.history.items()},
        "weights": after,
    }


# scikit-learn's compute_class_weight("balanced"): n_samples / (n_classes * bincount).
counts = np.bincount(y, minlength=CLASSES)
balanced = {int(c): float(N / (np.count_nonzero(counts) * counts[c])) for c in range(CLASSES) if counts[c]}

cases = {
    "sample_weight_sgd": trained(keras.optimizers.SGD(0.1), sample_weight=sample_weight),
    "class_weight_map_adam": trained(keras.optimizers.Adam(0.05), class_weight={0: 1.0, 1: 5.0}),
    "class_weight_balanced_sgd": trained(keras.optimizers.SGD(0.1), class_weight=balanced),
    "unweighted_sgd": trained(keras.optimizers.SGD(0.1)),
}

evaluated = build("sgd").evaluate(x, y, sample_weight=sample_weight, batch_size=4, verbose=0, return_dict=True)

fixture = {
    "keras_version": keras.__version__,
    "backend": keras.backend.backend(),
    "x": x.tolist(),
    "y": y.tolist(),
    "sample_weight": sample_weight.tolist(),
    "balanced": {str(k): v for k, v in balanced.items()},
    "weights": {k: v.tolist() for k, v in kernels.items()},
    "cases": cases,
    "evaluate_weighted": {k: float(v) for k, v in evaluated.items()},
}
with open("runtime/tests/keras/sample_weights.json", "w") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
print(json.dumps({k: v["history"] for k, v in cases.items()}, indent=1))
print(json.dumps(fixture["evaluate_weighted"], indent=1))
