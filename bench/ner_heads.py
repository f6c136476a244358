"""Benchmark: CRF vs GlobalPointer vs EfficientGlobalPointer span heads, per backend.

The three heads of `keras_rdkl.ner.build_span_tagger` on the same features
(token embeddings of width `--hidden`, so the head dominates), each trained
with its own loss (`ner.tagger_loss`: ZLPR over the span grid, or the CRF
likelihood) and decoded as users decode (`ner.predict_spans`: the span grid
thresholded at 0, or the CRF's constrained Viterbi), at several lengths L:

* train step: median wall time of `model.train_on_batch` (Adam; the Keras
  default compilation of each backend: XLA on JAX, tf.function on
  TensorFlow, eager PyTorch), targets made per batch as in training;
* decode: median wall time of `ner.predict_spans` on one batch;
* peak memory: growth of the max resident set of a fresh process per head
  (lengths in increasing order) over a baseline taken after a tiny warm-up.

The heads run interleaved in one process per backend (so load changes hit
all of them). Writes bench/results/ner_heads.md.

    .venv/bin/python bench/ner_heads.py            # L = 64, 128, 256, 512
    .venv/bin/python bench/ner_heads.py --quick    # smoke run
"""

import argparse
import os
import time

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
HEADS = ("global_pointer", "efficient_global_pointer", "crf")


def _examples(batch, length, num_types, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batch):
        spans, pos = [], 0
        while True:
            pos += int(rng.integers(1, 12))
            if pos >= length:
                break
            end = min(pos + int(rng.integers(0, 4)), length - 1)
            spans.append((int(rng.integers(num_types)), pos, end))
            pos = end + 1
        tokens = [f"t{k}" for k in rng.integers(0, 500, size=length)]
        out.append((tokens, spans))
    return out


def make_head(head, length, args):
    """Returns (train_step, decode) closures for one head at one length."""
    import keras

    from keras_rdkl import ner

    examples = _examples(args.batch, length, args.types)
    vocab = ner.Vocabulary.build([t for t, _ in examples])
    token_ids = keras.Input((None,), dtype="int32")
    mask = ner.PaddingMask()(token_ids)
    x = keras.layers.Embedding(len(vocab), args.hidden)(token_ids)
    out = ner.HEADS[head](x, mask, args.types, args.head_size, head)
    model = keras.Model(token_ids, out)
    model.compile(keras.optimizers.Adam(1e-3), loss=ner.tagger_loss(model))
    data = ner.SpanBatches(
        examples,
        vocab,
        args.types,
        batch_size=args.batch,
        bucket=False,
        targets=ner.target_kind(model),
    )

    def train_step():
        xb, yb = data[0]  # targets encoded per batch, as in training
        model.train_on_batch(xb, yb)

    def decode():
        ner.predict_spans(model, examples, vocab, args.types, batch_size=args.batch)

    return train_step, decode


def worker(args):
    import numpy as np

    result = {"rows": []}
    if args.memory_of:
        small = argparse.Namespace(**{**vars(args), "batch": 2})
        for fn in make_head(args.memory_of, 16, small):
            fn()
        base = _common.maxrss_mb()
        for length in args.lengths:
            train_step, decode = make_head(args.memory_of, length, args)
            for _ in range(2):
                train_step()
            decode()
            peak = _common.maxrss_mb() - base
            result["rows"].append({"length": length, "peak_mb": peak})
        return _common.emit(result)
    for length in args.lengths:
        fns = {h: make_head(h, length, args) for h in args.heads}
        for h in args.heads:
            for _ in range(args.warmup):
                fns[h][0]()
                fns[h][1]()
        times = {(h, k): [] for h in args.heads for k in ("train", "decode")}
        for _ in range(args.repeats):
            for h in args.heads:
                for k, fn in zip(("train", "decode"), fns[h], strict=True):
                    t0 = time.perf_counter()
                    fn()
                    times[(h, k)].append(time.perf_counter() - t0)
        for (h, k), ts in times.items():
            result["rows"].append(
                {"length": length, "head": h, "kind": k, "ms": 1e3 * np.median(ts)}
            )
    _common.emit(result)


def main():
    p = _common.parser(__doc__, quick_help="smoke run: L=64, 2 repeats")
    p.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    p.add_argument("--lengths", nargs="+", type=int, default=[64, 128, 256, 512])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--types", type=int, default=10)
    p.add_argument("--head-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--output", default=os.path.join(HERE, "results", "ner_heads.md"))
    p.add_argument("--memory-of", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.lengths, args.repeats, args.warmup = [64], 2, 1
    if args.worker:
        return worker(args)
    shared = ["--heads", *args.heads, "--lengths", *map(str, args.lengths)]
    for name in ("batch", "hidden", "types", "head_size", "repeats", "warmup"):
        shared += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    timing, memory = {}, {}
    for backend in args.backends:
        print(f"[{backend}] timing", flush=True)
        for r in _common.run_worker(__file__, backend, shared)["rows"]:
            timing[(backend, r["length"], r["head"], r["kind"])] = r["ms"]
        for h in args.heads:
            print(f"[{backend}] memory {h}", flush=True)
            out = _common.run_worker(__file__, backend, shared + ["--memory-of", h])
            for r in out["rows"]:
                memory[(backend, r["length"], h)] = r["peak_mb"]
    short = {"global_pointer": "GP", "efficient_global_pointer": "EGP", "crf": "CRF"}
    names = [short[h] for h in args.heads]
    cols = (
        [f"{n} train ms" for n in names]
        + [f"{n} decode ms" for n in names]
        + [f"{n} peak MB" for n in names]
    )
    lines = [
        "| backend | L | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for backend in args.backends:
        for length in args.lengths:
            cells = [timing[(backend, length, h, "train")] for h in args.heads]
            cells += [timing[(backend, length, h, "decode")] for h in args.heads]
            mem = [memory[(backend, length, h)] for h in args.heads]
            lines.append(
                f"| {backend} | {length} | "
                + " | ".join(f"{c:.1f}" for c in cells)
                + " | "
                + " | ".join(f"{m:.0f}" for m in mem)
                + " |"
            )
    table = "\n".join(lines)
    print(table)
    settings = (
        f"Settings: batch {args.batch}, features {args.hidden} wide (token embeddings), "
        f"{args.types} entity types (CRF: {1 + 2 * args.types} BIO tags), head size "
        f"{args.head_size}; {args.repeats} interleaved repeats after {args.warmup} "
        "warm-up runs, medians. Train: `train_on_batch` with Adam and the head's loss; "
        "decode: `ner.predict_spans` of one batch; peak MB: max-RSS growth in a fresh "
        "process per head."
    )
    _common.write_page(
        args.output,
        "Span heads: CRF vs GlobalPointer vs EfficientGlobalPointer",
        __file__,
        settings,
        table,
    )


if __name__ == "__main__":
    main()
