"""Keras 3 reference for `return_state` and `initial_state` of the recurrent
layers: LSTM, GRU (both reset_after variants), SimpleRNN and Bidirectional,
each called on a sequence and on given initial states (model inputs), with
fixed random weights; the model outputs the layer's output and every final
state. Three cases mask padded steps (`Embedding(mask_zero=True)`), so the
states are the last real step's.

Run from the repository root with a Python that has Keras 3 (any backend):

    python tests/keras/make_recurrent_state_fixture.py

It writes compiler/tests/keras/recurrent_state.json, which
compiler/tests/recurrent_state.rs reads. Each case carries its whole `.nn`
model; inputs are listed in the model's input order, outputs in its output
order, weights under the `.nn` variable names.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

rng = np.random.RandomState(20261207)
L = keras.layers
B, T, F = 3, 5, 3


def arr(a, dtype="float32"):
    a = np.asarray(a, dtype=dtype)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def nn_name(w):
    return "/".join(p for p in w.path.split("/") if not p.endswith("_cell"))


def case(name, source, build, state_units, masked=False):
    """`build(x, states)` returns the layer's results; `state_units` lists
    the units of each initial state (model inputs after the sequence)."""
    keras.utils.clear_session()
    if masked:
        x_in = keras.Input((T + 1,), dtype="int32", name="ids")
        seq = L.Embedding(10, F, mask_zero=True)(x_in)
    else:
        x_in = keras.Input((T, F), name="x")
        seq = x_in
    s_in = [keras.Input((u,), name=f"s{i}") for i, u in enumerate(state_units)]
    # Keras 3 drops the Embedding's mask when a functional call also passes
    # `initial_state`; passing it explicitly keeps Keras's masked semantics
    # (states of the last real step), which nn follows.
    kw = {"mask": keras.ops.not_equal(x_in, 0)} if masked else {}
    results = build(seq, s_in, **kw)
    model = keras.Model([x_in] + s_in, results)
    weights = {}
    for lay in model.layers:
        values = [rng.uniform(-0.7, 0.7, tuple(w.shape)).astype("float32") for w in lay.weights]
        if values:
            lay.set_weights(values)
        for w in lay.weights:
            weights[nn_name(w)] = arr(keras.ops.convert_to_numpy(w))
    if masked:
        # Post-padding of different lengths, one sample unpadded.
        x = rng.randint(1, 10, (B, T + 1))
        x[0, 4:] = 0
        x[1, 2:] = 0
        inputs = [arr(x, "int32")]
    else:
        x = rng.uniform(-1.5, 1.5, (B, T, F)).astype("float32")
        inputs = [arr(x)]
    states = [rng.uniform(-1, 1, (B, u)).astype("float32") for u in state_units]
    inputs += [arr(s) for s in states]
    feed = [x] + states
    out = model(feed, training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return {
        "name": name,
        "source": source,
        "weights": weights,
        "inputs": inputs,
        "outputs": [arr(keras.ops.convert_to_numpy(o)) for o in out],
    }


def nn_model(layer_inputs, body, outputs):
    return "model m {\n" + layer_inputs + "\n" + body + "\n  output " + outputs + "\n}\n"


SEQ = "  input x: [%d, %d]" % (T, F)
MASKED = "  input ids: [%d] int\n  e = embedding(10, %d, mask_zero = true)(ids)" % (T + 1, F)


def states_decl(units):
    return "\n".join(f"  input s{i}: [{u}]" for i, u in enumerate(units))


CASES = [
    ("lstm sequences and states", SEQ,
     "seq, h, c = lstm(4, return_sequences = true, return_state = true)(x, initial_state = [s0, s1])",
     "seq, h, c", [4, 4],
     lambda x, s, **kw: L.LSTM(4, return_sequences=True, return_state=True)(x, initial_state=s, **kw)),
    ("lstm states from zeros", SEQ,
     "out, h, c = lstm(4, return_state = true)(x)", "out, h, c", [],
     lambda x, s, **kw: L.LSTM(4, return_state=True)(x, **kw)),
    ("gru states", SEQ,
     "out, h = gru(4, return_state = true)(x, initial_state = [s0])", "out, h", [4],
     lambda x, s, **kw: L.GRU(4, return_state=True)(x, initial_state=s, **kw)),
    ("gru reset before, backwards", SEQ,
     "seq, h = gru(3, reset_after = false, go_backwards = true, return_sequences = true, return_state = true)"
     "(x, initial_state = s0)", "seq, h", [3],
     lambda x, s, **kw: L.GRU(3, reset_after=False, go_backwards=True, return_sequences=True, return_state=True)(
         x, initial_state=s)),
    ("simple_rnn initial state only", SEQ,
     "y = simple_rnn(4, return_sequences = true)(x, initial_state = [s0])", "y", [4],
     lambda x, s, **kw: L.SimpleRNN(4, return_sequences=True)(x, initial_state=s, **kw)),
    ("bidirectional lstm", SEQ,
     "seq, fh, fc, bh, bc = bidirectional(lstm(3, return_sequences = true, return_state = true))"
     "(x, initial_state = [s0, s1, s2, s3])", "seq, fh, fc, bh, bc", [3, 3, 3, 3],
     lambda x, s, **kw: L.Bidirectional(L.LSTM(3, return_sequences=True, return_state=True))(x, initial_state=s, **kw)),
    ("bidirectional gru sum", SEQ,
     "out, fh, bh = bidirectional(gru(3, return_state = true), merge_mode = sum)(x, initial_state = [s0, s1])",
     "out, fh, bh", [3, 3],
     lambda x, s, **kw: L.Bidirectional(L.GRU(3, return_state=True), merge_mode="sum")(x, initial_state=s, **kw)),
    ("masked lstm", MASKED,
     "seq, h, c = lstm(4, return_sequences = true, return_state = true)(e, initial_state = [s0, s1])",
     "seq, h, c", [4, 4],
     lambda x, s, **kw: L.LSTM(4, return_sequences=True, return_state=True)(x, initial_state=s, **kw)),
    ("masked gru states from zeros", MASKED,
     "out, h = gru(4, return_state = true)(e)", "out, h", [],
     lambda x, s, **kw: L.GRU(4, return_state=True)(x, **kw)),
    ("masked bidirectional gru", MASKED,
     "out, fh, bh = bidirectional(gru(3, return_state = true))(e, initial_state = [s0, s1])",
     "out, fh, bh", [3, 3],
     lambda x, s, **kw: L.Bidirectional(L.GRU(3, return_state=True))(x, initial_state=s, **kw)),
]


def main():
    cases = []
    for name, head, body, outs, units, build in CASES:
        source = nn_model(head + ("\n" + states_decl(units) if units else ""), "  " + body, outs)
        cases.append(case(name, source, build, units, masked=head is MASKED))
    out = {"keras_version": keras.__version__, "cases": cases}
    path = os.path.join("compiler", "tests", "keras", "recurrent_state.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
