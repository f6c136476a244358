"""Where an eager PyTorch R-Drop step spends its time, call by call.

Wraps the calls of a training step that differ between the plain model at 2B
rows and `RDropModel` at B rows with wall-clock timers (the functional
model's graph, R-Drop's `call` and `compute_loss`, Keras' `compute_loss`,
R-Drop's fused divergence node, the backward pass) and trains both in `fit`,
interleaved, on the MLP 256-W-W-10 of bench/rdrop.py. Prints the median time
of each call per step. PyTorch only: eager execution is what lets a timer
see the parts (on TensorFlow and JAX the step is one compiled function).

    KERAS_BACKEND=torch python bench/rdrop_profile.py --width 512
"""

import argparse
import collections
import functools
import os
import time

os.environ["KERAS_BACKEND"] = "torch"

import _common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras.src.models.functional import Functional  # noqa: E402

from keras_rdkl import RDropModel  # noqa: E402
from keras_rdkl import _torch_kernels  # noqa: E402

TIMES = collections.defaultdict(list)
CURRENT = [None]


def _timed(owner, attr, label):
    fn = getattr(owner, attr)

    @functools.wraps(fn)  # keeps the signature Keras inspects (`training`)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        TIMES[(CURRENT[0], label)].append(time.perf_counter() - start)
        return out

    setattr(owner, attr, wrapper)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    for owner, attr, label in (
        (Functional, "call", "model graph (Functional.call)"),
        (RDropModel, "call", "RDropModel.call (doubling + graph)"),
        (keras.Model, "compute_loss", "compiled loss (keras.Model.compute_loss)"),
        (RDropModel, "compute_loss", "RDropModel.compute_loss"),
        (_torch_kernels, "rdrop_softmax_kl", "fused divergence node, forward"),
        (
            _torch_kernels,
            "rdrop_crossentropy_kl",
            "fused cross-entropy + divergence node, forward",
        ),
        (torch.Tensor, "backward", "backward pass"),
    ):
        _timed(owner, attr, label)

    def build():
        return _common.mlp(keras, args.width)

    class Step(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            TIMES[(CURRENT[0], "whole step")].append(time.perf_counter() - self.start)

    batch = 64
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * batch * args.steps, 256)).astype("float32")
    y = rng.integers(0, 10, 2 * batch * args.steps)
    contenders = {
        "plain@2B": (build(), x, y, 2 * batch),
        "rdrop@B": (
            RDropModel(build()),
            x[: batch * args.steps],
            y[: batch * args.steps],
            batch,
        ),
    }
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for model, *_ in contenders.values():
        model.compile(keras.optimizers.Adam(1e-4), loss)
    for r in range(args.rounds + 1):
        if r == 1:
            TIMES.clear()  # round 0 warms up
        for name, (model, xs, ys, bs) in contenders.items():
            CURRENT[0] = name
            model.fit(
                xs,
                ys,
                batch_size=bs,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[Step()],
            )
    labels = sorted({label for _, label in TIMES})
    print(
        f"MLP 256-{args.width}-{args.width}-10, B = {batch}, {args.steps} steps x {args.rounds} rounds; "
        f"median us per step (torch threads: {torch.get_num_threads()})\n"
    )
    print("| call | plain@2B us | rdrop@B us |")
    print("|---|---|---|")
    for label in labels:
        cells = []
        for name in contenders:
            t = TIMES.get((name, label))
            cells.append(f"{1e6 * np.median(t):.0f}" if t else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
