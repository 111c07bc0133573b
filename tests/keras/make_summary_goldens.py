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

# The Fashion-MNIST CNN with batch normalization (examples/fashion_cnn_bn.nn):
# Keras's trainable / non-trainable split of BatchNormalization's weights.
# A fresh session restarts Keras's layer-name counters (`dense`, not `dense_3`).
keras.backend.clear_session()
image = keras.Input((28, 28), name="image")
h = keras.layers.Reshape((28, 28, 1))(image)
for filters in (32, 64):
    h = keras.layers.Conv2D(filters, 3, padding="same")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.MaxPooling2D()(h)
h = keras.layers.Flatten()(h)
h = keras.layers.Dense(128, activation="relu")(h)
out = keras.layers.Dense(10, activation="softmax")(h)
cnn = keras.Sequential([image] + [layer for layer in keras.Model(image, out).layers[1:]], name="fashion_cnn_bn")

buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    cnn.summary()
text = buffer.getvalue()
with open("runtime/tests/keras/fashion_cnn_bn.summary", "w") as f:
    f.write(text)
print(text, end="")

# Every other normalization layer, with Keras 3's weights (Normalization
# keeps an int64 `count` besides mean and variance: 8 bytes in the size).
keras.backend.clear_session()
x = keras.Input((4, 6), name="x")
h = keras.layers.Rescaling(0.5, offset=1.0)(x)
h = keras.layers.Normalization()(h)
h = keras.layers.LayerNormalization()(h)
h = keras.layers.GroupNormalization(groups=3)(h)
h = keras.layers.UnitNormalization()(h)
norms = keras.Sequential([x] + [layer for layer in keras.Model(x, h).layers[1:]], name="norms")
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    norms.summary()
text = buffer.getvalue()
with open("runtime/tests/keras/norms.summary", "w") as f:
    f.write(text)
print(text, end="")

# The encoder-decoder of the Keras seq2seq tutorial on token ids: the
# encoder's final states start the decoder (`return_state`, `initial_state`).
keras.backend.clear_session()
enc_in = keras.Input((7,), dtype="int32", name="enc_in")
dec_in = keras.Input((6,), dtype="int32", name="dec_in")
enc = keras.layers.Embedding(12, 16)(enc_in)
dec = keras.layers.Embedding(12, 16)(dec_in)
_, h, c = keras.layers.LSTM(64, return_state=True)(enc)
seq = keras.layers.LSTM(64, return_sequences=True)(dec, initial_state=[h, c])
probs = keras.layers.TimeDistributed(keras.layers.Dense(12, activation="softmax"))(seq)
seq2seq = keras.Model([enc_in, dec_in], probs, name="seq2seq")
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    seq2seq.summary()
text = buffer.getvalue()
with open("runtime/tests/keras/seq2seq.summary", "w") as f:
    f.write(text)
print(text, end="")
