"""Benchmark: ZLPR (MultilabelCategoricalCrossentropy) vs BCE, and sparse vs dense ZLPR.

Each (backend, contender) runs in a fresh subprocess so that the peak-RSS
growth (resource.getrusage max RSS after the timed loop minus before it) is
its own. Forward+backward = d(loss)/d(logits) on the backend's usual compiled
path (jax.jit, tf.function, torch eager). Reports medians and ratios, prints
a markdown table and writes it to bench/results/losses.md.

    .venv/bin/python bench/losses.py            # full sizes
    .venv/bin/python bench/losses.py --quick    # smoke run
    .venv/bin/python bench/losses.py --previous 679e62a  # also the code at a commit

`--previous COMMIT` builds the package as it was at COMMIT (`git archive`,
renamed `keras_rdkl_prev`) in a temporary folder and times its ZLPR beside
the current one, in the same run.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import _common
import _previous

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")


def _fwd_bwd(loss_fn, y, logits):
    """A callable computing (loss, d loss / d logits) on the active backend."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        f = jax.jit(jax.value_and_grad(lambda s: loss_fn(y, s)))
        return lambda: jax.block_until_ready(f(logits))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def f(s):
            with tf.GradientTape() as tape:
                tape.watch(s)
                v = loss_fn(y, s)
            return v, tape.gradient(v, s)

        return lambda: [t.numpy() for t in f(logits)]

    def f():
        s = logits.detach().requires_grad_(True)
        v = loss_fn(y, s)
        v.backward()
        return v.item(), s.grad

    return f


def _losses_module(contender):
    """`keras_rdkl.losses`, or the previous code's for a `*_prev` contender."""
    if contender.endswith("_prev"):
        sys.path.insert(0, os.environ["KERAS_RDKL_PREV"])
        import keras_rdkl_prev.losses as losses

        return contender[: -len("_prev")], losses
    import keras_rdkl.losses as losses

    return contender, losses


def run_case(case, contender, shape, k, repeats):
    """Runs in the child process: returns a dict of measurements."""
    import resource

    import keras
    import numpy as np

    contender, losses = _losses_module(contender)
    MultilabelCategoricalCrossentropy = losses.MultilabelCategoricalCrossentropy
    SparseMultilabelCategoricalCrossentropy = (
        losses.SparseMultilabelCategoricalCrossentropy
    )

    rng = np.random.default_rng(0)
    b, h, n, _ = shape
    logits_np = rng.standard_normal(shape).astype("float32")
    # k positives per (sample, head), as flat start * L + end indices.
    idx = rng.integers(0, n * n, (b, h, k)).astype("int32")
    if contender == "sparse":
        y_np = idx
        loss = SparseMultilabelCategoricalCrossentropy(axis=(-2, -1))
    else:
        y_np = np.zeros((b, h, n * n), "float32")
        np.put_along_axis(y_np, idx, 1.0, axis=-1)
        y_np = y_np.reshape(shape)
        if contender == "bce":
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
        else:
            loss = MultilabelCategoricalCrossentropy(axis=(-2, -1))
    y = keras.ops.convert_to_tensor(y_np)
    logits = keras.ops.convert_to_tensor(logits_np)
    step = _fwd_bwd(loss, y, logits)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()  # compile / warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "median_ms": 1e3 * float(np.median(times)),
        "rss_growth_mb": (rss1 - rss0) / 1024.0,
        "label_mb": y_np.nbytes / 2**20,
    }


def run_scaling(contender, shapes, k, repeats):
    """Runs in the child process: medians (ms) of one contender over several shapes."""
    out = []
    for shape in shapes:
        r = run_case("gp", contender, shape, k, repeats)
        out.append(r["median_ms"])
    return {"median_ms": out}


def _child(backend, case, contender, shape, k, repeats, previous=None):
    env = dict(os.environ, KERAS_BACKEND=backend)
    if previous:
        env["KERAS_RDKL_PREV"] = previous
    args = [
        sys.executable,
        __file__,
        "--child",
        json.dumps([case, contender, shape, k, repeats]),
    ]
    out = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(
            f"{backend}/{case}/{contender} failed:\n{out.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small shapes, few repeats"
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--previous",
        default=None,
        metavar="COMMIT",
        help="also time the ZLPR of the package at this commit (default: off)",
    )
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip the L and heads sweeps"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", default=os.path.join(ROOT, "bench", "results", "losses.md")
    )
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, ROOT)
        case, contender, shape, k, reps = json.loads(args.child)
        if case == "scale":
            result = run_scaling(contender, shape, k, reps)
        else:
            result = run_case(case, contender, shape, k, reps)
        print("RESULT " + json.dumps(result))
        return

    repeats = args.repeats or (3 if args.quick else 10)
    gp_shape = [2, 4, 64, 64] if args.quick else [16, 10, 128, 128]
    big_shape = [2, 2, 128, 128] if args.quick else [4, 8, 512, 512]
    k = 32
    rows_a, rows_b, rows_l, rows_h, rows_p = [], [], [], [], []
    previous = _previous.extract(args.previous) if args.previous else None
    lengths = [32, 64] if args.quick else [64, 128, 256, 512]
    heads = [1, 4] if args.quick else [1, 4, 10, 24]
    for backend in args.backends.split(","):
        zl = _child(backend, "gp", "zlpr", gp_shape, k, repeats)
        bce = _child(backend, "gp", "bce", gp_shape, k, repeats)
        rows_a.append(
            f"| {backend} | {zl['median_ms']:.1f} | {bce['median_ms']:.1f} | "
            f"{zl['median_ms'] / bce['median_ms']:.2f} | {zl['rss_growth_mb']:.0f} | "
            f"{bce['rss_growth_mb']:.0f} |"
        )
        sp = _child(backend, "big", "sparse", big_shape, k, repeats)
        de = _child(backend, "big", "dense", big_shape, k, repeats)
        rows_b.append(
            f"| {backend} | {sp['median_ms']:.1f} | {de['median_ms']:.1f} | "
            f"{sp['median_ms'] / de['median_ms']:.2f} | {sp['label_mb']:.4f} | "
            f"{de['label_mb']:.1f} | {sp['rss_growth_mb']:.0f} | {de['rss_growth_mb']:.0f} |"
        )
        print(rows_a[-1], rows_b[-1], sep="\n", flush=True)
        if previous:
            pz = _child(backend, "gp", "zlpr_prev", gp_shape, k, repeats, previous)
            ps = _child(backend, "big", "sparse_prev", big_shape, k, repeats, previous)
            pd = _child(backend, "big", "dense_prev", big_shape, k, repeats, previous)
            for what, new, old in (
                (f"dense {gp_shape}", zl, pz),
                (f"sparse {big_shape}", sp, ps),
                (f"dense {big_shape}", de, pd),
            ):
                rows_p.append(
                    f"| {backend} | {what} | {new['median_ms']:.1f} | "
                    f"{old['median_ms']:.1f} | {new['median_ms'] / old['median_ms']:.2f} |"
                )
            rows_p.append(
                f"| {backend} | dense {gp_shape} / BCE | "
                f"{zl['median_ms'] / bce['median_ms']:.2f} | "
                f"{pz['median_ms'] / bce['median_ms']:.2f} | |"
            )
            print(*rows_p[-4:], sep="\n", flush=True)
        if args.no_scaling:
            continue
        # How the ratio scales: with L at 10 heads, and with the heads at L = 128.
        for label, shapes, rows in (
            ("L", [[4, 10, n, n] for n in lengths], rows_l),
            ("heads", [[16, h, 128, 128] for h in heads], rows_h),
        ):
            zl = _child(backend, "scale", "zlpr", shapes, k, repeats)["median_ms"]
            bce = _child(backend, "scale", "bce", shapes, k, repeats)["median_ms"]
            for shape, a, b in zip(shapes, zl, bce, strict=True):
                size = shape[2] if label == "L" else shape[1]
                rows.append(f"| {backend} | {size} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
            print(*rows[-len(shapes) :], sep="\n", flush=True)

    import jax
    import keras
    import tensorflow as tf
    import torch

    command = "KERAS_BACKEND unset; .venv/bin/python " + " ".join(
        a for a in sys.argv if not a.startswith("--child")
    )
    text = "\n".join(
        [
            "# Loss benchmarks",
            "",
            f"Command: `{command}`  ",
            f"Machine: {_common.cpu()}, {os.cpu_count()} CPU cores, {platform.platform()}, "
            f"Python {platform.python_version()}  ",
            f"Versions: keras {keras.__version__}, tensorflow {tf.__version__}, jax {jax.__version__}, "
            f"torch {torch.__version__}  ",
            f"Repeats: {repeats} (median reported), one fresh process per backend and contender. "
            f"1-minute load average when it finished: {os.getloadavg()[0]:.1f} "
            "(compare ratios; absolute times vary with the machine).",
            "",
            f"## ZLPR vs BCE, forward + backward, logits {gp_shape} (GlobalPointer-shaped)",
            "",
            "`MultilabelCategoricalCrossentropy(axis=(-2, -1))` against "
            "`keras.losses.BinaryCrossentropy(from_logits=True)` on the same tensor.",
            "",
            "| backend | ZLPR ms | BCE ms | ZLPR / BCE | ZLPR peak RSS growth MB | BCE peak RSS growth MB |",
            "|---|---|---|---|---|---|",
            *rows_a,
            "",
            f"## Sparse vs dense ZLPR, forward + backward, logits {big_shape}, K = {k} labels",
            "",
            "| backend | sparse ms | dense ms | sparse / dense | sparse label MB | dense label MB "
            "| sparse peak RSS growth MB | dense peak RSS growth MB |",
            "|---|---|---|---|---|---|---|---|",
            *rows_b,
            "",
            *(
                [
                    f"## This code against the code at {args.previous}, "
                    "forward + backward, same run",
                    "",
                    "| backend | case | this ms | previous ms | this / previous |",
                    "|---|---|---|---|---|",
                    *rows_p,
                    "",
                ]
                if previous
                else []
            ),
            "## How ZLPR / BCE scales, forward + backward",
            "",
            f"With the sequence length L (logits [4, 10, L, L], {k} positives a head):",
            "",
            "| backend | L | ZLPR ms | BCE ms | ZLPR / BCE |",
            "|---|---|---|---|---|",
            *rows_l,
            "",
            f"With the number of heads (logits [16, heads, 128, 128], {k} positives a head):",
            "",
            "| backend | heads | ZLPR ms | BCE ms | ZLPR / BCE |",
            "|---|---|---|---|---|",
            *rows_h,
            "",
        ]
    )
    print(text)
    if previous:
        shutil.rmtree(previous, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
