"""Serving speed: an exported tagger under onnxruntime against Keras' predict, per backend.

The CLUENER example's model (BiLSTM 256 + GlobalPointer, 10 types, a
3,500-character vocabulary; weights untrained, as speed does not depend on
them) is saved once (`ner.save_tagger`) and exported to ONNX with its decoding
(`ner.export_tagger`, from TensorFlow). Each backend's worker then times, on
CLUENER dev sentences (their real lengths; synthetic lengths of the same
spread when the corpus is absent):

- keras: `ner.predict_entities(model, vocab, texts, batch_size=B)`, what a
  user of the package calls (Python decoding of the score grid included);
- onnxruntime: `examples/serve_tagger.py`'s `Tagger(folder).entities(texts,
  batch_size=B)` (in-graph decoding, NumPy tokenization), no Keras involved.

Batch 1 gives the latency per sentence, batch 32 the throughput. The two
contenders alternate within each round (after a warm-up round that compiles
every shape); each figure is a median over rounds, with the median of the
per-round ratios and its 95% bootstrap interval.

    python bench/serving.py --quick      # smoke run
    python bench/serving.py              # -> bench/results/serving.md
"""

import os
import tempfile
import time

import _common


def texts(n):
    """`n` CLUENER dev sentences (or synthetic ones of CLUENER-like lengths)."""
    import numpy as np

    try:
        from keras_rdkl import datasets

        dev, _ = datasets.load_cluener("dev")
        return ["".join(tokens) for tokens, _ in dev[:n]]
    except Exception:  # noqa: BLE001 - no corpus here: synthetic lengths
        rng = np.random.default_rng(0)
        return [
            "".join("北京大学" for _ in range(k // 4 + 1))
            for k in rng.integers(8, 50, n)
        ]


def prepare(folder, quick):
    """TensorFlow worker: builds, saves and exports the tagger into `folder`."""
    import keras
    import numpy as np

    from keras_rdkl import ner

    keras.utils.set_random_seed(0)
    corpus = texts(2000)
    vocab = ner.Vocabulary.build(
        [list(t) for t in corpus], labels=[f"type{i}" for i in range(10)], level="char"
    )
    hidden = 32 if quick else 256
    model = ner.build_span_tagger(3500, 10, encoder="bilstm", hidden=hidden)
    ner.save_tagger(folder, model, vocab)
    # Untrained scores sit around 0: a threshold that about two spans per
    # sentence clear keeps the decoding's work what a trained tagger's is.
    sample = corpus[:64]
    data = ner.SpanBatches(
        [(list(t), []) for t in sample], vocab, 10, 64, with_targets=False
    )
    logits = np.asarray(model.predict_on_batch(data[0][0]))
    threshold = float(
        np.quantile(logits[logits > -1e4], 1 - 2 * 64 / (logits > -1e4).sum())
    )
    ner.export_tagger(
        os.path.join(folder, "onnx"), model, vocab, format="onnx", threshold=threshold
    )


def run_backend(args):
    import keras
    import numpy as np

    from keras_rdkl import ner

    if args.prepare:
        prepare(args.folder, args.quick)
    model, vocab = ner.load_tagger(args.folder)
    server = _load_server().Tagger(os.path.join(args.folder, "onnx"))
    threshold = server.settings["threshold"]
    sentences = texts(args.sentences)

    def keras_run(batch):
        ner.predict_entities(
            model,
            vocab,
            sentences[: args.per_batch[batch]],
            batch_size=batch,
            threshold=threshold,
        )

    def onnx_run(batch):
        server.entities(sentences[: args.per_batch[batch]], batch_size=batch)

    rows = []
    for batch in (1, 32):
        n = args.per_batch[batch]
        times = {"keras": [], "onnxruntime": []}
        for round_ in range(args.rounds + 1):
            for name, fn in (("keras", keras_run), ("onnxruntime", onnx_run)):
                start = time.perf_counter()
                fn(batch)
                if round_:  # round 0 compiles every shape
                    times[name].append((time.perf_counter() - start) / n)
        med = {k: float(np.median(v)) for k, v in times.items()}
        ratio = _common.paired_ratio(
            {k: (med[k], v) for k, v in times.items()}, "onnxruntime", "keras"
        )
        rows.append({"batch": batch, "sentences": n, "ms": med, "ratio": ratio})
    return {"backend": keras.backend.backend(), "rows": rows}


def _load_server():
    import importlib.util

    path = os.path.join(_common.ROOT, "examples", "serve_tagger.py")
    spec = importlib.util.spec_from_file_location("serve_tagger", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_markdown(results):
    lines = [
        "| backend | batch | sentences | Keras `predict_entities` ms / sentence "
        "| onnxruntime ms / sentence | onnxruntime / Keras (95% interval) |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in result["rows"]:
            r = row["ratio"]
            lines.append(
                f"| {result['backend']} | {row['batch']} | {row['sentences']} "
                f"| {1000 * row['ms']['keras']:.2f} | {1000 * row['ms']['onnxruntime']:.2f} "
                f"| {r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f}) |"
            )
    return "\n".join(lines)


def main():
    p = _common.parser(__doc__, quick_help="smoke run: a small model, few sentences")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--output", default="bench/results/serving.md")
    p.add_argument("--folder", help=argparse_hidden())
    p.add_argument("--prepare", action="store_true", help=argparse_hidden())
    args = p.parse_args()
    sizes = (16, 64) if args.quick else (64, 512)
    args.per_batch = {1: sizes[0], 32: sizes[1]}
    args.sentences = max(sizes)
    if args.quick:
        args.rounds = 2
    if args.worker:
        _common.emit(run_backend(args))
        return
    folder = tempfile.mkdtemp(prefix="bench_serving_")
    extra = ["--folder", folder, "--rounds", str(args.rounds)]
    if args.quick:
        extra.append("--quick")
    results = []
    # TensorFlow first: it builds, saves and exports the tagger.
    backends = sorted(args.backends, key=lambda b: b != "tensorflow")
    if backends[0] != "tensorflow":
        backends.insert(0, "tensorflow")
    for i, backend in enumerate(backends):
        more = ["--prepare"] if i == 0 else []
        result = _common.run_worker(__file__, backend, extra + more)
        if backend in args.backends:
            results.append(result)
            print(to_markdown([result]), flush=True)
    table = to_markdown(results)
    settings = (
        f"The CLUENER example's tagger (BiLSTM {32 if args.quick else 256} + "
        "GlobalPointer, 10 types), exported to ONNX from TensorFlow with its "
        f"decoding; {args.rounds} rounds after a warm-up round; per-sentence "
        "times are medians over rounds; the ratio is the median of per-round "
        "ratios (below 1: onnxruntime is faster). onnxruntime's figures in each "
        "row are timed in that backend's process, alternating with Keras."
    )
    _common.write_page(
        args.output, "Serving: onnxruntime against Keras", __file__, settings, table
    )
    print(table)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
