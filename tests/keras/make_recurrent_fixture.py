"""Keras 3 reference for the recurrent layers: SimpleRNN, LSTM, GRU (both
reset_after variants), return_sequences, go_backwards and Bidirectional,
run on fixed inputs with fixed random weights; plus the parameter counts and
output shapes of each layer on `[200, 8]` inputs.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_recurrent_fixture.py

It writes compiler/tests/keras/recurrent.json, which compiler/tests/recurrent.rs
reads (the Rust tests do not need Python). Each case carries its `.nn` source;
weights are stored under the `.nn` variable names (Keras's layer name, then
the wrapped layer's name inside a Bidirectional, then the weight's name).
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

rng = np.random.RandomState(20261206)
L = keras.layers


def arr(a):
    a = np.asarray(a, dtype="float32")
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def nn_name(layer, w):
    # Keras 3 paths look like `bidirectional/forward_lstm/lstm_cell/kernel`;
    # nn names drop the cell: `bidirectional/forward_lstm/kernel`.
    parts = [p for p in w.path.split("/") if not p.endswith("_cell")]
    return "/".join(parts)


def case(name, source, layer, steps=5, features=3, batch=2):
    keras.utils.clear_session()
    x_in = keras.Input((steps, features))
    model = keras.Model(x_in, layer(x_in))
    weights = {}
    for lay in model.layers:
        values = [rng.uniform(-0.7, 0.7, tuple(w.shape)).astype("float32") for w in lay.weights]
        if values:
            lay.set_weights(values)
        for w in lay.weights:
            weights[nn_name(lay, w)] = arr(keras.ops.convert_to_numpy(w))
    x = rng.uniform(-1.5, 1.5, (batch, steps, features)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    return {"name": name, "source": source, "weights": weights, "input": arr(x), "output": arr(y)}


CASES = [
    ("simple_rnn", "simple_rnn(4)", lambda: L.SimpleRNN(4)),
    ("simple_rnn relu sequences", "simple_rnn(4, activation = relu, return_sequences = true)",
     lambda: L.SimpleRNN(4, activation="relu", return_sequences=True)),
    ("lstm", "lstm(4)", lambda: L.LSTM(4)),
    ("lstm sequences", "lstm(4, return_sequences = true)", lambda: L.LSTM(4, return_sequences=True)),
    ("lstm backwards sequences", "lstm(3, go_backwards = true, return_sequences = true)",
     lambda: L.LSTM(3, go_backwards=True, return_sequences=True)),
    ("lstm no bias", "lstm(4, use_bias = false)", lambda: L.LSTM(4, use_bias=False)),
    ("gru", "gru(4)", lambda: L.GRU(4)),
    ("gru reset before", "gru(4, reset_after = false)", lambda: L.GRU(4, reset_after=False)),
    ("gru backwards", "gru(4, go_backwards = true)", lambda: L.GRU(4, go_backwards=True)),
    ("bidirectional lstm", "bidirectional(lstm(4, return_sequences = true))",
     lambda: L.Bidirectional(L.LSTM(4, return_sequences=True))),
    ("bidirectional gru sum", "bidirectional(gru(3), merge_mode = sum)",
     lambda: L.Bidirectional(L.GRU(3), merge_mode="sum")),
    ("bidirectional simple_rnn ave", "bidirectional(simple_rnn(3, return_sequences = true), merge_mode = ave)",
     lambda: L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave")),
]

SHAPES = [
    ("simple_rnn(32)", lambda: L.SimpleRNN(32)),
    ("lstm(32)", lambda: L.LSTM(32)),
    ("gru(32)", lambda: L.GRU(32)),
    ("gru(32, reset_after = false)", lambda: L.GRU(32, reset_after=False)),
    ("lstm(32, return_sequences = true)", lambda: L.LSTM(32, return_sequences=True)),
    ("bidirectional(lstm(32))", lambda: L.Bidirectional(L.LSTM(32))),
    ("bidirectional(gru(16, return_sequences = true), merge_mode = mul)",
     lambda: L.Bidirectional(L.GRU(16, return_sequences=True), merge_mode="mul")),
]


def layer_info(source, make):
    keras.utils.clear_session()
    x_in = keras.Input((200, 8))
    layer = make()
    y = layer(x_in)
    model = keras.Model(x_in, y)
    names = sorted(nn_name(layer, w) for w in model.weights)
    return {"source": source, "params": int(model.count_params()), "output_shape": [d for d in y.shape[1:]],
            "weights": {nn_name(layer, w): list(w.shape) for w in model.weights}}


def main():
    out = {
        "keras_version": keras.__version__,
        "cases": [case(n, s, make()) for n, s, make in CASES],
        "layers": [layer_info(s, make) for s, make in SHAPES],
    }
    path = os.path.join("compiler", "tests", "keras", "recurrent.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(out['cases'])} cases, {len(out['layers'])} layer shapes")


if __name__ == "__main__":
    main()
