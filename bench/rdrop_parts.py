"""Where R-Drop's fixed cost per step goes: the train step taken apart, per backend.

On small models `RDropModel` at batch B costs more than the plain model at 2B
(bench/rdrop.py). This benchmark separates the wrapper from the loss, side
by side in one process per backend (`fit`, contenders taking turns in short
rounds, every step timed, as in bench/rdrop.py), on the MLP 256-W-W-10 with
dropout of bench/rdrop.py:

* plain@2B: the wrapped model alone on 2B rows with Keras'
  `SparseCategoricalCrossentropy` (the baseline, 1.00);
* bare plain@2B: the same model whose `compute_loss` is a bare mean
  cross-entropy (`keras.ops.sparse_categorical_crossentropy`), without
  Keras' loss machinery;
* bare wrapper@B: `RDropModel` making the doubled pass, with the same bare
  cross-entropy on the 2B rows (no divergence; the `kl` metric is logged
  but not updated): bare wrapper - bare plain is the cost of the wrapper
  itself (its `Layer.__call__`, the `[x; x]` concatenation, the doubled
  targets, logging `kl`);
* rdrop@B: the whole `RDropModel` step. (rdrop@B - bare wrapper) -
  (plain@2B - bare plain) is what R-Drop's loss (cross-entropy, divergence,
  `alpha` term, `kl` update, forward and backward) costs beyond Keras'
  cross-entropy alone.

Each share is taken from the medians of the per-round ratios to plain@2B.
Writes bench/results/rdrop_parts.md.

    python bench/rdrop_parts.py            # widths 128 and 512, every backend
    python bench/rdrop_parts.py --quick    # smoke run
"""

import os

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("plain@2B", "bare plain@2B", "bare wrapper@B", "rdrop@B")


def _contenders(keras, width, batch, steps):
    import numpy as np

    from keras_rdkl import RDropModel
    from keras_rdkl.models import rdrop as rdrop_module

    def bare_loss(y, y_pred):
        return keras.ops.mean(
            keras.ops.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        )

    class BarePlain(keras.Model):
        """A functional model whose loss skips Keras' loss machinery."""

        def compute_loss(
            self, x=None, y=None, y_pred=None, sample_weight=None, training=True
        ):
            return bare_loss(y, y_pred)

    class BareWrapper(RDropModel):
        """The doubled pass with the bare loss on 2B rows; `kl` not updated."""

        def compute_loss(
            self, x=None, y=None, y_pred=None, sample_weight=None, training=True
        ):
            if not (training and self._doubled):
                return super().compute_loss(x, y, y_pred, sample_weight, training)
            return bare_loss(rdrop_module._twice(y), y_pred)

    def build():
        return _common.mlp(keras, width)

    def bare_plain():
        model = build()
        return BarePlain(model.inputs, model.outputs)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * batch * steps, 256)).astype("float32")
    y = rng.integers(0, 10, 2 * batch * steps)
    half = (x[: batch * steps], y[: batch * steps], batch)
    return {
        "plain@2B": (build(), x, y, 2 * batch),
        "bare plain@2B": (bare_plain(), x, y, 2 * batch),
        "bare wrapper@B": (BareWrapper(build(), alpha=1.0), *half),
        "rdrop@B": (RDropModel(build(), alpha=1.0), *half),
    }


def worker(args):
    import keras

    rows = []
    for width in args.widths:
        contenders = _contenders(keras, width, args.batch, args.steps)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        for model, *_ in contenders.values():
            model.compile(keras.optimizers.Adam(1e-4), loss)
        times = _common.fit_step_times(contenders, args.rounds, args.steps)
        ratios = {k: _common.paired_ratio(times, k, "plain@2B") for k in PARTS}
        ms = {k: 1e3 * v[0] for k, v in times.items()}
        rows.append({"width": width, "ms": ms, "ratios": ratios})
    _common.emit({"rows": rows})


def main():
    p = _common.parser(__doc__, quick_help="smoke run: width 128, 2 rounds")
    p.add_argument("--widths", nargs="+", type=int, default=[128, 512])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=120)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--output", default=os.path.join(HERE, "results", "rdrop_parts.md"))
    args = p.parse_args()
    if args.quick:
        args.widths, args.rounds = [128], 2
    if args.worker:
        return worker(args)
    shared = ["--widths", *map(str, args.widths), "--batch", str(args.batch)]
    shared += ["--rounds", str(args.rounds), "--steps", str(args.steps)]
    lines = [
        "| backend | model | B | "
        + " | ".join(f"{k} ms" for k in PARTS)
        + " | wrapper | R-Drop's loss beyond Keras' cross-entropy"
        + " | total (95% interval) |",
        "|---|---|---|" + "---|" * (len(PARTS) + 3),
    ]
    for backend in args.backends:
        print(f"[{backend}]", flush=True)
        for r in _common.run_worker(__file__, backend, shared)["rows"]:
            ms, ratio = r["ms"], {k: v[0] for k, v in r["ratios"].items()}
            wrapper = ratio["bare wrapper@B"] - ratio["bare plain@2B"]
            loss = (ratio["rdrop@B"] - ratio["bare wrapper@B"]) - (
                1.0 - ratio["bare plain@2B"]
            )
            _, low, high = r["ratios"]["rdrop@B"]
            lines.append(
                f"| {backend} | MLP 256-{r['width']}-{r['width']}-10 | {args.batch} | "
                + " | ".join(f"{ms[k]:.2f}" for k in PARTS)
                + f" | {wrapper:+.1%} | {loss:+.1%} | {ratio['rdrop@B'] - 1:+.1%} "
                f"({low - 1:+.1%} to {high - 1:+.1%}) |"
            )
    settings = (
        f"Median training step in `fit` ({args.steps} steps x {args.rounds} rounds "
        "after a warm-up round, the contenders taking turns), then each part's cost "
        "as a share of plain@2B, from the medians of the per-round ratios r to "
        "plain@2B: wrapper = r(bare wrapper) - r(bare plain); R-Drop's loss beyond "
        "Keras' cross-entropy = (r(rdrop) - r(bare wrapper)) - (1 - r(bare plain)); "
        "total = r(rdrop) - 1, with its 95% bootstrap interval. Keras' default "
        "compilation per backend (XLA on JAX, tf.function on TensorFlow, eager "
        "PyTorch)."
    )
    _common.write_page(
        args.output,
        "R-Drop's fixed cost per step, taken apart",
        __file__,
        settings,
        "\n".join(lines),
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
