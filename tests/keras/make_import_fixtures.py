"""Keras 3 reference models for `nn import` and their expected behaviour.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_import_fixtures.py

For each model it writes, under interop/tests/keras/:
- `<name>.keras` (Keras 3: a zip with config.json, metadata.json, model.weights.h5)
- `<name>.h5` (the legacy format `model.save("x.h5")` writes: a `model_config`
  attribute and a `model_weights` group)
- `<name>.summary`: Keras's `summary()` text
and `predictions.json`: fixed inputs and Keras's predictions for each model.
The Rust tests read these files and need no Python. Every model is built in a
fresh session so its layers keep Keras's automatic names (`dense`, `dense_1`).
"""
import contextlib
import io
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras

OUT = "interop/tests/keras"
rng = np.random.default_rng(7)


def summary_text(model):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        model.summary()
    return buffer.getvalue()


# Summaries are taken before any training: once a model has trained, Keras
# counts its optimizer's variables in the total, and nn's summary describes
# the model alone.
summaries = {}


def mlp():
    x = keras.Input((8,), name="features")
    model = keras.Sequential(
        [
            x,
            keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, {"features": rng.normal(size=(5, 8))}


def cnn():
    x = keras.Input((12, 12, 1), name="image")
    model = keras.Sequential(
        [
            x,
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(6, (3, 3), padding="same", use_bias=False),
            keras.layers.AveragePooling2D(pool_size=2, strides=1),
            keras.layers.Conv2D(3, 2, strides=2, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(5),
        ],
        name="cnn",
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model, {"image": rng.normal(size=(4, 12, 12, 1))}


def two_inputs():
    a = keras.Input((6,), name="a")
    b = keras.Input((6,), name="b")
    shared = keras.layers.Dense(5, activation="tanh")
    h1 = shared(a)
    h2 = shared(b)
    m = keras.layers.Concatenate()([h1, h2])
    s = keras.layers.Add()([h1, h2])
    m2 = keras.layers.Concatenate()([m, s])
    out = keras.layers.Dense(1, activation="sigmoid")(m2)
    model = keras.Model([a, b], out, name="two_inputs")
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    return model, {"a": rng.normal(size=(4, 6)), "b": rng.normal(size=(4, 6))}


def norms():
    x = keras.Input((10,), name="x")
    norm = keras.layers.Normalization()
    norm.adapt(rng.normal(loc=2.0, scale=3.0, size=(64, 10)))
    model = keras.Sequential(
        [
            x,
            keras.layers.Rescaling(0.5, offset=0.25),
            norm,
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.3),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(2),
        ],
        name="norms",
    )
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    summaries["norms"] = summary_text(model)
    # A short fit moves batch normalization's statistics away from 0 and 1.
    model.fit(rng.normal(size=(64, 10)), rng.normal(size=(64, 2)), epochs=3, batch_size=16, verbose=0)
    return model, {"x": rng.normal(size=(5, 10))}


predictions = {}
for build in (mlp, cnn, two_inputs, norms):
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    model, inputs = build()
    name = model.name
    model.save(f"{OUT}/{name}.keras")
    model.save(f"{OUT}/{name}.h5")
    feed = [inputs[k].astype("float32") for k in inputs]
    out = model.predict(feed if len(feed) > 1 else feed[0], verbose=0)
    predictions[name] = {
        "inputs": {k: v.astype("float32").tolist() for k, v in inputs.items()},
        "output": np.asarray(out, dtype="float64").tolist(),
    }
    text = summaries.get(name) or summary_text(model)
    with open(f"{OUT}/{name}.summary", "w") as f:
        f.write(text)
    print(text, end="")

with open(f"{OUT}/predictions.json", "w") as f:
    json.dump(predictions, f, indent=1)
