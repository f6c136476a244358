"""Benchmark: span taggers on BERT-base and XLM-RoBERTa-base-sized backbones, per backend.

Builds `keras_rdkl.ner.build_pretrained_tagger` on keras-hub backbones with
random weights (nothing downloaded): `BertBackbone` (12 layers, hidden 768,
12 heads, intermediate 3072, vocabulary 28996) and `XLMRobertaBackbone`
(the same sizes, vocabulary 250002), each with GlobalPointer and with the
CRF (9 entity types), compiled with `ner.tagger_loss` and
`ner.fine_tuning_optimizer`. Times one training step (`train_on_batch`)
and one prediction (`predict_on_batch`) at batch 8, 128 pieces: medians
after warm-up. The inputs are real sub-word pieces: WNUT-17 training
sentences run together into rows of up to 128 pieces by `SubwordBatches`.
Peak memory is the growth of the process' max resident set over a baseline
taken after building and compiling the model (CPU). One fresh process per
backend and model.

Beside the models, the sub-word pipeline's throughput: sentences per second
that `SubwordTokenizer` (a WordPiece tokenizer trained here with the
`tokenizers` library) and `SubwordBatches` tokenize, align, window and batch
(with targets) on real WNUT-17 and CLUENER training sentences, to show
that it is never the bottleneck. Writes bench/results/pretrained.md.

    .venv/bin/python bench/pretrained.py           # base sizes, batch 8, 128 pieces
    .venv/bin/python bench/pretrained.py --quick   # 2 tiny layers, batch 2, 32 pieces
"""

import os
import tempfile
import time

import _common

HERE = os.path.dirname(os.path.abspath(__file__))
# (keras-hub class, vocabulary size, (cls, sep, pad) ids) by backbone.
BACKBONES = {
    "bert": ("BertBackbone", 28996, (101, 102, 0)),
    "xlmr": ("XLMRobertaBackbone", 250002, (0, 2, 1)),
}
NAMES = {"bert": "BERT-base", "xlmr": "XLM-R-base"}
HEADS = ("global_pointer", "crf")
NUM_TYPES = 9


def data_dir():
    for path in (
        os.environ.get("KERAS_RDKL_DATA"),
        "/work/shared/data",
        os.path.join(_common.ROOT, "..", "shared", "data"),
    ):
        if path and os.path.isdir(path):
            return path
    raise SystemExit("No data folder: set KERAS_RDKL_DATA to ../shared/data.")


def corpora(limit=None):
    """`{name: (examples with integer types, level, number of types)}`, training splits."""
    from keras_rdkl.datasets import load_cluener
    from keras_rdkl.datasets import load_wnut17

    root = data_dir()
    out = {}
    for name, (examples, labels), level in (
        ("WNUT-17", load_wnut17("train", path=os.path.join(root, "wnut17")), "word"),
        (
            "CLUENER",
            load_cluener("train", path=os.path.join(root, "cluener2020")),
            "char",
        ),
    ):
        ids = {t: i for i, t in enumerate(labels)}
        examples = [
            (list(w), [(ids[t], s, e) for t, s, e in spans])
            for w, spans in examples[:limit]
        ]
        out[name] = (examples, level, len(labels))
    return out


def wordpiece(examples, level, vocab_size):
    """A `SubwordTokenizer` over a WordPiece vocabulary trained on `examples`."""
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers
    from tokenizers import trainers

    from keras_rdkl.ner import SubwordTokenizer

    sep = "" if level == "char" else " "
    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=False)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.train_from_iterator(
        (sep.join(w) for w, _ in examples),
        trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
            show_progress=False,
        ),
    )
    return SubwordTokenizer(wp, "[CLS]", "[SEP]", "[PAD]", level=level)


def pipeline(examples, tokenizer, num_types, args):
    """Seconds to tokenize, align and batch (with span targets) all of `examples`."""
    from keras_rdkl.ner import SubwordBatches

    t0 = time.perf_counter()
    batches = SubwordBatches(
        examples, tokenizer, num_types, max_length=args.length + 2, batch_size=8
    )
    pieces = sum(len(p) for p in batches.pieces)
    for i in range(len(batches)):
        batches[i]
    return time.perf_counter() - t0, pieces


def model_batches(examples, tokenizer, args):
    """One batch of real pieces, `args.length` long: `(x, span grids, BIO tags)`.

    Consecutive sentences are run together into rows, which `SubwordBatches`
    cuts into windows of at most `args.length` pieces; the batch keeps their
    order (full windows and the shorter rests of rows, so some padding).
    """
    from keras_rdkl.ner import SubwordBatches

    rows, per_row = [], 12
    for i in range(0, per_row * args.batch, per_row):
        words, spans = [], []
        for w, s in examples[i : i + per_row]:
            spans += [(t, a + len(words), b + len(words)) for t, a, b in s]
            words += w
        rows.append((words, spans))
    out = {}
    for targets in ("spans", "tags"):
        batches = SubwordBatches(
            rows,
            tokenizer,
            NUM_TYPES,
            max_length=args.length + 2,
            batch_size=args.batch,
            bucket=False,
            pad_to_multiple=args.length,
            targets=targets,
        )
        out[targets] = batches[0]
    x = out["spans"][0]
    return x, out["spans"][1], out["tags"][1]


def backbone(keras_hub, name, args):
    cls, vocab, _ = BACKBONES[name]
    return getattr(keras_hub.models, cls)(
        vocabulary_size=args.vocab or vocab,
        num_layers=args.layers,
        num_heads=args.heads,
        hidden_dim=args.hidden,
        intermediate_dim=args.intermediate,
        dropout=0.1,
    )


def worker(args):
    import keras_hub
    import numpy as np

    from keras_rdkl import ner

    data = np.load(args.inputs)
    x = {k: data[k] for k in ("token_ids", "padding_mask", "word_starts")}
    _, _, (cls_id, sep_id, pad_id) = BACKBONES[args.backbone]
    # The pieces come from a WordPiece vocabulary of 8,000 (pad id 0): kept
    # inside the backbone's vocabulary, its own pad id on the padding.
    vocab = args.vocab or BACKBONES[args.backbone][1]
    x["token_ids"] = np.where(x["padding_mask"] > 0, x["token_ids"] % vocab, pad_id)
    y = data["spans"] if args.head == "global_pointer" else data["tags"]
    model = ner.build_pretrained_tagger(
        backbone(keras_hub, args.backbone, args),
        NUM_TYPES,
        head=args.head,
        cls_id=cls_id,
        sep_id=sep_id,
        pad_id=pad_id,
    )
    model.compile(
        ner.fine_tuning_optimizer(model, total_steps=100),
        loss=ner.tagger_loss(model),
    )
    base = _common.maxrss_mb()
    times = {"train": [], "predict": []}
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        if i >= args.warmup:
            times["train"].append(time.perf_counter() - t0)
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        model.predict_on_batch(x)
        if i >= args.warmup:
            times["predict"].append(time.perf_counter() - t0)
    _common.emit(
        {
            "train_s": float(np.median(times["train"])),
            "predict_s": float(np.median(times["predict"])),
            "peak_mb": _common.maxrss_mb() - base,
            "params": int(model.count_params()),
        }
    )


def main():
    p = _common.parser(__doc__, quick_help="2 tiny layers, batch 2, 32 pieces")
    p.add_argument("--backbones", dest="models", nargs="+", default=list(BACKBONES))
    p.add_argument("--heads", dest="head_list", nargs="+", default=list(HEADS))
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--attention-heads", dest="heads", type=int, default=12)
    p.add_argument("--intermediate", type=int, default=3072)
    p.add_argument("--vocab", type=int, default=0, help=argparse_hidden())
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--pipeline-repeats", type=int, default=3)
    p.add_argument("--backbone", help=argparse_hidden())
    p.add_argument("--head", help=argparse_hidden())
    p.add_argument("--inputs", help=argparse_hidden())
    p.add_argument("--output", default=os.path.join(HERE, "results", "pretrained.md"))
    args = p.parse_args()
    if args.quick:
        args.layers, args.hidden, args.heads, args.intermediate = 2, 64, 2, 128
        args.vocab, args.batch, args.length, args.repeats = 1000, 2, 32, 1
        args.pipeline_repeats = 1
    if args.worker:
        return worker(args)

    import numpy as np

    # The parent process only tokenizes: the lightest backend to import.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    # The pipeline: host-side, timed here (tokenizers trained first, untimed).
    texts = corpora(limit=300 if args.quick else None)
    pipe_lines = [
        "| corpus | sentences | pieces / sentence | tokenize + align + batch s "
        "(median) | sentences/s |",
        "|---|---|---|---|---|",
    ]
    pipe_rate = {}
    tokenizers = {}
    for name, (examples, level, num_types) in texts.items():
        tokenizers[name] = tok = wordpiece(examples, level, 8000)
        runs = [
            pipeline(examples, tok, num_types, args)
            for _ in range(args.pipeline_repeats)
        ]
        seconds = float(np.median([s for s, _ in runs]))
        pipe_rate[name] = len(examples) / seconds
        pipe_lines.append(
            f"| {name} | {len(examples):,} | {runs[0][1] / len(examples):.1f} | "
            f"{seconds:.2f} | {pipe_rate[name]:,.0f} |"
        )
        print(pipe_lines[-1], flush=True)
    x, spans, tags = model_batches(texts["WNUT-17"][0], tokenizers["WNUT-17"], args)
    fill = x["padding_mask"].sum() / x["padding_mask"].size

    lines = [
        "| backend | backbone | head | train step s | train sentences/s | "
        "predict s | predict sentences/s | peak MB | parameters |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shared = []
    for name in (
        "layers",
        "hidden",
        "intermediate",
        "vocab",
        "batch",
        "length",
        "repeats",
        "warmup",
    ):
        shared += [f"--{name}", str(getattr(args, name))]
    shared += ["--attention-heads", str(args.heads)]
    best_predict = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "batch.npz")
        np.savez(inputs, **x, spans=spans, tags=tags)
        for backend in args.backends:
            for model in args.models:
                for head in args.head_list:
                    print(f"[{backend} {model} {head}]", flush=True)
                    extra = ["--backbone", model, "--head", head, "--inputs", inputs]
                    r = _common.run_worker(__file__, backend, shared + extra)
                    best_predict = max(best_predict, args.batch / r["predict_s"])
                    lines.append(
                        f"| {backend} | {NAMES[model]} | {head} | {r['train_s']:.2f} | "
                        f"{args.batch / r['train_s']:.2f} | {r['predict_s']:.2f} | "
                        f"{args.batch / r['predict_s']:.1f} | {r['peak_mb']:.0f} | "
                        f"{r['params']:,} |"
                    )
                    print(lines[-1], flush=True)
    slowest_pipe = min(pipe_rate.values())
    table = "\n".join(
        [
            *lines,
            "",
            "Sub-word pipeline (host side, no backend work): `SubwordTokenizer` "
            "(WordPiece, 8,000 pieces, trained on the corpus) + `SubwordBatches` "
            f"(windows of {args.length} pieces, batch 8, span targets), every "
            "training sentence:",
            "",
            *pipe_lines,
            "",
            f"The slowest pipeline ({slowest_pipe:,.0f} sentences/s) is "
            f"{slowest_pipe / best_predict:,.0f}x the fastest model prediction "
            f"above ({best_predict:.1f} sentences/s of {args.length} pieces).",
        ]
    )
    print(table)
    settings = (
        f"Settings: keras-hub `BertBackbone` / `XLMRobertaBackbone`, {args.layers} "
        f"layers x hidden {args.hidden}, {args.heads} heads, intermediate "
        f"{args.intermediate}, random weights, vocabulary "
        + (f"{args.vocab}" if args.vocab else "28,996 / 250,002")
        + f"; `build_pretrained_tagger(..., {NUM_TYPES}, head=...)` (GlobalPointer "
        "head size 64; CRF over each word's first piece), `tagger_loss`, "
        "`fine_tuning_optimizer(total_steps=100)` (AdamW, two learning rates). "
        f"Batch {args.batch} x {args.length} pieces (+2 special tokens): WNUT-17 "
        f"training sentences run together, {fill:.0%} of the positions real "
        f"pieces. Median of {args.repeats} `train_on_batch` and of {args.repeats} "
        f"`predict_on_batch` calls after {args.warmup} warm-up call(s) each "
        "(Keras' default compilation per backend); one process per backend and "
        "model. Peak MB: max-RSS growth over the process after the model is built "
        "and compiled, through training and prediction."
    )
    _common.write_page(
        args.output,
        "Pretrained backbone taggers (BERT-base, XLM-RoBERTa-base sizes)",
        __file__,
        settings,
        table,
    )


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
