"""Train-step time of RDropModel against the plain model at 2B and a two-pass R-Drop.

Contenders, side by side in one process per backend:

- plain@2B: the wrapped model alone, trained on a batch of 2B rows (the same
  arithmetic as one R-Drop step on B rows: ideal ratio 1.0);
- rdrop@B: `keras_rdkl.RDropModel` on B rows (one concatenated [x; x] pass);
- naive@B: the same loss but two separate forward passes of the model.

Each contender is compiled with Keras' default per backend (XLA on JAX,
`tf.function` on TensorFlow, eager PyTorch) and trained with `fit`, as users
do: `--rounds` rounds, each one epoch of `--steps` steps per contender
(interleaved; a first round warms up). Every step is timed by a callback; the
table reports the median step, the ratio of medians to plain@2B and the
spread (25th-75th percentile) of the ratio over the rounds.

    python bench/rdrop.py --quick              # smoke run, current backend
    python bench/rdrop.py --all-backends       # tensorflow, jax, torch -> bench/results/rdrop.md
"""

import argparse
import json
import os
import platform
import subprocess
import sys

import _common

BACKENDS = ("tensorflow", "jax", "torch")


def build_models(keras, quick):
    from keras_rdkl.layers import GlobalPointer

    def mlp(width):
        return lambda: _common.mlp(keras, width)

    layers, hidden, length, heads = (2, 128, 64, 4) if quick else (4, 256, 128, 4)

    def ner():
        inputs = keras.Input((length,), dtype="int32")
        h = keras.layers.Embedding(2000, hidden)(inputs)
        for _ in range(layers):
            a = keras.layers.MultiHeadAttention(4, hidden // 4, dropout=0.1)(h, h)
            h = keras.layers.LayerNormalization()(h + keras.layers.Dropout(0.1)(a))
            f = keras.layers.Dense(4 * hidden, activation="gelu")(h)
            f = keras.layers.Dense(hidden)(f)
            h = keras.layers.LayerNormalization()(h + keras.layers.Dropout(0.1)(f))
        return keras.Model(inputs, GlobalPointer(heads, 32)(h), name="gp_ner")

    # The MLP at three widths: how R-Drop's fixed cost per step shrinks
    # against the model's own work (the size is width 512).
    widths = (512,) if quick else (128, 256, 512, 1024, 2048)
    models = {f"MLP 256-{w}-{w}-10": (mlp(w), 64, "sparse", None) for w in widths}
    return {
        **models,
        f"GlobalPointer NER ({layers}x{hidden}, L={length})": (
            ner,
            8,
            "gp",
            (heads, length),
        ),
    }


def make_data(np, kind, shape_info, n):
    rng = np.random.default_rng(0)
    if kind == "sparse":
        return rng.normal(size=(n, 256)).astype("float32"), rng.integers(0, 10, n)
    heads, length = shape_info
    x = rng.integers(1, 2000, size=(n, length)).astype("int32")
    y = (rng.random((n, heads, length, length)) < 0.002).astype("float32")
    return x, y


def run_backend(args):
    import keras
    import numpy as np

    from keras_rdkl import RDropModel
    from keras_rdkl.losses import MultilabelCategoricalCrossentropy

    class NaiveRDrop(RDropModel):
        """Same loss as RDropModel, but two separate forward passes."""

        def call(self, inputs, training=None):
            if training:
                self._doubled = True
                a = self.model(inputs, training=True)
                b = self.model(inputs, training=True)
                return keras.ops.concatenate([a, b], axis=0)
            return super().call(inputs, training=training)

    backend = keras.backend.backend()
    rows = []
    for name, (factory, bsz, kind, info) in build_models(keras, args.quick).items():
        loss = (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            if kind == "sparse"
            else MultilabelCategoricalCrossentropy(axis=(-2, -1))
        )
        # Seconds-long NER steps: fewer per round.
        steps = args.steps if kind == "sparse" else max(1, args.steps // 10)
        x, y = make_data(np, kind, info, 2 * bsz * steps)
        half = (x[: bsz * steps], y[: bsz * steps], bsz)
        contenders = {
            "plain@2B": (factory(), x, y, 2 * bsz),
            "rdrop@B": (RDropModel(factory(), alpha=1.0), *half),
            "naive@B": (NaiveRDrop(factory(), alpha=1.0), *half),
        }
        for model, *_ in contenders.values():
            model.compile(keras.optimizers.Adam(1e-4), loss)
        times = _common.fit_step_times(contenders, args.rounds, steps)
        ratio, q25, q75 = _common.ratio_spread(times, "rdrop@B", "plain@2B")
        rows.append(
            {
                "backend": backend,
                "model": name,
                "B": bsz,
                "steps": steps,
                "plain_2B_ms": 1e3 * times["plain@2B"][0],
                "rdrop_B_ms": 1e3 * times["rdrop@B"][0],
                "naive_B_ms": 1e3 * times["naive@B"][0],
                "rdrop_vs_plain": ratio,
                "rdrop_q25": q25,
                "rdrop_q75": q75,
                "naive_vs_plain": times["naive@B"][0] / times["plain@2B"][0],
            }
        )
    return rows


def to_markdown(rows, command, quick, rounds):
    lines = [
        "# R-Drop train-step benchmark",
        "",
        f"Command: `{command}`" + (" (quick smoke run)" if quick else ""),
        "",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"1-minute load average when it finished {os.getloadavg()[0]:.1f} "
        "(compare ratios; absolute times vary with the machine).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in _common.versions().items()),
        "",
        "Median training step in `fit` (steps per round x rounds after a warm-up "
        "round); ratio of medians to the plain model on 2B rows (ideal 1.00), with "
        "the 25th-75th percentile of the per-round ratios; naive = two separate "
        "forward passes.",
        "",
        "| backend | model | B | steps x rounds | plain@2B ms | rdrop@B ms | naive@B ms "
        "| rdrop/plain | per-round spread | naive/plain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['model']} | {r['B']} | {r['steps']} x {rounds} | "
            f"{r['plain_2B_ms']:.1f} | {r['rdrop_B_ms']:.1f} | {r['naive_B_ms']:.1f} | "
            f"{r['rdrop_vs_plain']:.2f} | {r['rdrop_q25']:.2f}-{r['rdrop_q75']:.2f} | "
            f"{r['naive_vs_plain']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, few rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--steps", type=int, default=None, help="MLP steps per round (NER: a tenth)"
    )
    parser.add_argument(
        "--all-backends",
        action="store_true",
        help="run every backend in its own process and write the results file",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "rdrop.md")
    )
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 2 if args.quick else 30
    if args.steps is None:
        args.steps = 10 if args.quick else 20
    command = "python bench/rdrop.py " + " ".join(
        a for a in sys.argv[1:] if a != "--json"
    )
    if args.all_backends:
        rows = []
        for backend in BACKENDS:
            cmd = [
                sys.executable,
                __file__,
                "--json",
                "--rounds",
                str(args.rounds),
                "--steps",
                str(args.steps),
            ] + (["--quick"] if args.quick else [])
            env = dict(os.environ, KERAS_BACKEND=backend)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"backend {backend} failed")
            rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
        table = to_markdown(rows, command, args.quick, args.rounds)
        print(table)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table)
        return
    rows = run_backend(args)
    if args.json:
        print(json.dumps(rows))
    else:
        print(to_markdown(rows, command, args.quick, args.rounds))


if __name__ == "__main__":
    main()
