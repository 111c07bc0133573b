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
import sys

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


def int_rows(rng, rows, steps, vocab):
    """Word ids with Keras-style zero padding: pre-padded, post-padded and full rows."""
    ids = rng.integers(1, vocab, size=(rows, steps))
    for r in range(rows):
        pad = (r * 3) % (steps - 2)
        if r % 2 == 0:
            ids[r, :pad] = 0
        else:
            ids[r, steps - pad:] = 0
    return ids.astype("int32")


# The sequence models draw from their own generators, so building any subset
# of the models writes the same fixtures as building all of them.
def text():
    rng_t = np.random.default_rng(11)
    model = keras.Sequential(
        [
            keras.Input((20,), dtype="int32", name="ids"),
            keras.layers.Embedding(50, 8, mask_zero=True),
            keras.layers.Conv1D(6, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True)),
            keras.layers.GRU(4),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="text",
    )
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    randomize(model, rng_t)
    return model, {"ids": int_rows(rng_t, 6, 20, 50)}


def seq_merge():
    rng_s = np.random.default_rng(12)
    ids = keras.Input((12,), dtype="int32", name="ids")
    e = keras.layers.Embedding(30, 6)(ids)
    a = keras.layers.SimpleRNN(5, return_sequences=True)(e)
    b = keras.layers.TimeDistributed(keras.layers.Dense(5, activation="tanh"))(e)
    m = keras.layers.Multiply()([a, b])
    s = keras.layers.Subtract()([a, b])
    av = keras.layers.Average()([m, s, a])
    mx = keras.layers.Maximum()([a, b])
    mn = keras.layers.Minimum()([m, s])
    p1 = keras.layers.GlobalAveragePooling1D()(av)
    p2 = keras.layers.GlobalMaxPooling1D()(mx)
    p3 = keras.layers.GlobalAveragePooling1D()(mn)
    d = keras.layers.Dot(axes=1)([p1, p2])
    c = keras.layers.Concatenate()([p1, p2, p3, d])
    out = keras.layers.Dense(3, activation="softmax")(c)
    model = keras.Model(ids, out, name="seq_merge")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    randomize(model, rng_s)
    return model, {"ids": int_rows(rng_s, 5, 12, 30)}


def masked():
    rng_m = np.random.default_rng(13)
    model = keras.Sequential(
        [
            keras.Input((10,), dtype="int32", name="ids"),
            keras.layers.Embedding(40, 6, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.SimpleRNN(4, return_sequences=True), merge_mode="ave"),
            keras.layers.LSTM(5, return_sequences=True),
            keras.layers.GRU(3, reset_after=False, go_backwards=True, return_sequences=True),
            keras.layers.TimeDistributed(keras.layers.Dense(4, activation="relu")),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ],
        name="masked",
    )
    model.compile(optimizer="adam", loss="mse")
    randomize(model, rng_m)
    return model, {"ids": int_rows(rng_m, 6, 10, 40)}


def masked_functional():
    # A Functional model records the operations that compute masks
    # (`not_equal`) as layers; the importer leaves them to `mask_zero`.
    rng_f = np.random.default_rng(15)
    ids = keras.Input((9,), dtype="int32", name="ids")
    e = keras.layers.Embedding(20, 4, mask_zero=True)(ids)
    h = keras.layers.LSTM(3)(e)
    p = keras.layers.GlobalAveragePooling1D()(e)
    c = keras.layers.Concatenate()([h, p])
    out = keras.layers.Dense(2)(c)
    model = keras.Model(ids, out, name="masked_functional")
    model.compile(optimizer="adam", loss="mse")
    randomize(model, rng_f)
    return model, {"ids": int_rows(rng_f, 5, 9, 20)}


def conv_seq():
    rng_c = np.random.default_rng(14)
    model = keras.Sequential(
        [
            keras.Input((16, 4), name="x"),
            keras.layers.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu"),
            keras.layers.AveragePooling1D(pool_size=3, strides=2, padding="same"),
            keras.layers.Conv1D(4, 2, strides=2, use_bias=False),
            keras.layers.Reshape((2, 2, 4)),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(2),
        ],
        name="conv_seq",
    )
    model.compile(optimizer="adam", loss="mse")
    randomize(model, rng_c)
    return model, {"x": rng_c.normal(size=(4, 16, 4))}


def randomize(model, rng_r):
    """Weights of a size that makes every gate and step matter (the default
    small embeddings and zero biases would hide wrong gate orders)."""
    for w in model.weights:
        w.assign(rng_r.normal(scale=0.5, size=w.shape).astype("float32"))


BUILDERS = (mlp, cnn, two_inputs, norms, text, seq_merge, masked, masked_functional, conv_seq)

# `python make_import_fixtures.py text masked` rebuilds only those models and
# keeps the other entries of predictions.json.
wanted = set(sys.argv[1:])
predictions = {}
if wanted and os.path.exists(f"{OUT}/predictions.json"):
    with open(f"{OUT}/predictions.json") as f:
        predictions = json.load(f)
for build in BUILDERS:
    if wanted and build.__name__ not in wanted:
        continue
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    model, inputs = build()
    name = model.name
    model.save(f"{OUT}/{name}.keras")
    model.save(f"{OUT}/{name}.h5")
    feed = [inputs[k] if inputs[k].dtype == np.int32 else inputs[k].astype("float32") for k in inputs]
    out = model.predict(feed if len(feed) > 1 else feed[0], verbose=0)
    predictions[name] = {
        "inputs": {k: v.astype("float32").tolist() for k, v in inputs.items()},
        "output": np.asarray(out, dtype="float64").tolist(),
    }
    summary = summaries.get(name) or summary_text(model)
    with open(f"{OUT}/{name}.summary", "w") as f:
        f.write(summary)
    print(summary, end="")

with open(f"{OUT}/predictions.json", "w") as f:
    json.dump(predictions, f, indent=1)
