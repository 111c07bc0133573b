#!/usr/bin/env python3
"""Reference trainer for W4, the IMDB LSTM, in JAX, PyTorch or Keras, for side-by-side benchmarks.

  imdb_lstm.py --framework jax|torch|keras --data reviews.npz [--batch 128] [--epochs 2] [--threads N]

Network (Deep Learning with Python, ch. 6): embedding(10000, 32) -> LSTM(32) over all 200 steps, last state
-> dense(1, sigmoid); binary cross-entropy; RMSprop(lr 1e-3, rho 0.9, eps 1e-7) as Keras defines it;
uniform(-0.05, 0.05) embeddings, glorot-uniform input kernels, orthogonal recurrent kernels, zero biases with
the forget gate's at 1; shuffled each epoch.
Data: the `.npz` `nn bench` writes (int32 `x_train` [n, 200], `y_train` [n], `x_test`, `y_test`), so every
framework trains on exactly the reviews nn trains on.
Prints one JSON line per epoch: {"framework", "epoch", "train_seconds", "loss", "test_accuracy",
"predict_seconds"}; predict_seconds is one call over the whole test split as one batch, after a warm-up call.
"""
import argparse, json, os, time
import numpy as np

VOCAB, DIM, UNITS = 10000, 32, 32


def init(seed=0):
    """Keras's layout: kernels [in, 4*units] with gates i, f, c, o."""
    rng = np.random.default_rng(seed)
    emb = rng.uniform(-0.05, 0.05, (VOCAB, DIM)).astype(np.float32)
    lim = np.sqrt(6 / (DIM + 4 * UNITS))
    kernel = rng.uniform(-lim, lim, (DIM, 4 * UNITS)).astype(np.float32)
    q, r = np.linalg.qr(rng.normal(size=(4 * UNITS, UNITS)))
    recurrent = (q * np.sign(np.diag(r))).T.astype(np.float32)
    bias = np.zeros(4 * UNITS, np.float32)
    bias[UNITS:2 * UNITS] = 1.0
    lim = np.sqrt(6 / (UNITS + 1))
    dense = rng.uniform(-lim, lim, (UNITS, 1)).astype(np.float32)
    return [emb, kernel, recurrent, bias, dense, np.zeros(1, np.float32)]


def run_jax(a, params):
    import jax, jax.numpy as jnp
    from jax import lax
    p = [jnp.asarray(t) for t in params]

    def forward(p, ids):
        emb, kernel, recurrent, bias, dense, dbias = p
        xs = jnp.swapaxes(emb[ids] @ kernel + bias, 0, 1)  # [steps, batch, 4*units]
        def cell(carry, x):
            h, c = carry
            z = x + h @ recurrent
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None
        zero = jnp.zeros((ids.shape[0], UNITS), jnp.float32)
        (h, _), _ = lax.scan(cell, (zero, zero), xs)
        return (h @ dense + dbias)[:, 0]

    def loss(p, x, y):
        z = forward(p, x)
        return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))

    @jax.jit
    def step(p, v, x, y):
        l, g = jax.value_and_grad(loss)(p, x, y)
        v = [0.9 * vv + 0.1 * gg * gg for vv, gg in zip(v, g)]
        p = [w - 1e-3 * gg / (jnp.sqrt(vv) + 1e-7) for w, gg, vv in zip(p, g, v)]
        return p, v, l

    v = [jnp.zeros_like(t) for t in p]
    predict = jax.jit(lambda p, x: jax.nn.sigmoid(forward(p, x)))

    def epoch(xs, ys):
        nonlocal p, v
        for i in range(len(xs) // a.batch):
            sl = slice(i * a.batch, (i + 1) * a.batch)
            p, v, l = step(p, v, xs[sl], ys[sl].astype(np.float32))
        return float(l)
    return epoch, lambda x: np.asarray(predict(p, x))


def run_torch(a, params):
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    emb, kernel, recurrent, bias, dense, dbias = params

    def torch_gates(m):
        """Keras's gate order i, f, c, o is PyTorch's i, f, g, o: only the layout differs."""
        return torch.from_numpy(np.ascontiguousarray(m.T))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, DIM)
            self.lstm = torch.nn.LSTM(DIM, UNITS, batch_first=True)
            self.out = torch.nn.Linear(UNITS, 1)
            with torch.no_grad():
                self.emb.weight.copy_(torch.from_numpy(emb))
                self.lstm.weight_ih_l0.copy_(torch_gates(kernel))
                self.lstm.weight_hh_l0.copy_(torch_gates(recurrent))
                self.lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
                self.lstm.bias_hh_l0.zero_()
                self.out.weight.copy_(torch.from_numpy(dense.T.copy()))
                self.out.bias.copy_(torch.from_numpy(dbias))

        def forward(self, x):
            _, (h, _) = self.lstm(self.emb(x))
            return self.out(h[-1])[:, 0]

    model = Net()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    lossf = torch.nn.BCEWithLogitsLoss()

    def epoch(xs, ys):
        xs = torch.from_numpy(xs.astype(np.int64)); ys = torch.from_numpy(ys.astype(np.float32))
        for i in range(len(xs) // a.batch):
            sl = slice(i * a.batch, (i + 1) * a.batch)
            opt.zero_grad(set_to_none=True); l = lossf(model(xs[sl]), ys[sl]); l.backward(); opt.step()
        return l.item()

    def predict(x):
        with torch.no_grad():
            return torch.sigmoid(model(torch.from_numpy(x.astype(np.int64)))).numpy()
    return epoch, predict


def run_keras(a, params):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    L = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((None,), dtype="int32"), L.Embedding(VOCAB, DIM), L.LSTM(UNITS),
                                 L.Dense(1, activation="sigmoid")])
    model.set_weights(params)
    model.compile(optimizer=tf.keras.optimizers.RMSprop(1e-3), loss="binary_crossentropy")

    def epoch(xs, ys):
        h = model.fit(xs, ys, batch_size=a.batch, epochs=1, shuffle=False, verbose=0)
        return h.history["loss"][-1]
    return epoch, lambda x: np.asarray(model.predict_on_batch(x))[:, 0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--framework", required=True, choices=["jax", "torch", "keras"])
    p.add_argument("--data", required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2); p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    with np.load(a.data) as d:
        xtr, ytr, xte, yte = (d[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    epoch, predict = {"jax": run_jax, "torch": run_torch, "keras": run_keras}[a.framework](a, init())
    rng = np.random.default_rng(1)
    for e in range(a.epochs):
        perm = rng.permutation(len(xtr)); xs = np.ascontiguousarray(xtr[perm]); ys = ytr[perm]
        t0 = time.perf_counter(); l = epoch(xs, ys); dt = time.perf_counter() - t0
        acc = float(((predict(xte) > 0.5) == (yte == 1)).mean())
        t0 = time.perf_counter(); predict(xte); pt = time.perf_counter() - t0
        print(json.dumps({"framework": a.framework, "epoch": e + 1, "train_seconds": round(dt, 4), "loss": round(l, 5),
                          "test_accuracy": round(acc, 4), "predict_seconds": round(pt, 5)}), flush=True)


if __name__ == "__main__":
    main()
