"""Where R-Drop's fixed cost per step goes: the train step taken apart, per backend.

On small models `RDropModel` at batch B costs more than the plain model at 2B
(bench/rdrop.py). This benchmark removes R-Drop's own work from the step,
side by side in one process per backend (`fit`, interleaved rounds, every
step timed, as in bench/rdrop.py), on the MLP 256-W-W-10 with dropout of
bench/rdrop.py:

* plain@2B: the wrapped model alone on 2B rows (the baseline, 1.00);
* wrapper: `RDropModel` making the doubled pass and the compiled loss on the
  2B rows, with no divergence and no `kl` metric: the cost of the wrapper
  itself (its own `Layer.__call__`, the `[x; x]` concatenation, the doubled
  targets);
* rdrop@B: the whole `RDropModel` step; rdrop@B - wrapper is the divergence
  (forward and backward, the `alpha` term) and the `kl` metric (its update
  and the result that every step logs). On PyTorch the compiled
  cross-entropy joins R-Drop's fused node there, in place of Keras' loss
  that the wrapper still runs, so that difference is the node against
  Keras' loss and may be negative.

Writes bench/results/rdrop_parts.md.

    python bench/rdrop_parts.py            # widths 128 and 512, every backend
    python bench/rdrop_parts.py --quick    # smoke run
"""

import os

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("plain@2B", "wrapper", "rdrop@B")


def _contenders(keras, width, batch, steps):
    import numpy as np

    from keras_rdkl import RDropModel
    from keras_rdkl.models import rdrop as rdrop_module

    def build():
        return _common.mlp(keras, width)

    class Wrapper(RDropModel):
        """The doubled pass and the loss on 2B rows only; `kl` not logged."""

        def compute_loss(
            self, x=None, y=None, y_pred=None, sample_weight=None, training=True
        ):
            if not (training and self._doubled):
                return super().compute_loss(x, y, y_pred, sample_weight, training)
            return keras.Model.compute_loss(
                self, x, rdrop_module._twice(y), y_pred, None, training=training
            )

        @property
        def metrics(self):
            return [m for m in super().metrics if m is not self.kl_tracker]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * batch * steps, 256)).astype("float32")
    y = rng.integers(0, 10, 2 * batch * steps)
    half = (x[: batch * steps], y[: batch * steps], batch)
    return {
        "plain@2B": (build(), x, y, 2 * batch),
        "wrapper": (Wrapper(build(), alpha=1.0), *half),
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
        spread = {k: _common.ratio_spread(times, k, "plain@2B")[1:] for k in PARTS}
        ms = {k: 1e3 * v[0] for k, v in times.items()}
        rows.append({"width": width, "ms": ms, "spread": spread})
    _common.emit({"rows": rows})


def main():
    p = _common.parser(__doc__, quick_help="smoke run: width 128, 5 repeats")
    p.add_argument("--widths", nargs="+", type=int, default=[128, 512])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--output", default=os.path.join(HERE, "results", "rdrop_parts.md"))
    args = p.parse_args()
    if args.quick:
        args.widths, args.rounds, args.steps = [128], 2, 5
    if args.worker:
        return worker(args)
    shared = ["--widths", *map(str, args.widths), "--batch", str(args.batch)]
    shared += ["--rounds", str(args.rounds), "--steps", str(args.steps)]
    lines = [
        "| backend | model | B | "
        + " | ".join(f"{k} ms" for k in PARTS)
        + " | wrapper | divergence + kl metric | total | total, per-round spread |",
        "|---|---|---|" + "---|" * (len(PARTS) + 4),
    ]
    for backend in args.backends:
        print(f"[{backend}]", flush=True)
        for r in _common.run_worker(__file__, backend, shared)["rows"]:
            ms = r["ms"]
            base = ms["plain@2B"]
            steps = [ms[k] for k in PARTS]
            shares = [(b - a) / base for a, b in zip(steps, steps[1:], strict=False)]
            shares.append((ms["rdrop@B"] - base) / base)
            q25, q75 = r["spread"]["rdrop@B"]
            lines.append(
                f"| {backend} | MLP 256-{r['width']}-{r['width']}-10 | {args.batch} | "
                + " | ".join(f"{v:.2f}" for v in steps)
                + " | "
                + " | ".join(f"{s:+.0%}" for s in shares)
                + f" | {q25 - 1:+.0%} to {q75 - 1:+.0%} |"
            )
    settings = (
        f"Median training step in `fit` ({args.steps} steps x {args.rounds} rounds "
        "after a warm-up round, contenders interleaved), then each part's cost as a "
        "share of plain@2B: wrapper = wrapper - plain@2B, divergence + kl metric = "
        "rdrop@B - wrapper, total = rdrop@B - plain@2B, and the 25th-75th "
        "percentile of the total over the rounds. Keras' default compilation per "
        "backend (XLA on JAX, tf.function on TensorFlow, eager PyTorch)."
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
