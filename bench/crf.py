"""Benchmark: CRF log-partition, sequential scan vs parallel (log-semiring) forms.

Forward+backward of `sum(crf_log_norm(e, A))` with respect to the emissions
and transitions on each backend's usual path (jax.jit, tf.function with XLA,
torch eager), for three forms of the same forward algorithm:

* `sequential`: `keras.ops.scan` over time (L steps of [B, T] x [T, T]).
* `parallel`: pairwise products of per-step log-semiring matrices, log2(L)
  levels (what `crf_log_norm(method="parallel")` runs).
* `assoc_scan`: the same matrices through `keras.ops.associative_scan`
  (all prefix products; the last one is log Z).

Each backend runs in its own subprocess. Prints a markdown table of medians
(ms) and writes it to bench/results/crf.md.

    .venv/bin/python bench/crf.py            # L = 16, 64, 128, 256, 512
    .venv/bin/python bench/crf.py --quick    # smoke run
"""

import argparse
import json
import os
import subprocess
import sys
import time

import _common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
METHODS = ("sequential", "parallel", "assoc_scan")


def _assoc_scan_log_norm(e, a):
    from keras import ops

    from keras_rdkl.losses import crf as crf_mod

    e, a, valid = crf_mod.prepare_emissions(e, a)
    m = crf_mod._step_matrices(e, a, valid)
    prods = ops.associative_scan(crf_mod._log_matmul, m, axis=1)
    alpha = ops.logsumexp(e[:, 0, :, None] + prods[:, -1], axis=1)
    return ops.logsumexp(alpha, axis=-1)


def _loss_fn(method):
    from keras import ops

    from keras_rdkl.losses import crf_log_norm

    if method == "assoc_scan":
        return lambda e, a: ops.sum(_assoc_scan_log_norm(e, a))
    return lambda e, a: ops.sum(crf_log_norm(e, a, method=method))


def _fwd_bwd(fn, e, a):
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        f = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
        return lambda: jax.block_until_ready(f(e, a))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def f(x, y):
            with tf.GradientTape() as tape:
                tape.watch([x, y])
                v = fn(x, y)
            return v, tape.gradient(v, [x, y])

        return lambda: tf.nest.map_structure(lambda t: t.numpy(), f(e, a))

    def f():
        x = e.detach().requires_grad_(True)
        y = a.detach().requires_grad_(True)
        v = fn(x, y)
        v.backward()
        return v.item()

    return f


def run_backend(sizes, batch, tags, repeats):
    import keras
    import numpy as np

    rows = []
    rng = np.random.default_rng(0)
    for length in sizes:
        e = keras.ops.convert_to_tensor(
            rng.normal(size=(batch, length, tags)).astype("float32")
        )
        a = keras.ops.convert_to_tensor(rng.normal(size=(tags, tags)).astype("float32"))
        row = {"L": length}
        for method in METHODS:
            try:
                f = _fwd_bwd(_loss_fn(method), e, a)
                f()
                f()
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    f()
                    times.append(time.perf_counter() - t0)
                row[method] = 1e3 * float(np.median(times))
            except Exception as err:  # noqa: BLE001 - report, keep going
                row[method] = f"error: {type(err).__name__}"
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tags", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = (16, 64) if args.quick else (16, 64, 128, 256, 512)
    if args.child:
        rows = run_backend(
            sizes, args.batch, args.tags, 3 if args.quick else args.repeats
        )
        print("RESULT " + json.dumps(rows))
        return
    lines = [
        f"CRF log Z forward+backward, batch {args.batch}, {args.tags} tags, median ms "
        f"({_common.cpu()}, {os.cpu_count()} CPUs)",
        "",
        "| backend | L | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            backend,
            "--batch",
            str(args.batch),
            "--tags",
            str(args.tags),
            "--repeats",
            str(args.repeats),
        ]
        if args.quick:
            cmd.append("--quick")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        result = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if not result:
            print(out.stderr[-2000:])
            continue
        for row in json.loads(result[0][7:]):
            cells = [
                f"{row[m]:.2f}" if isinstance(row[m], float) else row[m]
                for m in METHODS
            ]
            lines.append(f"| {backend} | {row['L']} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    suffix = "_quick" if args.quick else ""
    with open(os.path.join(ROOT, "bench", "results", f"crf{suffix}.md"), "w") as fh:
        fh.write(
            text
            + "\n\nCommand: `"
            + " ".join(["python", "bench/crf.py"] + sys.argv[1:])
            + "`\n"
        )


if __name__ == "__main__":
    main()
