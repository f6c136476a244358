"""Train-step time of AdversarialModel (FGM, PGD, VAT) against the plain model.

Contenders, side by side in one process per backend, each trained with
`fit` as compiled by Keras' default for the backend (XLA on JAX,
`tf.function` on TensorFlow, eager PyTorch):

- plain: the model alone;
- fgm: `AdversarialModel(method="fgm")` (aim: <= 2.2x plain);
- pgd: `method="pgd"`, 3 steps;
- vat: `method="vat"`, one power iteration (aim: <= 3.3x plain).

The contenders take turns, one `fit` epoch of `--steps` steps each per round
(`bench/_common.fit_step_times`); each ratio is the median of the per-round
ratios with a 95% bootstrap interval.

    python bench/adversarial.py --quick          # smoke run
    python bench/adversarial.py                  # all backends -> bench/results/adversarial.md
    python bench/adversarial.py --previous d5001f7   # also FGM and VAT as of a commit

`--previous COMMIT` adds `AdversarialModel` as it was at COMMIT
(bench/_previous.py) as two more contenders, FGM and VAT, in the same rounds.
"""

import _common


def build_models(keras, quick):
    length, hidden, layers = (32, 64, 1) if quick else (64, 128, 2)

    def classifier():
        tokens = keras.Input((48,), dtype="int32")
        h = keras.layers.Embedding(20000, 128, mask_zero=True)(tokens)
        h = keras.layers.GlobalAveragePooling1D()(h)
        h = keras.layers.Dropout(0.1)(keras.layers.Dense(256, activation="relu")(h))
        return keras.Model(tokens, keras.layers.Dense(28)(h), name="classifier")

    def ner():
        return _common.transformer_tagger(
            keras, 4000, length, hidden, layers, 10, masked=True
        )

    def cluener():
        from keras_rdkl import ner

        return ner.build_span_tagger(3500, 10, encoder="bilstm", hidden=256)

    models = {
        "classifier (Embedding 20k x 128, mean, 256, 28 labels; ZLPR), B=64": (
            classifier,
            64,
            "multilabel",
        ),
        f"GlobalPointer NER ({layers}x{hidden} Transformer, L={length}, 10 types), B=16": (
            ner,
            16,
            "spans",
        ),
    }
    if not quick:
        # The CLUENER example's model at its size (BiLSTM 256, 10 types, L=128).
        models[
            "GlobalPointer NER (CLUENER example: BiLSTM 256, L=128, 10 types), B=32"
        ] = (
            cluener,
            32,
            "spans128",
        )
    return models


def make_data(np, kind, n, length=64):
    rng = np.random.default_rng(0)
    if kind == "spans128":
        kind, length, vocab = "spans", 128, 3500
    else:
        vocab = 4000
    if kind == "multilabel":
        x = rng.integers(1, 20000, size=(n, 48)).astype("int32")
        return x, (rng.random((n, 28)) < 0.05).astype("float32")
    x = rng.integers(1, vocab, size=(n, length)).astype("int32")
    y = (rng.random((n, 10, length, length)) < 0.002).astype("float32")
    return x, y


def run_backend(args):
    import keras
    import numpy as np

    from keras_rdkl import AdversarialModel
    from keras_rdkl.losses import MultilabelCategoricalCrossentropy

    old = None
    if args.previous:
        import _previous

        old = _previous.load(args.previous)
    rows = []
    for name, (factory, batch, kind) in build_models(keras, args.quick).items():
        axis = -1 if kind == "multilabel" else (-2, -1)
        length = 32 if args.quick else 64
        x, y = make_data(np, kind, batch * args.steps, length)
        contenders = {}
        for method in ("plain", "fgm", "pgd", "vat"):
            keras.utils.set_random_seed(0)
            model = factory()
            if method != "plain":
                model = AdversarialModel(model, method=method, epsilon=0.5)
            model.compile("adam", MultilabelCategoricalCrossentropy(axis=axis))
            contenders[method] = (model, x, y, batch)
        for method in ("fgm", "vat") if old else ():
            keras.utils.set_random_seed(0)
            model = old.AdversarialModel(factory(), method=method, epsilon=0.5)
            model.compile(
                "adam", old.losses.MultilabelCategoricalCrossentropy(axis=axis)
            )
            contenders[f"{method}@previous"] = (model, x, y, batch)
        times = _common.fit_step_times(contenders, args.rounds, args.steps)
        row = {"model": name, "plain_ms": 1000 * times["plain"][0]}
        for method in ("fgm", "pgd", "vat"):
            row[f"{method}_ms"] = 1000 * times[method][0]
            row[method] = _common.paired_ratio(times, method, "plain")
        for method in ("fgm", "vat") if old else ():
            row[f"{method}_previous_ms"] = 1000 * times[f"{method}@previous"][0]
            row[f"{method}_previous"] = _common.paired_ratio(
                times, method, f"{method}@previous"
            )
        rows.append(row)
    return {"backend": keras.backend.backend(), "rows": rows}


def to_markdown(results):
    lines = [
        "| backend | model | plain ms | FGM ms | FGM / plain (95% interval) | PGD-3 ms "
        "| PGD / plain | VAT ms | VAT / plain (95% interval) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def ratio(r):
        return f"{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})"

    for result in results:
        for row in result["rows"]:
            lines.append(
                f"| {result['backend']} | {row['model']} | {row['plain_ms']:.1f} "
                f"| {row['fgm_ms']:.1f} | {ratio(row['fgm'])} | {row['pgd_ms']:.1f} "
                f"| {ratio(row['pgd'])} | {row['vat_ms']:.1f} | {ratio(row['vat'])} |"
            )
    if not any("fgm_previous" in row for r in results for row in r["rows"]):
        return "\n".join(lines)
    lines += [
        "",
        "| backend | model | FGM ms, previous | FGM this / previous (95% interval) "
        "| VAT ms, previous | VAT this / previous (95% interval) |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in result["rows"]:
            lines.append(
                f"| {result['backend']} | {row['model']} "
                f"| {row['fgm_previous_ms']:.1f} | {ratio(row['fgm_previous'])} "
                f"| {row['vat_previous_ms']:.1f} | {ratio(row['vat_previous'])} |"
            )
    return "\n".join(lines)


def main():
    p = _common.parser(__doc__, quick_help="smoke run: small models, few rounds")
    p.add_argument("--steps", type=int, default=5, help="steps per contender per round")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds")
    p.add_argument("--output", default="bench/results/adversarial.md")
    p.add_argument("--previous", help="also time AdversarialModel as of this commit")
    args = p.parse_args()
    if args.quick:
        args.steps, args.rounds = 2, 2
    if args.worker:
        _common.emit(run_backend(args))
        return
    extra = ["--steps", str(args.steps), "--rounds", str(args.rounds)]
    if args.quick:
        extra.append("--quick")
    if args.previous:
        extra += ["--previous", args.previous]
    results = []
    for backend in args.backends:
        results.append(_common.run_worker(__file__, backend, extra))
        print(to_markdown(results[-1:]), flush=True)
    table = to_markdown(results)
    settings = (
        f"{args.steps} steps x {args.rounds} rounds per contender (after a warm-up "
        "round), epsilon 0.5, PGD 3 steps of 0.3, VAT one power iteration (xi 0.001); "
        "Adam, ZLPR loss; median step and median of per-round ratios to plain."
    )
    _common.write_page(
        args.output, "AdversarialModel train-step cost", __file__, settings, table
    )
    print(table)


if __name__ == "__main__":
    main()
