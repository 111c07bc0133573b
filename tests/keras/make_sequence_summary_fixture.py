"""Keras 3 reference for the sequence layers' names, classes, output shapes
and parameter counts: embedding, conv1d (strides, same/causal, dilation),
1-D and global pooling, time_distributed, flatten/reshape over sequences,
and the merges (multiply, subtract, average, maximum, minimum, dot).

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_sequence_summary_fixture.py

It writes compiler/tests/keras/sequence_summary.json, which
compiler/tests/sequence_layers.rs compares with the `.nn` twin of each model
(the Rust tests do not need Python). Every case starts a fresh Keras session,
so automatic layer names (`dense`, `dense_1`) match the `.nn` ones.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras import layers as L

cases = []


def record(name, source, model):
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = layer.output.shape
        rows.append(
            {
                "name": layer.name,
                "class": type(layer).__name__,
                "shape": [d for d in shape[1:]],
                "params": int(layer.count_params()),
            }
        )
    cases.append({"name": name, "source": source, "layers": rows, "total": int(model.count_params())})


def sequential(name, source, input_shape, dtype, stack):
    keras.backend.clear_session()
    x = keras.Input(input_shape, dtype=dtype)
    h = x
    for layer in stack():
        h = layer(h)
    record(name, source, keras.Model(x, h))


sequential(
    "imdb_conv1d",
    "model m { input ids: [500] int embedding(10000, 128) conv1d(32, 7, activation = relu) "
    "max_pooling1d(5) conv1d(32, 7, activation = relu) global_max_pooling1d dense(1, activation = sigmoid) }",
    (500,),
    "int32",
    lambda: [
        L.Embedding(10000, 128),
        L.Conv1D(32, 7, activation="relu"),
        L.MaxPooling1D(5),
        L.Conv1D(32, 7, activation="relu"),
        L.GlobalMaxPooling1D(),
        L.Dense(1, activation="sigmoid"),
    ],
)
sequential(
    "conv1d_paddings",
    "model m { input x: [23, 3] conv1d(4, 3, strides = 2, padding = same) conv1d(5, 3, padding = causal, dilation_rate = 2) "
    "conv1d(2, 2, dilation_rate = 3, use_bias = false) conv1d(6, [3], padding = same, dilation_rate = 2) "
    "average_pooling1d(pool_size = 3, strides = 2, padding = same) max_pooling1d(2, padding = same) flatten }",
    (23, 3),
    "float32",
    lambda: [
        L.Conv1D(4, 3, strides=2, padding="same"),
        L.Conv1D(5, 3, padding="causal", dilation_rate=2),
        L.Conv1D(2, 2, dilation_rate=3, use_bias=False),
        L.Conv1D(6, (3,), padding="same", dilation_rate=2),
        L.AveragePooling1D(pool_size=3, strides=2, padding="same"),
        L.MaxPooling1D(2, padding="same"),
        L.Flatten(),
    ],
)
sequential(
    "masked_text",
    "model m { input ids: [20] int embedding(50, 8, mask_zero = true) dense(6, activation = tanh) dropout(0.2) "
    "time_distributed(dense(4)) global_average_pooling1d dense(3, activation = softmax) }",
    (20,),
    "int32",
    lambda: [
        L.Embedding(50, 8, mask_zero=True),
        L.Dense(6, activation="tanh"),
        L.Dropout(0.2),
        L.TimeDistributed(L.Dense(4)),
        L.GlobalAveragePooling1D(),
        L.Dense(3, activation="softmax"),
    ],
)
sequential(
    "sequence_reshape",
    "model m { input ids: [12] int embedding(30, 4) reshape([6, 8]) conv1d(3, 2) flatten dense(2) }",
    (12,),
    "int32",
    lambda: [L.Embedding(30, 4), L.Reshape((6, 8)), L.Conv1D(3, 2), L.Flatten(), L.Dense(2)],
)
sequential(
    "image_global_max",
    "model m { input img: [9, 7, 2] conv2d(4, 3) global_max_pooling2d dense(2) }",
    (9, 7, 2),
    "float32",
    lambda: [L.Conv2D(4, 3), L.GlobalMaxPooling2D(), L.Dense(2)],
)

keras.backend.clear_session()
a = keras.Input((5, 4), name="a")
b = keras.Input((5, 4), name="b")
c = keras.Input((6, 4), name="c")
m = L.Multiply()([a, b])
s = L.Subtract()([a, b])
v = L.Average()([m, s, a])
mx = L.Maximum()([v, b])
mn = L.Minimum()([mx, a])
d3 = L.Dot(axes=2)([mn, c])
d1 = L.Dot(axes=(1, 1), normalize=True)([a, b])
f = L.Flatten()(d3)
g = L.Flatten()(d1)
p = L.GlobalAveragePooling1D()(mn)
q = L.Dot(axes=1)([p, L.Dense(4)(p)])
out = L.Concatenate()([f, g, q])
record(
    "merges",
    "model m { input a: [5, 4] input b: [5, 4] input c: [6, 4] "
    "m = multiply(a, b) s = subtract(a, b) v = average(m, s, a) mx = maximum([v, b]) mn = minimum([mx, a]) "
    "d3 = dot(mn, c, axes = 2) d1 = dot(a, b, axes = [1, 1], normalize = true) f = flatten()(d3) g = flatten()(d1) "
    "p = global_average_pooling1d()(mn) q = dot(p, dense(4)(p), axes = 1) out = concatenate(f, g, q) output out }",
    keras.Model([a, b, c], out),
)

path = "compiler/tests/keras/sequence_summary.json"
with open(path, "w") as f:
    json.dump({"keras": keras.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {path}: {len(cases)} cases")
