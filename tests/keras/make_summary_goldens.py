"""Keras 3 reference for `summary()` of a functional model with a shared
layer and two outputs: the two-tower model of docs/language.md.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_summary_goldens.py

It writes runtime/tests/keras/two_towers.summary, which runtime/tests/summary.rs
compares with `Model::summary()` of the same `.nn` model row by row (the Rust
tests do not need Python). Layers keep Keras's automatic names (`dense`,
`dense_1`, `concatenate`), which are also the names `.nn` gives them.
"""
import contextlib
import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras

a = keras.Input((32,), name="a")
b = keras.Input((32,), name="b")
shared = keras.layers.Dense(16, activation="relu")  # one layer, one set of weights
h1 = shared(a)
h2 = shared(b)  # same weights as h1
m = keras.layers.Concatenate()([h1, h2])
out = keras.layers.Dense(1, activation="sigmoid")(m)
score = keras.layers.Dense(3)(m)
model = keras.Model([a, b], [out, score], name="two_towers")

buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    model.summary()
text = buffer.getvalue()
with open("runtime/tests/keras/two_towers.summary", "w") as f:
    f.write(text)
print(text, end="")
