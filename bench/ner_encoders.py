"""Benchmark: training and prediction throughput of each NER encoder, per backend.

`keras_rdkl.ner.build_span_tagger` with the package's defaults (character
ids, embedding 128, hidden 256, one layer, GlobalPointer head of size 64,
10 entity types: the CLUENER configuration of examples/ner_global_pointer.py)
for each encoder (BiLSTM, dilated CNN, Transformer), on batches of 32
sentences of one length (CLUENER's sentences are 37 characters long on
average, 50 at most; L = 48 here). Training: `train_on_batch` with Adam and
the tagger's loss (dense ZLPR on the span grid); prediction:
`predict_on_batch`. Sentences per second are batch / median step time. One
fresh process per backend; Keras' default compilation per backend (XLA on
JAX and TensorFlow, eager PyTorch). Writes bench/results/ner_encoders.md.

    .venv/bin/python bench/ner_encoders.py            # L = 48, 30 steps
    .venv/bin/python bench/ner_encoders.py --quick    # L = 16, 3 steps
"""

import os
import time

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
ENCODERS = ("bilstm", "idcnn", "transformer")


def worker(args):
    import keras
    import numpy as np

    from keras_rdkl import ner

    rng = np.random.default_rng(0)
    ids = rng.integers(2, 3673, size=(args.batch, args.length)).astype("int32")
    y = np.zeros((args.batch, 10, args.length, args.length), "float32")
    y[:, :, 2, 5] = 1.0
    out = {}
    for encoder in args.encoders:
        model = ner.build_span_tagger(3673, 10, encoder=encoder)
        model.compile(keras.optimizers.Adam(1e-3), loss=ner.tagger_loss(model))
        timings = {}
        for phase, step in (
            ("train", lambda m=model: m.train_on_batch(ids, y)),
            ("predict", lambda m=model: m.predict_on_batch(ids)),
        ):
            for _ in range(args.warmup):
                step()
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            timings[phase] = float(np.median(times))
        out[encoder] = {**timings, "params": int(model.count_params())}
    _common.emit(out)


def main():
    p = _common.parser(__doc__)
    p.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=48)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--output", default=os.path.join(HERE, "results", "ner_encoders.md"))
    args = p.parse_args()
    if args.quick:
        args.length, args.repeats, args.warmup = 16, 3, 1
    if args.worker:
        return worker(args)
    shared = ["--encoders", *args.encoders]
    for name in ("batch", "length", "repeats", "warmup"):
        shared += [f"--{name}", str(getattr(args, name))]
    lines = [
        "| backend | encoder | train sentences/s | predict sentences/s | "
        "train step ms | parameters |",
        "|---|---|---|---|---|---|",
    ]
    for backend in args.backends:
        print(f"[{backend}]", flush=True)
        result = _common.run_worker(__file__, backend, shared)
        for encoder, r in result.items():
            lines.append(
                f"| {backend} | {encoder} | {args.batch / r['train']:.0f} | "
                f"{args.batch / r['predict']:.0f} | {1e3 * r['train']:.1f} | "
                f"{r['params']:,} |"
            )
    table = "\n".join(lines)
    print(table)
    settings = (
        f"Settings: batch {args.batch}, L = {args.length}, 10 types, "
        "`ner.build_span_tagger(3673, 10, encoder=...)` defaults (embedding 128, hidden "
        f"256, 1 layer, GlobalPointer head size 64); median of {args.repeats} steps after "
        f"{args.warmup} warm-up step(s)."
    )
    _common.write_page(
        args.output,
        "NER encoders: training and prediction throughput per backend",
        __file__,
        settings,
        table,
    )


if __name__ == "__main__":
    main()
