"""Where R-Drop's fixed cost per step goes: the train step taken apart, per backend.

On small models `RDropModel` at batch B costs more than the plain model at 2B
(bench/rdrop.py). This benchmark removes one part of the R-Drop step at a
time, side by side in one process per backend (interleaved, medians of
`train_on_batch`), on the MLP 256-W-W-10 with dropout of bench/rdrop.py:

* plain@2B: the wrapped model alone on 2B rows (the baseline, 1.00);
* wrapper: `RDropModel` making the doubled pass and the compiled loss on the
  2B rows, but no divergence and no `kl` metric: the cost of the wrapper
  itself (its own `Layer.__call__`, the `[x; x]` concatenation, the doubled
  targets, a second model level for the trainer);
* + divergence: the same with the symmetric KL (split of the output, the
  divergence forward and backward, the `alpha` term), `kl` not logged;
* rdrop@B: the whole `RDropModel` step (the `kl` metric's update and
  result too).

Writes bench/results/rdrop_parts.md.

    python bench/rdrop_parts.py            # widths 128 and 512, every backend
    python bench/rdrop_parts.py --quick    # smoke run
"""

import os

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("plain@2B", "wrapper", "+ divergence", "rdrop@B")


def _contenders(keras, width, batch):
    import numpy as np

    from keras_rdkl import RDropModel
    from keras_rdkl.models import rdrop as rdrop_module

    def build():
        inputs = keras.Input((256,))
        h = inputs
        for _ in range(2):
            h = keras.layers.Dense(width, activation="relu")(h)
            h = keras.layers.Dropout(0.1)(h)
        return keras.Model(inputs, keras.layers.Dense(10)(h))

    class _Silent(keras.metrics.Mean):
        def update_state(self, values, sample_weight=None):
            return None

    class Wrapper(RDropModel):
        """The doubled pass and the loss on 2B rows only."""

        def compute_loss(
            self, x=None, y=None, y_pred=None, sample_weight=None, training=True
        ):
            if not (training and self._doubled):
                return super().compute_loss(x, y, y_pred, sample_weight, training)
            return keras.Model.compute_loss(
                self, x, rdrop_module._twice(y), y_pred, None, training=training
            )

    class NoMetric(RDropModel):
        """Everything but the `kl` metric."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.kl_tracker = _Silent(name="kl")

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * batch, 256)).astype("float32")
    y = rng.integers(0, 10, 2 * batch)
    half = (x[:batch], y[:batch])
    return {
        "plain@2B": (build(), x, y),
        "wrapper": (Wrapper(build(), alpha=1.0), *half),
        "+ divergence": (NoMetric(build(), alpha=1.0), *half),
        "rdrop@B": (RDropModel(build(), alpha=1.0), *half),
    }


def worker(args):
    import keras

    rows = []
    for width in args.widths:
        contenders = _contenders(keras, width, args.batch)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        for model, _, _ in contenders.values():
            model.compile(keras.optimizers.Adam(1e-4), loss)
        med = _common.train_step_medians(contenders, args.repeats, args.warmup)
        rows.append({"width": width, "ms": {k: 1e3 * v for k, v in med.items()}})
    _common.emit({"rows": rows})


def main():
    p = _common.parser(__doc__, quick_help="smoke run: width 128, 5 repeats")
    p.add_argument("--widths", nargs="+", type=int, default=[128, 512])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--output", default=os.path.join(HERE, "results", "rdrop_parts.md"))
    args = p.parse_args()
    if args.quick:
        args.widths, args.repeats, args.warmup = [128], 5, 2
    if args.worker:
        return worker(args)
    shared = ["--widths", *map(str, args.widths), "--batch", str(args.batch)]
    shared += ["--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    lines = [
        "| backend | model | B | "
        + " | ".join(f"{k} ms" for k in PARTS)
        + " | wrapper | divergence | kl metric | total |",
        "|---|---|---|" + "---|" * (len(PARTS) + 4),
    ]
    for backend in args.backends:
        print(f"[{backend}]", flush=True)
        for r in _common.run_worker(__file__, backend, shared)["rows"]:
            ms = r["ms"]
            base = ms["plain@2B"]
            steps = [ms[k] for k in PARTS]
            shares = [
                (b - a) / base for a, b in zip(steps, steps[1:], strict=False)
            ] + [(ms["rdrop@B"] - base) / base]
            lines.append(
                f"| {backend} | MLP 256-{r['width']}-{r['width']}-10 | {args.batch} | "
                + " | ".join(f"{v:.2f}" for v in steps)
                + " | "
                + " | ".join(f"{s:+.0%}" for s in shares)
                + " |"
            )
    settings = (
        "Median `train_on_batch` time of each contender (interleaved), then each "
        "part's cost as a share of plain@2B: wrapper = wrapper - plain@2B, "
        "divergence = + divergence - wrapper, kl metric = rdrop@B - + divergence, "
        "total = rdrop@B - plain@2B. Keras' default compilation per backend "
        "(XLA on JAX, tf.function on TensorFlow, eager PyTorch)."
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
