"""Train-step time of RDropModel against the plain model at 2B and a two-pass R-Drop.

Contenders, side by side in one process per backend:

- plain@2B: the wrapped model alone, trained on a batch of 2B rows (the same
  arithmetic as one R-Drop step on B rows: ideal ratio 1.0);
- rdrop@B: `keras_rdkl.RDropModel` on B rows (one concatenated [x; x] pass);
- naive@B: the same loss but two separate forward passes of the model;
- previous@B: `RDropModel` as it was at commit `--previous` (when given),
  to compare a change with the code before it in the same run;
- control: a second, identical plain model at 2B (an A/A comparison): its
  ratio to plain@2B would be 1.00 on a quiet machine, and how far it strays
  shows how far the other ratios can stray for no reason but the machine.

Each contender is compiled with Keras' default per backend (XLA on JAX,
`tf.function` on TensorFlow, eager PyTorch) and trained with `fit`, as users
do. The contenders take turns, one `fit` epoch each per round (in reverse
order every other round; a first round warms up): `--rounds` rounds of
`--steps` steps for the MLPs, `--ner-rounds` of `--ner-steps` for the NER
model, whose steps take seconds. Every step is timed by a callback. The
table reports each contender's median step and, for each ratio to plain@2B,
the median of the per-round ratios with a 95% bootstrap interval: short
rounds, each a paired comparison, so that drift of a shared machine cancels.

    python bench/rdrop.py --quick              # smoke run, current backend
    python bench/rdrop.py --all-backends       # tensorflow, jax, torch -> bench/results/rdrop.md
    python bench/rdrop.py --all-backends --previous 679e62a  # and the code of that commit
"""

import argparse
import json
import os
import platform
import subprocess
import sys

import _common

BACKENDS = ("tensorflow", "jax", "torch")


def build_models(keras, quick, widths=None):
    def mlp(width):
        return lambda: _common.mlp(keras, width)

    layers, hidden, length, heads = (2, 128, 64, 4) if quick else (4, 256, 128, 4)

    def ner():
        return _common.transformer_tagger(keras, 2000, length, hidden, layers, heads)

    # The MLP at three widths: how R-Drop's fixed cost per step shrinks
    # against the model's own work (the size is width 512).
    widths = widths or ((512,) if quick else (128, 256, 512, 1024, 2048))
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
    from keras_rdkl.models.rdrop import TwoSamples

    class NaiveRDrop(RDropModel):
        """Same loss as RDropModel, but two separate forward passes."""

        def call(self, inputs, training=None):
            if training and self._in_train_step:
                first = self.model(inputs, training=True)
                second = self.model(inputs, training=True)
                return TwoSamples(keras.ops.concatenate([first, second], axis=0))
            return super().call(inputs, training=training)

    previous = previous_loss = None
    if args.previous:
        import _previous

        old = _previous.load(args.previous)
        previous = old.RDropModel
        previous_loss = old.losses.MultilabelCategoricalCrossentropy(axis=(-2, -1))

    backend = keras.backend.backend()
    rows = []
    for name, (factory, bsz, kind, info) in build_models(
        keras, args.quick, args.widths
    ).items():
        loss = (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            if kind == "sparse"
            else MultilabelCategoricalCrossentropy(axis=(-2, -1))
        )
        # Seconds-long NER steps: fewer per round, fewer rounds.
        steps, rounds = (
            (args.steps, args.rounds)
            if kind == "sparse"
            else (args.ner_steps, args.ner_rounds)
        )
        x, y = make_data(np, kind, info, 2 * bsz * steps)
        half = (x[: bsz * steps], y[: bsz * steps], bsz)
        contenders = {
            "plain@2B": (factory(), x, y, 2 * bsz),
            "rdrop@B": (RDropModel(factory(), alpha=1.0), *half),
            "naive@B": (NaiveRDrop(factory(), alpha=1.0), *half),
            **(
                {"previous@B": (previous(factory(), alpha=1.0), *half)}
                if previous
                else {}
            ),
            "control": (factory(), x, y, 2 * bsz),
        }
        for key, (model, *_) in contenders.items():
            # The previous package pairs its divergence with its own loss class.
            own = previous_loss if key == "previous@B" and kind != "sparse" else loss
            model.compile(keras.optimizers.Adam(1e-4), own)
        times = _common.fit_step_times(contenders, rounds, steps)
        ratio = _common.paired_ratio(times, "rdrop@B", "plain@2B")
        control = _common.paired_ratio(times, "control", "plain@2B")
        rows.append(
            {
                "backend": backend,
                "model": name,
                "B": bsz,
                "steps": steps,
                "rounds": rounds,
                "plain_2B_ms": 1e3 * times["plain@2B"][0],
                "rdrop_B_ms": 1e3 * times["rdrop@B"][0],
                "naive_B_ms": 1e3 * times["naive@B"][0],
                "rdrop_vs_plain": ratio,
                "naive_vs_plain": _common.paired_ratio(times, "naive@B", "plain@2B")[0],
                "control_vs_plain": control,
                "previous_B_ms": 1e3 * times["previous@B"][0] if previous else None,
                "previous_vs_plain": (
                    _common.paired_ratio(times, "previous@B", "plain@2B")
                    if previous
                    else None
                ),
            }
        )
    return rows


def to_markdown(rows, command, quick):
    def interval(r):
        return f"{r[0]:.3f} ({r[1]:.3f}-{r[2]:.3f})"

    lines = [
        "# R-Drop train-step benchmark",
        "",
        f"Command: `{command}`" + (" (quick smoke run)" if quick else ""),
        "",
        f"Machine: {platform.platform()}, {_common.cpu()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"1-minute load average when it finished {os.getloadavg()[0]:.1f} "
        "(compare ratios; absolute times vary with the machine).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in _common.versions().items()),
        "",
        "Median training step in `fit` (steps per round x rounds after a warm-up "
        "round, the contenders taking turns); each ratio to the plain model on 2B "
        "rows is the median of the per-round ratios, with its 95% bootstrap "
        "interval (ideal 1.00); naive = two separate forward passes; A/A = a "
        "second, identical plain model against the first (the noise floor: 1.00 "
        "on a quiet machine); previous = RDropModel as of the commit given with "
        "`--previous`.",
        "",
        "| backend | model | B | steps x rounds | plain@2B ms | rdrop@B ms | naive@B ms "
        "| rdrop/plain (95% interval) | naive/plain | A/A (95% interval) "
        "| previous@B ms | previous/plain (95% interval) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['model']} | {r['B']} | {r['steps']} x {r['rounds']} | "
            f"{r['plain_2B_ms']:.1f} | {r['rdrop_B_ms']:.1f} | {r['naive_B_ms']:.1f} | "
            f"{interval(r['rdrop_vs_plain'])} | {r['naive_vs_plain']:.2f} | "
            f"{interval(r['control_vs_plain'])} | "
            + (
                f"{r['previous_B_ms']:.1f} | {interval(r['previous_vs_plain'])} |"
                if r.get("previous_B_ms") is not None
                else "- | - |"
            )
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, few rounds")
    parser.add_argument("--rounds", type=int, default=None, help="MLP rounds")
    parser.add_argument("--steps", type=int, default=None, help="MLP steps per round")
    parser.add_argument("--ner-rounds", type=int, default=None)
    parser.add_argument("--ner-steps", type=int, default=None)
    parser.add_argument(
        "--all-backends",
        action="store_true",
        help="run every backend in its own process and write the results file",
    )
    parser.add_argument(
        "--widths", type=int, nargs="+", default=None, help="MLP widths to run"
    )
    parser.add_argument(
        "--previous", default=None, help="also time RDropModel as of this git commit"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "rdrop.md")
    )
    args = parser.parse_args()
    defaults = {
        "rounds": (2, 120),
        "steps": (5, 5),
        "ner_rounds": (2, 30),
        "ner_steps": (1, 2),
    }
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
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
            ]
            cmd += [
                f"--{name.replace('_', '-')}={getattr(args, name)}" for name in defaults
            ]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--previous", args.previous] if args.previous else []
            cmd += ["--widths", *map(str, args.widths)] if args.widths else []
            env = dict(os.environ, KERAS_BACKEND=backend)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"backend {backend} failed")
            rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
        table = to_markdown(rows, command, args.quick)
        print(table)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table)
        return
    rows = run_backend(args)
    if args.json:
        print(json.dumps(rows))
    else:
        print(to_markdown(rows, command, args.quick))


if __name__ == "__main__":
    main()
