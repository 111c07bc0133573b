"""Keras 3 reference for a two-input, two-output model with per-output losses
and loss weights: fixed weights and data in, Keras's evaluate() numbers out.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_multi_output_fixture.py

It writes runtime/tests/keras/two_heads.json, which runtime/tests/multi_io.rs
reads (the Rust tests do not need Python). The model is the `.nn` model
TWO_HEADS in that test; weights are stored under the `.nn` variable names.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

rng = np.random.RandomState(20261206)
N = 6

a = keras.Input((3,), name="a")
b = keras.Input((3,), name="b")
shared = keras.layers.Dense(4, activation="tanh", name="shared")
m = keras.layers.Concatenate()([shared(a), shared(b)])
label = keras.layers.Dense(1, activation="sigmoid", name="label")(m)
value = keras.layers.Dense(2, name="value")(m)
model = keras.Model({"a": a, "b": b}, {"label": label, "value": value})
model.compile(
    optimizer="sgd",
    loss={"label": "binary_crossentropy", "value": "mse"},
    loss_weights={"label": 1.0, "value": 0.2},
    metrics={"label": ["accuracy"], "value": ["mae"]},
)

# `.nn` names layers as Keras does by default: dense, dense_1, dense_2.
NN_NAMES = {"shared": "dense", "label": "dense_1", "value": "dense_2"}
weights = {}
for layer in (model.get_layer("shared"), model.get_layer("label"), model.get_layer("value")):
    kernel = rng.uniform(-0.9, 0.9, layer.kernel.shape).astype("float32")
    bias = rng.uniform(-0.3, 0.3, layer.bias.shape).astype("float32")
    layer.set_weights([kernel, bias])
    weights[f"{NN_NAMES[layer.name]}/kernel"] = kernel.tolist()
    weights[f"{NN_NAMES[layer.name]}/bias"] = bias.tolist()

x = {"a": rng.uniform(-1.5, 1.5, (N, 3)).astype("float32"), "b": rng.uniform(-1.5, 1.5, (N, 3)).astype("float32")}
y = {"label": (rng.uniform(size=(N, 1)) > 0.5).astype("float32"), "value": rng.uniform(-1, 1, (N, 2)).astype("float32")}

results = model.evaluate(x, y, batch_size=N, verbose=0, return_dict=True)
predictions = model.predict(x, batch_size=N, verbose=0)

# The History keys of a fit with validation data (fit on a clone, so the
# numbers above come from the fixed weights).
clone = keras.models.clone_model(model)
clone.compile(
    optimizer="sgd",
    loss={"label": "binary_crossentropy", "value": "mse"},
    loss_weights={"label": 1.0, "value": 0.2},
    metrics={"label": ["accuracy"], "value": ["mae"]},
)
history = clone.fit(x, y, epochs=1, batch_size=N, validation_data=(x, y), verbose=0)

fixture = {
    "keras_version": keras.__version__,
    "history_keys": sorted(history.history.keys()),
    "weights": weights,
    "x": {k: v.tolist() for k, v in x.items()},
    "y": {k: v.tolist() for k, v in y.items()},
    "evaluate": {k: float(v) for k, v in results.items()},
    "predict": {k: np.asarray(v).tolist() for k, v in predictions.items()},
}
with open("runtime/tests/keras/two_heads.json", "w") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
print(json.dumps(fixture["evaluate"], indent=1))
