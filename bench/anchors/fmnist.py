#!/usr/bin/env python3
"""Reference trainer: the same Fashion-MNIST networks in JAX, PyTorch or Keras, for side-by-side benchmarks.

  fmnist.py --framework jax|torch|keras [--model mlp|cnn] [--hidden 128] [--batch 32] [--epochs 3] [--threads N]

W1 (seed tutorial MLP):  --model mlp --hidden 128 --batch 32
W2 (6-layer MLP):        --model mlp --hidden 512,256,128,64,32 --batch 128
W3 (image tutorial CNN): --model cnn --batch 64
MLP: flatten 784 -> dense(h, relu)... -> dense(10).
CNN: conv 3x3x32 relu -> max pool 2 -> conv 3x3x64 relu -> max pool 2 -> flatten -> dense(64, relu) -> dense(10),
NHWC (PyTorch runs its native NCHW and flattens in NHWC order, so all three share one set of weights).
Both: softmax cross-entropy on integer labels, Adam(lr 1e-3, beta1 .9, beta2 .999, eps 1e-7),
glorot-uniform weights, zero biases, shuffled each epoch.
Prints one JSON line per epoch: {"framework", "epoch", "train_seconds", "loss", "test_accuracy",
"predict_seconds"}; predict_seconds is one call over all 10,000 test images as one batch, after a warm-up call.
Data: IDX gz files from $NN_DATA/fashion-mnist or /usr/share/datasets/fashion-mnist (Debian package
dataset-fashion-mnist).
"""
import argparse, gzip, json, os, time
import numpy as np

def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)

def load():
    roots = [os.path.join(os.environ.get("NN_DATA", ""), "fashion-mnist"), "/usr/share/datasets/fashion-mnist"]
    d = next(r for r in roots if os.path.exists(os.path.join(r, "train-images-idx3-ubyte.gz")))
    f = lambda n: idx(os.path.join(d, n))
    xtr = f("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    xte = f("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    return xtr, f("train-labels-idx1-ubyte.gz").astype(np.int64), xte, f("t10k-labels-idx1-ubyte.gz").astype(np.int64)

def glorot(rng, i, o):
    lim = np.sqrt(6 / (i + o))
    return rng.uniform(-lim, lim, (i, o)).astype(np.float32)

def init(dims, seed=0):
    rng = np.random.default_rng(seed)
    return [(glorot(rng, dims[i], dims[i + 1]), np.zeros(dims[i + 1], np.float32)) for i in range(len(dims) - 1)]

def conv_kernel(rng, kh, kw, c, f):
    lim = np.sqrt(6 / (kh * kw * c + kh * kw * f))
    return rng.uniform(-lim, lim, (kh, kw, c, f)).astype(np.float32)

def init_cnn(seed=0):
    """HWIO kernels and [in, out] dense weights, as Keras stores them."""
    rng = np.random.default_rng(seed)
    z = lambda n: np.zeros(n, np.float32)
    return [(conv_kernel(rng, 3, 3, 1, 32), z(32)), (conv_kernel(rng, 3, 3, 32, 64), z(64)),
            (glorot(rng, 1600, 64), z(64)), (glorot(rng, 64, 10), z(10))]

def adam_step(jnp, p, m, v, t, g):
    t = t + 1
    m = [0.9 * a_ + 0.1 * b for a_, b in zip(m, g)]
    v = [0.999 * a_ + 0.001 * b * b for a_, b in zip(v, g)]
    p = [w - 1e-3 * (mm / (1 - 0.9 ** t)) / (jnp.sqrt(vv / (1 - 0.999 ** t)) + 1e-7) for w, mm, vv in zip(p, m, v)]
    return p, m, v, t

def run_jax(a, data, params):
    import jax, jax.numpy as jnp
    from jax import lax
    flat = [jnp.asarray(t) for wb in params for t in wb]
    def mlp(p, x):
        for i in range(0, len(p) - 2, 2):
            x = jax.nn.relu(x @ p[i] + p[i + 1])
        return x @ p[-2] + p[-1]
    def cnn(p, x):
        x = x.reshape(-1, 28, 28, 1)
        for i in (0, 2):
            x = lax.conv_general_dilated(x, p[i], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = jax.nn.relu(x + p[i + 1])
            x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        x = jax.nn.relu(x.reshape(x.shape[0], -1) @ p[4] + p[5])
        return x @ p[6] + p[7]
    fwd = cnn if a.model == "cnn" else mlp
    def loss(p, x, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(fwd(p, x)), y[:, None], 1))
    @jax.jit
    def step(p, m, v, t, x, y):
        l, g = jax.value_and_grad(loss)(p, x, y)
        p, m, v, t = adam_step(jnp, p, m, v, t, g)
        return p, m, v, t, l
    m = [jnp.zeros_like(t) for t in flat]; v = [jnp.zeros_like(t) for t in flat]; t = jnp.array(0.0)
    predict = jax.jit(fwd)
    def epoch(xs, ys):
        nonlocal flat, m, v, t
        for i in range(len(xs) // a.batch):
            sl = slice(i * a.batch, (i + 1) * a.batch)
            flat, m, v, t, l = step(flat, m, v, t, xs[sl], ys[sl].astype(np.int32))
        return float(l)
    return epoch, lambda x: np.asarray(predict(flat, x))

def run_torch(a, data, params):
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    def linear(w, b):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy())); lin.bias.copy_(torch.from_numpy(b))
        return lin
    def conv(k, b):
        c = torch.nn.Conv2d(k.shape[2], k.shape[3], k.shape[:2])
        with torch.no_grad():
            c.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy())); c.bias.copy_(torch.from_numpy(b))
        return c
    class NhwcFlatten(torch.nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)
    if a.model == "cnn":
        (k1, b1), (k2, b2), (w3, b3), (w4, b4) = params
        R, P = torch.nn.ReLU, lambda: torch.nn.MaxPool2d(2)
        model = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 28, 28)), conv(k1, b1), R(), P(), conv(k2, b2), R(), P(),
                                    NhwcFlatten(), linear(w3, b3), R(), linear(w4, b4))
    else:
        layers = []
        for i, (w, b) in enumerate(params):
            layers += [linear(w, b)] + ([torch.nn.ReLU()] if i < len(params) - 1 else [])
        model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    lossf = torch.nn.CrossEntropyLoss()
    def epoch(xs, ys):
        xs = torch.from_numpy(xs); ys = torch.from_numpy(ys)
        for i in range(len(xs) // a.batch):
            sl = slice(i * a.batch, (i + 1) * a.batch)
            opt.zero_grad(set_to_none=True); l = lossf(model(xs[sl]), ys[sl]); l.backward(); opt.step()
        return l.item()
    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()
    return epoch, predict

def run_keras(a, data, params):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    L = tf.keras.layers
    if a.model == "cnn":
        model = tf.keras.Sequential([tf.keras.Input((784,)), L.Reshape((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                                     L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                                     L.Dense(64, activation="relu"), L.Dense(10)])
    else:
        model = tf.keras.Sequential([tf.keras.Input((784,))] + [L.Dense(w.shape[1], activation="relu" if i < len(params) - 1 else None) for i, (w, _) in enumerate(params)])
    model.set_weights([t for wb in params for t in wb])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    def epoch(xs, ys):
        h = model.fit(xs, ys, batch_size=a.batch, epochs=1, shuffle=False, verbose=0)
        return h.history["loss"][-1]
    return epoch, lambda x: np.asarray(model.predict_on_batch(x))

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--framework", required=True, choices=["jax", "torch", "keras"])
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--hidden", default="128"); p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3); p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    xtr, ytr, xte, yte = load()
    params = init_cnn() if a.model == "cnn" else init([784] + [int(h) for h in a.hidden.split(",")] + [10])
    epoch, predict = {"jax": run_jax, "torch": run_torch, "keras": run_keras}[a.framework](a, None, params)
    rng = np.random.default_rng(1)
    for e in range(a.epochs):
        perm = rng.permutation(len(xtr)); xs = np.ascontiguousarray(xtr[perm]); ys = ytr[perm]
        t0 = time.perf_counter(); l = epoch(xs, ys); dt = time.perf_counter() - t0
        acc = float((predict(xte).argmax(1) == yte).mean())
        t0 = time.perf_counter(); predict(xte); pt = time.perf_counter() - t0
        print(json.dumps({"framework": a.framework, "epoch": e + 1, "train_seconds": round(dt, 4), "loss": round(l, 5),
                          "test_accuracy": round(acc, 4), "predict_seconds": round(pt, 5)}), flush=True)

if __name__ == "__main__":
    main()
