"""Benchmark: a BERT-base-sized backbone (random weights) with GlobalPointer, per backend.

Builds `keras_rdkl.compat.bert4keras.build_transformer_model` from a
BERT-base config (12 layers, hidden 768, 12 heads, intermediate 3072,
Chinese vocabulary size 21128; no checkpoint: random weights), puts
`GlobalPointer(10, 64)` on it and times one training step
(`train_on_batch`, Adam, the ZLPR loss) at batch 16, L = 128: the forward
and backward pass a fine-tuning run makes per batch. Peak memory is the
growth of the process' max resident set over a baseline taken after
building the model (CPU). One fresh process per backend. Writes
bench/results/bert.md.

    .venv/bin/python bench/bert.py             # batch 16, L = 128
    .venv/bin/python bench/bert.py --quick     # 2 layers, batch 2, L = 32
"""

import json
import os
import tempfile
import time

import _common

HERE = os.path.dirname(os.path.abspath(__file__))


def bert_config(layers):
    return {
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "max_position_embeddings": 512,
        "num_attention_heads": 12,
        "num_hidden_layers": layers,
        "type_vocab_size": 2,
        "vocab_size": 21128,
    }


def worker(args):
    import keras
    import numpy as np

    from keras_rdkl.compat.bert4keras import build_transformer_model
    from keras_rdkl.layers import GlobalPointer
    from keras_rdkl.losses import MultilabelCategoricalCrossentropy

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bert_config.json")
        with open(path, "w") as f:
            json.dump(bert_config(args.layers), f)
        bert = build_transformer_model(path)
    model = keras.Model(bert.inputs, GlobalPointer(10, 64)(bert.output))
    model.compile(
        keras.optimizers.Adam(2e-5),
        loss=MultilabelCategoricalCrossentropy(axis=(-2, -1)),
    )
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 21128, size=(args.batch, args.length)).astype("int32")
    ids[0, args.length // 2 :] = 0  # one padded row
    segments = np.zeros_like(ids)
    y = np.zeros((args.batch, 10, args.length, args.length), "float32")
    y[:, :, 1, 3] = 1.0
    base = _common.maxrss_mb()
    times = []
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        model.train_on_batch([ids, segments], y)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    _common.emit(
        {
            "median_s": float(np.median(times)),
            "peak_mb": _common.maxrss_mb() - base,
            "params": int(model.count_params()),
        }
    )


def main():
    p = _common.parser(__doc__)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--output", default=os.path.join(HERE, "results", "bert.md"))
    args = p.parse_args()
    if args.quick:
        args.layers, args.batch, args.length, args.repeats = 2, 2, 32, 2
    if args.worker:
        return worker(args)
    shared = []
    for name in ("layers", "batch", "length", "repeats", "warmup"):
        shared += [f"--{name}", str(getattr(args, name))]
    lines = [
        "| backend | train step s (median) | sentences/s | peak MB | parameters |",
        "|---|---|---|---|---|",
    ]
    for backend in args.backends:
        print(f"[{backend}]", flush=True)
        r = _common.run_worker(__file__, backend, shared)
        lines.append(
            f"| {backend} | {r['median_s']:.2f} | {args.batch / r['median_s']:.1f} | "
            f"{r['peak_mb']:.0f} | {r['params']:,} |"
        )
    table = "\n".join(lines)
    print(table)
    settings = (
        f"Settings: {args.layers} layers x hidden 768 (random weights), GlobalPointer(10, "
        f"64), ZLPR loss, Adam; batch {args.batch}, L = {args.length}; median of "
        f"{args.repeats} `train_on_batch` steps after {args.warmup} warm-up step(s) "
        "(Keras' default compilation per backend). Peak MB: max-RSS growth over the "
        "process after the model is built."
    )
    _common.write_page(
        args.output,
        "BERT-base-sized backbone + GlobalPointer: one training step",
        __file__,
        settings,
        table,
    )


if __name__ == "__main__":
    main()
