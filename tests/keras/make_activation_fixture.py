"""Keras 3 reference for activations, activation layers and noise layers:
fixed inputs in, Keras's outputs out.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_activation_fixture.py

It writes compiler/tests/keras/activations.json, which
compiler/tests/activation_layers.rs reads (the Rust tests do not need Python).
Noise layers draw Keras's own random numbers, which nn cannot reproduce; their
training outputs are stored so the tests can check that every Keras value is
one nn can produce for that element (kept or dropped), not equality.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np
from keras.src.utils.naming import to_snake_case

# Keras computes in float64 here, as nn's reference interpreter does in the
# tests: in float32, formulas such as gelu's 1 + tanh(z) lose digits to
# cancellation and would only agree to about 1e-5.
keras.config.set_floatx("float64")

rng = np.random.RandomState(20261206)

# One batch of 4 samples of 6 features, with zero, large and tiny values.
x = rng.uniform(-3.0, 3.0, (4, 6))
x[0, :] = [-8.0, -1.0, 0.0, 1e-3, 1.0, 8.0]
x[1, 0] = -20.0
x[1, 1] = 20.0
images = rng.uniform(-2.0, 2.0, (2, 3, 3, 4))


def values(a):
    return np.asarray(a, dtype="float64").tolist()


ACTIVATIONS = [
    "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "gelu", "softplus",
    "softsign", "leaky_relu", "swish", "silu", "relu6", "hard_sigmoid", "mish", "exponential",
]
# `activation("name")`: Keras's Activation layer with the function's defaults.
activation_layer = {name: values(keras.layers.Activation(name)(x)) for name in ACTIVATIONS}

# Functions with arguments, as `name(x, …)` in `.nn`.
functions = {
    "leaky_relu(x, negative_slope = 0.1)": values(keras.activations.leaky_relu(x, negative_slope=0.1)),
    "elu(x, alpha = 0.5)": values(keras.activations.elu(x, alpha=0.5)),
    "gelu(x, approximate = true)": values(keras.activations.gelu(x, approximate=True)),
    "softmax(x, axis = 0)": values(keras.activations.softmax(x, axis=0)),
    "log_softmax(x, axis = 0)": values(keras.activations.log_softmax(x, axis=0)),
}

# Layers with their own classes, written as `.nn` statements.
layers = {
    "leaky_relu": values(keras.layers.LeakyReLU()(x)),
    "leaky_relu(negative_slope = 0.1)": values(keras.layers.LeakyReLU(negative_slope=0.1)(x)),
    "elu": values(keras.layers.ELU()(x)),
    "elu(alpha = 0.5)": values(keras.layers.ELU(alpha=0.5)(x)),
}
for cls in ["GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout2D"]:
    layer = getattr(keras.layers, cls)(0.3)
    src = images if cls == "SpatialDropout2D" else x
    assert np.array_equal(np.asarray(layer(src, training=False)), src), f"{cls} is not the identity at inference"

# PReLU with given slopes: one per feature, and shared over height and width.
alpha = rng.uniform(-0.5, 0.9, (6,))
prelu = keras.layers.PReLU()
prelu.build((None, 6))
prelu.set_weights([alpha])
alpha_img = rng.uniform(0.0, 0.9, (1, 1, 4))
prelu_img = keras.layers.PReLU(shared_axes=[1, 2])
prelu_img.build((None, 3, 3, 4))
prelu_img.set_weights([alpha_img])

# One SGD step (learning rate 0.1, mse) on a model that is only a PReLU.
target = rng.uniform(-1.0, 1.0, (4, 6))
inp = keras.Input((6,))
model = keras.Model(inp, keras.layers.PReLU(name="p_re_lu")(inp))
model.get_layer("p_re_lu").set_weights([alpha])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
loss = model.train_on_batch(x, target)
alpha_after = model.get_layer("p_re_lu").get_weights()[0]

# Noise layers in training mode: Keras's random draws, for membership checks.
noise = {
    "alpha_dropout(0.3)": values(keras.layers.AlphaDropout(0.3, seed=1)(x, training=True)),
    "spatial_dropout2d(0.5)": values(keras.layers.SpatialDropout2D(0.5, seed=1)(images, training=True)),
}

classes = [
    "LeakyReLU", "ELU", "PReLU", "Activation", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
]
fixture = {
    "keras_version": keras.__version__,
    "x": values(x),
    "images": values(images),
    "activation_layer": activation_layer,
    "functions": functions,
    "layers": layers,
    "prelu": {
        "alpha": values(alpha),
        "y": values(prelu(x)),
        "alpha_images": values(alpha_img),
        "y_images": values(prelu_img(images)),
        "target": values(target),
        "sgd_loss": float(loss),
        "alpha_after_sgd": values(alpha_after),
    },
    "noise": noise,
    "instance_names": {c: to_snake_case(c) for c in classes},
}
with open("compiler/tests/keras/activations.json", "w") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
print(keras.__version__, fixture["instance_names"], loss)
