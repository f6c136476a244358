"""Benchmark: GlobalPointer vs EfficientGlobalPointer, and dense vs sparse ZLPR targets.

For each backend (one subprocess each, since Keras fixes its backend per
process) and each length L it measures forward + backward time of

* the layers: GlobalPointer vs EfficientGlobalPointer on [batch, L, hidden]
  input (gradient w.r.t. the weights and the input);
* the loss on GlobalPointer-shaped logits [batch, heads, L, L]:
  MultilabelCategoricalCrossentropy (dense multi-hot targets) vs
  SparseMultilabelCategoricalCrossentropy (flat start * L + end indices);

The contenders of a pair run side by side in one process, interleaved, and
the table reports medians and the ratio. Peak memory is the growth of the
process' maximum resident set (ru_maxrss) over its value before the first
run; because the allocators of all three backends keep freed memory, each
contender's memory is measured in its own fresh worker process, lengths in
increasing order (so the maximum so far is the maximum at that length).

Usage:
    .venv/bin/python bench/global_pointer.py            # full run
    .venv/bin/python bench/global_pointer.py --quick    # smoke run
"""

import argparse
import os
import platform
import sys
import time

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = _common.BACKENDS
PAIRS = {
    "layer": ("GlobalPointer", "EfficientGlobalPointer"),
    "loss": ("dense", "sparse"),
}


def make_step(kind, name, length, args):
    """Returns (step, params): step() runs one forward + backward to NumPy."""
    import keras
    import numpy as np
    from keras import ops

    import keras_rdkl

    rng = np.random.default_rng(0)
    backend = keras.backend.backend()
    if kind == "layer":
        cls = getattr(keras_rdkl.layers, name)
        layer = cls(args.heads, args.head_size)
        layer.build((args.batch, length, args.hidden))
        variables = layer.trainable_variables
        params = layer.count_params()
        x = rng.normal(size=(args.batch, length, args.hidden)).astype("float32")
        mask = np.ones((args.batch, length), bool)
        mask[0, length // 2 :] = False
        probe = rng.normal(size=(args.batch, args.heads, length, length)).astype(
            "float32"
        )

        def objective(values, inputs):
            out = layer.stateless_call(values, [], inputs, mask=mask)[0]
            valid = ops.greater(out, keras_rdkl.MASK_THRESHOLD)
            return ops.sum(ops.where(valid, out * ops.convert_to_tensor(probe), 0.0))

        values = [v.value for v in variables]
    else:
        params = 0
        heads, k = args.heads, args.entities
        logits = rng.normal(size=(args.batch, heads, length, length)).astype("float32")
        starts = rng.integers(0, length, size=(args.batch, heads, k))
        ends = np.minimum(starts + rng.integers(0, 8, size=starts.shape), length - 1)
        flat = (starts * length + ends).astype("int32")
        if name == "dense":
            y = np.zeros((args.batch, heads, length * length), "float32")
            np.put_along_axis(y, flat, 1.0, axis=-1)
            y = y.reshape(logits.shape)
            loss = keras_rdkl.losses.MultilabelCategoricalCrossentropy(axis=(-2, -1))
        else:
            y = flat
            loss = keras_rdkl.losses.SparseMultilabelCategoricalCrossentropy(
                axis=(-2, -1)
            )
        x = logits
        values = []

        def objective(values, inputs):
            return loss(y, inputs)

    if backend == "jax":
        import jax

        fn = jax.jit(jax.value_and_grad(objective, argnums=(0, 1)))

        def step():
            value, grads = fn(values, x)
            jax.block_until_ready(grads)
            return float(value)

    elif backend == "tensorflow":
        import tensorflow as tf

        tvars = [tf.Variable(v) for v in values]
        tx = tf.constant(x)

        @tf.function
        def fn():
            with tf.GradientTape() as tape:
                tape.watch(tx)
                value = objective([v for v in tvars], tx)
            return value, tape.gradient(value, tvars + [tx])

        def step():
            value, grads = fn()
            _ = [g.numpy() for g in grads if g is not None]
            return float(value)

    else:
        import torch

        leaves = [
            torch.tensor(np.asarray(ops.convert_to_numpy(v)), requires_grad=True)
            for v in values
        ]
        tx = torch.tensor(x, requires_grad=True)

        def step():
            for leaf in leaves + [tx]:
                leaf.grad = None
            value = objective(leaves, tx)
            value.backward()
            return float(value.detach())

    return step, params


def worker(args):
    """Runs inside one backend's process; prints one JSON line."""
    import numpy as np

    result = {"backend": os.environ["KERAS_BACKEND"], "rows": []}
    if args.memory_of:
        kind, name = args.memory_of.split(":")
        # Absorb imports and the backend's compiler start-up before the baseline.
        small = argparse.Namespace(**{**vars(args), "batch": 1})
        warm, _ = make_step(kind, name, 8, small)
        warm()
        base = _common.maxrss_mb()
        for length in args.lengths:
            step, _ = make_step(kind, name, length, args)
            step()
            step()
            result["rows"].append(
                {"length": length, "name": name, "peak_mb": _common.maxrss_mb() - base}
            )
    else:
        for kind, names in PAIRS.items():
            for length in args.lengths:
                steps = {}
                params = {}
                for name in names:
                    steps[name], params[name] = make_step(kind, name, length, args)
                    for _ in range(args.warmup):
                        steps[name]()
                times = {name: [] for name in names}
                for _ in range(args.repeats):
                    for name in names:  # interleaved, so load changes hit both
                        t0 = time.perf_counter()
                        steps[name]()
                        times[name].append(time.perf_counter() - t0)
                for name in names:
                    result["rows"].append(
                        {
                            "kind": kind,
                            "length": length,
                            "name": name,
                            "median_ms": 1000 * float(np.median(times[name])),
                            "params": params[name],
                        }
                    )
    _common.emit(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: L=128, 3 repeats"
    )
    parser.add_argument(
        "--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS
    )
    parser.add_argument("--lengths", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=10)
    parser.add_argument("--head-size", type=int, default=64)
    parser.add_argument(
        "--entities", type=int, default=8, help="positive spans per head"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--output", default=os.path.join(HERE, "results", "global_pointer.md")
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-of", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.repeats, args.warmup = [128], 3, 1
    if args.worker:
        return worker(args)

    shared = [
        "--lengths",
        *map(str, args.lengths),
        "--batch",
        str(args.batch),
        "--hidden",
        str(args.hidden),
        "--heads",
        str(args.heads),
        "--head-size",
        str(args.head_size),
        "--entities",
        str(args.entities),
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
    ]
    timing, memory = {}, {}
    for backend in args.backends:
        print(f"[{backend}] timing", flush=True)
        for row in _common.run_worker(__file__, backend, shared)["rows"]:
            timing[(backend, row["kind"], row["length"], row["name"])] = row
        for kind, names in PAIRS.items():
            for name in names:
                print(f"[{backend}] memory {name}", flush=True)
                out = _common.run_worker(
                    __file__, backend, shared + ["--memory-of", f"{kind}:{name}"]
                )
                for row in out["rows"]:
                    memory[(backend, kind, row["length"], name)] = row["peak_mb"]

    lines = []
    titles = {
        "layer": "Layer forward + backward",
        "loss": "Loss forward + backward on [batch, heads, L, L] logits",
    }
    for kind, (a, b) in PAIRS.items():
        lines += [f"### {titles[kind]}", ""]
        head = f"| backend | L | {a} ms | {b} ms | {b}/{a} time | {a} peak MB | {b} peak MB |"
        if kind == "layer":
            head += f" {a} params | {b} params |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for backend in args.backends:
            for length in args.lengths:
                ra, rb = (
                    timing[(backend, kind, length, a)],
                    timing[(backend, kind, length, b)],
                )
                ma, mb = (
                    memory[(backend, kind, length, a)],
                    memory[(backend, kind, length, b)],
                )
                row = (
                    f"| {backend} | {length} | {ra['median_ms']:.1f} | {rb['median_ms']:.1f} | "
                    f"{rb['median_ms'] / ra['median_ms']:.2f} | {ma:.0f} | {mb:.0f} |"
                )
                if kind == "layer":
                    row += f" {ra['params']:,} | {rb['params']:,} |"
                lines.append(row)
        lines.append("")
    table = "\n".join(lines)
    print(table)
    command = "python bench/global_pointer.py " + " ".join(sys.argv[1:])
    header = [
        "# GlobalPointer benchmark",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {platform.platform()}, {_common.cpu()}, "
        f"{os.cpu_count()} CPU cores; 1-minute load average when it finished "
        f"{os.getloadavg()[0]:.1f} (compare ratios; absolute times vary with the machine).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in _common.versions().items()),
        "",
        f"Settings: batch {args.batch}, hidden {args.hidden}, heads {args.heads}, head_size "
        f"{args.head_size}, {args.entities} positive spans per head for the loss, "
        f"{args.repeats} repeats after {args.warmup} warm-up runs, medians. Peak MB: growth "
        "of the max resident set in a fresh process per contender (CPU), over a baseline "
        "taken after imports and one tiny (L=8) warm-up step.",
        "",
    ]
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write("\n".join(header) + table)
    print("wrote", args.output)


if __name__ == "__main__":
    main()
