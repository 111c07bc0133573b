"""Keras 3 reference for the normalization layers: fixed inputs and weights
in, Keras's outputs (training and inference mode), moving statistics and
trained weights out.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_norm_fixture.py

It writes compiler/tests/keras/norm.json, which compiler/tests/norm.rs reads
(the Rust tests do not need Python). Each case carries its `.nn` source;
weights are stored under the `.nn` variable names (`layer/weight`), which are
Keras's default names.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

rng = np.random.RandomState(20261206)


def arr(a):
    a = np.asarray(a, dtype="float32")
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def weights_of(model):
    out = {}
    for layer in model.layers:
        for w in layer.weights:
            out[f"{layer.name}/{w.name}"] = arr(keras.ops.convert_to_numpy(w))
    return out


def randomize(model):
    for layer in model.layers:
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if w.name == "moving_variance" or w.name == "variance":
                values.append(rng.uniform(0.5, 1.5, shape))
            elif w.name == "gamma":
                values.append(rng.uniform(0.5, 1.5, shape))
            elif w.name == "count":
                values.append(np.zeros(shape, dtype="int64"))
            else:
                values.append(rng.uniform(-0.6, 0.6, shape))
        if values:
            layer.set_weights([np.asarray(v).astype(w.dtype) for v, w in zip(values, layer.weights)])


def forward_case(name, source, input_shape, batch, layer, scale=1.5):
    x_in = keras.Input(input_shape)
    model = keras.Model(x_in, layer(x_in))
    randomize(model)
    x = rng.uniform(-scale, scale, (batch,) + input_shape).astype("float32")
    before = weights_of(model)
    infer = keras.ops.convert_to_numpy(model(x, training=False))
    train = keras.ops.convert_to_numpy(model(x, training=True))
    return {
        "name": name,
        "source": source,
        "input": arr(x),
        "weights": before,
        "infer": arr(infer),
        "train": arr(train),
        # The weights after one training-mode call (moving statistics move).
        "after_train_call": weights_of(model),
    }


cases = []
cases.append(forward_case(
    "bn_dense", "model m { input x: [4] batch_normalization(momentum = 0.9) }", (4,), 6,
    keras.layers.BatchNormalization(momentum=0.9, name="batch_normalization")))
cases.append(forward_case(
    "bn_conv", "model m { input x: [3, 3, 2] batch_normalization() }", (3, 3, 2), 4,
    keras.layers.BatchNormalization(name="batch_normalization")))
cases.append(forward_case(
    "bn_axis1_nocenter",
    "model m { input x: [3, 4] batch_normalization(axis = 1, center = false, epsilon = 0.01, momentum = 0.5) }",
    (3, 4), 5,
    keras.layers.BatchNormalization(axis=1, center=False, epsilon=0.01, momentum=0.5, name="batch_normalization")))
cases.append(forward_case(
    "layer_norm", "model m { input x: [3, 4] layer_normalization() }", (3, 4), 3,
    keras.layers.LayerNormalization(name="layer_normalization")))
cases.append(forward_case(
    "layer_norm_axis1_noscale", "model m { input x: [3, 4] layer_normalization(axis = 1, scale = false) }", (3, 4), 2,
    keras.layers.LayerNormalization(axis=1, scale=False, name="layer_normalization")))
cases.append(forward_case(
    "group_norm", "model m { input x: [2, 2, 6] group_normalization(groups = 3) }", (2, 2, 6), 3,
    keras.layers.GroupNormalization(groups=3, name="group_normalization")))
cases.append(forward_case(
    "group_norm_axis1", "model m { input x: [4, 3] group_normalization(groups = 2, axis = 1, epsilon = 0.1) }",
    (4, 3), 2,
    keras.layers.GroupNormalization(groups=2, axis=1, epsilon=0.1, name="group_normalization")))
cases.append(forward_case(
    "unit_norm", "model m { input x: [5] unit_normalization() }", (5,), 4,
    keras.layers.UnitNormalization(name="unit_normalization")))
cases.append(forward_case(
    "rescaling", "model m { input x: [3] rescaling(0.00392156862745098, offset = -1) }", (3,), 2,
    keras.layers.Rescaling(1 / 255, offset=-1, name="rescaling"), scale=255))

# normalization: adapted to data, then applied.
adapt_data = rng.normal(3.0, 2.5, (40, 3)).astype("float32")
norm_layer = keras.layers.Normalization(name="normalization")
norm_layer.adapt(adapt_data)
x_in = keras.Input((3,))
norm_model = keras.Model(x_in, norm_layer(x_in))
x = rng.uniform(-2, 8, (5, 3)).astype("float32")
out = keras.ops.convert_to_numpy(norm_model(x))
cases.append({
    "name": "normalization",
    "source": "model m { input x: [3] normalization() }",
    "input": arr(x),
    "adapt": arr(adapt_data),
    "weights": weights_of(norm_model),
    "infer": arr(out),
    "train": arr(out),
})

# Training: three SGD steps on a model with a batch normalization between two
# dense layers, one batch per step; the moving statistics and every weight after.
TRAIN_SOURCE = """model m {
  input x: [5]
  dense(4)
  batch_normalization(momentum = 0.8)
  dense(2)
  train { loss = mse, optimizer = sgd(learning_rate = 0.1) }
}"""
x_in = keras.Input((5,))
h = keras.layers.Dense(4, name="dense")(x_in)
h = keras.layers.BatchNormalization(momentum=0.8, name="batch_normalization")(h)
y_out = keras.layers.Dense(2, name="dense_1")(h)
train_model = keras.Model(x_in, y_out)
randomize(train_model)
train_model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
start = weights_of(train_model)
steps = []
for _ in range(3):
    xb = rng.uniform(-1.5, 1.5, (8, 5)).astype("float32")
    yb = rng.uniform(-1, 1, (8, 2)).astype("float32")
    loss = train_model.train_on_batch(xb, yb)
    steps.append({"x": arr(xb), "y": arr(yb), "loss": float(loss), "weights": weights_of(train_model)})
cases.append({"name": "train_sgd", "source": TRAIN_SOURCE, "weights": start, "steps": steps})

path = os.path.join("compiler", "tests", "keras", "norm.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump({"keras": keras.__version__, "backend": keras.backend.backend(), "cases": cases}, f, indent=1)
print(f"wrote {path}")
