"""Writes compiler/tests/keras/optimizers.json: a Dense(3) layer on 4 inputs
trained by Keras 3 for 3 full-batch steps of mean squared error, in float64,
for every optimizer configuration nn implements (algorithms, weight decay,
gradient clipping, schedules, exponential moving averages); the weights and
the optimizer's slot variables after the steps, the rate of each step when a
schedule sets it, and with `use_ema` the weights after `fit` finalizes them. Also compiler/tests/keras/schedules.json: learning rates of Keras's
schedules by step. Run from the repository root with a Python that has
Keras 3:

    python tests/keras/make_optimizer_fixtures.py
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import keras  # noqa: E402

keras.config.set_floatx("float64")
O = keras.optimizers
S = keras.optimizers.schedules

rng = np.random.default_rng(99)
X = rng.uniform(-1.0, 1.0, (5, 4))
Y = rng.uniform(-1.0, 1.0, (5, 3))
KERNEL = rng.uniform(-0.8, 0.8, (4, 3))
BIAS = rng.uniform(-0.2, 0.2, (3,))
STEPS = 3

# (nn optimizer text, Keras optimizer)
CASES = [
    ("nadam(learning_rate = 0.05)", lambda: O.Nadam(learning_rate=0.05)),
    ("nadam(learning_rate = 0.02, beta_1 = 0.8, beta_2 = 0.9, epsilon = 1e-5)", lambda: O.Nadam(0.02, 0.8, 0.9, 1e-5)),
    ("adamw(learning_rate = 0.05)", lambda: O.AdamW(learning_rate=0.05)),
    ("adamw(learning_rate = 0.05, weight_decay = 0.1, amsgrad = true)", lambda: O.AdamW(0.05, weight_decay=0.1, amsgrad=True)),
    ("adamax(learning_rate = 0.05)", lambda: O.Adamax(learning_rate=0.05)),
    ("adamax(learning_rate = 0.05, beta_1 = 0.7, beta_2 = 0.95)", lambda: O.Adamax(0.05, 0.7, 0.95)),
    ("lion(learning_rate = 0.01)", lambda: O.Lion(learning_rate=0.01)),
    ("lion(learning_rate = 0.01, beta_1 = 0.5, beta_2 = 0.9)", lambda: O.Lion(0.01, 0.5, 0.9)),
    ("sgd(learning_rate = 0.1, weight_decay = 0.05)", lambda: O.SGD(0.1, weight_decay=0.05)),
    ("sgd(learning_rate = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01)", lambda: O.SGD(0.1, 0.9, True, weight_decay=0.01)),
    ("adam(learning_rate = 0.05, weight_decay = 0.02)", lambda: O.Adam(0.05, weight_decay=0.02)),
    ("rmsprop(learning_rate = 0.01, weight_decay = 0.03)", lambda: O.RMSprop(0.01, weight_decay=0.03)),
    ("sgd(learning_rate = 0.1, clipnorm = 0.3)", lambda: O.SGD(0.1, clipnorm=0.3)),
    ("sgd(learning_rate = 0.1, clipvalue = 0.05)", lambda: O.SGD(0.1, clipvalue=0.05)),
    ("sgd(learning_rate = 0.1, global_clipnorm = 0.4)", lambda: O.SGD(0.1, global_clipnorm=0.4)),
    ("adam(learning_rate = 0.05, clipnorm = 0.2)", lambda: O.Adam(0.05, clipnorm=0.2)),
    ("adagrad(learning_rate = 0.1, global_clipnorm = 0.5)", lambda: O.Adagrad(0.1, global_clipnorm=0.5)),
    ("adadelta(learning_rate = 1.0, clipvalue = 0.1)", lambda: O.Adadelta(1.0, clipvalue=0.1)),
    ("nadam(learning_rate = 0.05, clipnorm = 0.5, weight_decay = 0.01)", lambda: O.Nadam(0.05, clipnorm=0.5, weight_decay=0.01)),
    ("lion(learning_rate = 0.01, global_clipnorm = 0.1)", lambda: O.Lion(0.01, global_clipnorm=0.1)),
    ("adamw(learning_rate = 0.05, clipvalue = 0.02)", lambda: O.AdamW(0.05, clipvalue=0.02)),
    ("ftrl", lambda: O.Ftrl()),
    ("ftrl(learning_rate = 0.2)", lambda: O.Ftrl(learning_rate=0.2)),
    (
        "ftrl(learning_rate = 0.2, learning_rate_power = -0.7, initial_accumulator_value = 0.3, "
        "l1_regularization_strength = 0.01, l2_regularization_strength = 0.02, "
        "l2_shrinkage_regularization_strength = 0.05, beta = 0.4)",
        lambda: O.Ftrl(0.2, -0.7, 0.3, 0.01, 0.02, 0.05, 0.4),
    ),
    ("ftrl(learning_rate = 0.2, l1_regularization_strength = 0.05)", lambda: O.Ftrl(0.2, l1_regularization_strength=0.05)),
    ("ftrl(learning_rate = 0.2, clipnorm = 0.3, weight_decay = 0.05)", lambda: O.Ftrl(0.2, clipnorm=0.3, weight_decay=0.05)),
    # A schedule: the case records the rate of each step for the test to feed.
    ("ftrl(learning_rate = 0.2, beta = 0.1)", lambda: O.Ftrl(S.ExponentialDecay(0.2, 1, 0.5), beta=0.1)),
    ("adam(learning_rate = 0.05, use_ema = true)", lambda: O.Adam(0.05, use_ema=True)),
    (
        "sgd(learning_rate = 0.1, momentum = 0.9, use_ema = true, ema_momentum = 0.5, ema_overwrite_frequency = 2)",
        lambda: O.SGD(0.1, 0.9, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2),
    ),
    ("ftrl(learning_rate = 0.2, use_ema = true, ema_momentum = 0.8)", lambda: O.Ftrl(0.2, use_ema=True, ema_momentum=0.8)),
]


def run(spec, make):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.set_weights([KERNEL, BIAS])
    opt = make()
    model.compile(optimizer=opt, loss="mse")
    losses = [float(model.train_on_batch(X, Y)) for _ in range(STEPS)]
    slots = [
        {"name": v.name, "value": np.asarray(v.numpy()).ravel().tolist()}
        for v in opt.variables
        if v.name not in ("iteration", "iterations", "learning_rate")
    ]
    kernel, bias = model.get_weights()
    case = {
        "optimizer": spec,
        "losses": losses,
        "kernel": kernel.ravel().tolist(),
        "bias": bias.ravel().tolist(),
        "slots": slots,
    }
    if isinstance(opt._learning_rate, S.LearningRateSchedule):
        case["learning_rates"] = [float(opt._learning_rate(step)) for step in range(STEPS)]
    if opt.use_ema:
        # What the end of `fit` does: the weights become their averages.
        opt.finalize_variable_values(model.trainable_variables)
        kernel, bias = model.get_weights()
        case["finalized"] = {"kernel": kernel.ravel().tolist(), "bias": bias.ravel().tolist()}
    return case


SCHEDULES = [
    ("cosine_decay(decay_steps = 10)", 0.1, lambda: S.CosineDecay(0.1, 10)),
    ("cosine_decay(decay_steps = 10, alpha = 0.2)", 0.1, lambda: S.CosineDecay(0.1, 10, alpha=0.2)),
    (
        "cosine_decay(decay_steps = 10, alpha = 0.1, warmup_target = 0.5, warmup_steps = 4)",
        0.1,
        lambda: S.CosineDecay(0.1, 10, alpha=0.1, warmup_target=0.5, warmup_steps=4),
    ),
    (
        "piecewise_constant_decay(boundaries = [3, 7], values = [0.5, 0.2, 0.05])",
        0.5,
        lambda: S.PiecewiseConstantDecay([3, 7], [0.5, 0.2, 0.05]),
    ),
    ("inverse_time_decay(decay_steps = 4, decay_rate = 0.5)", 0.1, lambda: S.InverseTimeDecay(0.1, 4, 0.5)),
    (
        "inverse_time_decay(decay_steps = 4, decay_rate = 0.5, staircase = true)",
        0.1,
        lambda: S.InverseTimeDecay(0.1, 4, 0.5, staircase=True),
    ),
]


def schedule(spec, initial, make):
    s = make()
    return {
        "schedule": spec,
        "learning_rate": initial,
        "rates": [float(np.asarray(s(step))) for step in range(20)],
    }


def main():
    meta = {"keras": keras.__version__, "backend": keras.backend.backend()}
    out = dict(meta, x=X.tolist(), y=Y.tolist(), kernel=KERNEL.ravel().tolist(), bias=BIAS.tolist(), steps=STEPS)
    out["cases"] = [run(*c) for c in CASES]
    path = os.path.join("compiler", "tests", "keras", "optimizers.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(out['cases'])} cases")
    sched = dict(meta, cases=[schedule(*c) for c in SCHEDULES])
    path = os.path.join("runtime", "tests", "keras", "schedules.json")
    with open(path, "w") as f:
        json.dump(sched, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(sched['cases'])} cases")


if __name__ == "__main__":
    main()
