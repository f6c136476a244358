"""Nested / flat NER with a GlobalPointer head, with or without R-Drop.

Trains a compact Transformer encoder (from scratch, offline: character level
for Chinese, word level for English and German) with a GlobalPointer or
EfficientGlobalPointer head and the ZLPR loss on one of the corpora of
`keras_rdkl.datasets`, then reports entity precision / recall / F1 (nested
spans counted as such) on dev and test, and writes the model (.keras), a
metrics JSON and a PNG of the training curves.

    KERAS_BACKEND=jax python examples/ner_global_pointer.py \
        --dataset cluener --rdrop-alpha 1.0 --output-dir runs/demo

The defaults are sized for `make demo`: a few minutes on two CPU cores.
See docs/ner.md for every flag.
"""

import argparse
import json
import os
import pathlib
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        default="cluener",
        help="cluener | germeval | wnut17 | conll:TRAIN[,DEV[,TEST]] (CoNLL column files)",
    )
    p.add_argument("--scheme", default="bio", help="tag scheme of conll: files (bio, bioes, bmes)")
    p.add_argument(
        "--head", default="global_pointer", choices=["global_pointer", "efficient_global_pointer"]
    )
    p.add_argument("--rdrop-alpha", type=float, default=1.0, help="R-Drop weight; 0 = plain training")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--backend", choices=["jax", "tensorflow", "torch"], default=None,
                   help="sets KERAS_BACKEND before Keras is imported (default: the environment's)")
    p.add_argument("--max-train", type=int, default=3000, help="training sentences used (0 = all)")
    p.add_argument("--max-eval", type=int, default=0, help="dev/test sentences used (0 = all)")
    p.add_argument("--max-length", type=int, default=64, help="tokens per sentence (longer ones are cut)")
    p.add_argument("--steps-per-epoch", type=int, default=0, help="0 = one pass over the training data")
    p.add_argument("--time-budget", type=float, default=300.0,
                   help="stop training once this many wall-clock seconds have passed since fit began, validation included (0 = no limit)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--attention-heads", type=int, default=4)
    p.add_argument("--head-size", type=int, default=32, help="GlobalPointer head size")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--preset", default=None,
                   help="keras-hub preset (pretrained backbone + tokenizer, needs keras-hub and network)")
    p.add_argument("--output-dir", default="runs/ner")
    p.add_argument("--verbose", type=int, default=1, help="Keras progress bars: 0, 1 or 2")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "max_length"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    if args.rdrop_alpha < 0:
        p.error("--rdrop-alpha must be >= 0")
    if args.rdrop_alpha > 0 and args.dropout <= 0:
        p.error("--rdrop-alpha > 0 needs --dropout > 0 (R-Drop compares two dropout samples)")
    return args


# ----------------------------------------------------------------------------- data


def load_corpus(spec, scheme="bio"):
    """Returns dict(train, dev, test, labels, level, lowercase, notes)."""
    from keras_rdkl import datasets

    if spec == "cluener":
        train, labels = datasets.load_cluener("train")
        dev, _ = datasets.load_cluener("dev")
        # CLUENER's test split is unlabeled: report dev only.
        return dict(train=train, dev=dev, test=None, labels=labels, level="char",
                    lowercase=False, notes="test split unlabeled: dev only")
    if spec == "germeval":
        # The shared copy has no train split: train on the dev file minus a
        # held-out tenth (the validation set), evaluate on test.
        dev_file, labels = datasets.load_germeval("dev")
        test, _ = datasets.load_germeval("test")
        cut = len(dev_file) - len(dev_file) // 10
        return dict(train=dev_file[:cut], dev=dev_file[cut:], test=test, labels=labels,
                    level="word", lowercase=False,
                    notes="trained on NER-de-dev.tsv minus its last 10% (the dev set here)")
    if spec == "wnut17":
        train, labels = datasets.load_wnut17("train")
        dev, _ = datasets.load_wnut17("dev")
        test, _ = datasets.load_wnut17("test")
        return dict(train=train, dev=dev, test=test, labels=labels, level="word",
                    lowercase=True, notes="")
    if spec.startswith("conll:"):
        paths = [s for s in spec[len("conll:"):].split(",") if s]
        if not 1 <= len(paths) <= 3:
            raise ValueError(f"--dataset conll: takes TRAIN[,DEV[,TEST]]. Received: {spec!r}")
        parts = [datasets.read_conll(p, scheme=scheme) for p in paths]
        labels = sorted(set().union(*[set(lab) for _, lab in parts]))
        train = parts[0][0]
        dev = parts[1][0] if len(parts) > 1 else None
        if dev is None:
            cut = len(train) - len(train) // 10
            train, dev = train[:cut], train[cut:]
        test = parts[2][0] if len(parts) > 2 else None
        return dict(train=train, dev=dev, test=test, labels=labels, level="word",
                    lowercase=False, notes="")
    raise ValueError(
        "--dataset must be one of cluener, germeval, wnut17 or conll:TRAIN[,DEV[,TEST]]. "
        f"Received: {spec!r}"
    )


def index_spans(examples, labels):
    """(tokens, [(type name, s, e)]) -> (tokens, [(type id, s, e)])."""
    ids = {t: i for i, t in enumerate(labels)}
    return [(tokens, [(ids[t], s, e) for t, s, e in spans]) for tokens, spans in examples]


def clip_spans(spans, length):
    return [(t, s, e) for t, s, e in spans if e < length]


def make_dataset(ids, spans, num_types, batch_size, shuffle, seed):
    import keras
    import numpy as np

    from keras_rdkl.spans import encode_batch

    length = ids.shape[1]

    class SpanBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(ids))
            if shuffle:
                self.rng.shuffle(self.order)

        def __len__(self):
            return -(-len(ids) // batch_size)

        def __getitem__(self, i):
            idx = self.order[i * batch_size:(i + 1) * batch_size]
            y = encode_batch([clip_spans(spans[j], length) for j in idx], num_types, length)
            return ids[idx], y

        def on_epoch_end(self):
            if shuffle:
                self.rng.shuffle(self.order)

    return SpanBatches()


# ----------------------------------------------------------------------------- model


def build_model(args, vocab_size, num_types, length):
    import keras
    from _text import build_transformer_encoder

    from keras_rdkl.layers import EfficientGlobalPointer
    from keras_rdkl.layers import GlobalPointer

    encoder = build_transformer_encoder(
        vocab_size, hidden=args.hidden, layers=args.layers, heads=args.attention_heads,
        dropout=args.dropout, max_length=length,
    )
    head_cls = GlobalPointer if args.head == "global_pointer" else EfficientGlobalPointer
    logits = head_cls(num_types, args.head_size, name=args.head)(encoder.output)
    return keras.Model(encoder.input, logits, name=f"ner_{args.head}")


def compile_model(args, base):
    import keras

    from keras_rdkl.losses import MultilabelCategoricalCrossentropy
    from keras_rdkl.metrics import SpanF1
    from keras_rdkl.models import RDropModel

    model = base
    if args.rdrop_alpha > 0:
        model = RDropModel(base, alpha=args.rdrop_alpha, kl="sigmoid")
    model.compile(
        optimizer=keras.optimizers.AdamW(args.learning_rate, weight_decay=1e-4, clipnorm=1.0),
        loss=MultilabelCategoricalCrossentropy(axis=(-2, -1)),
        metrics=[SpanF1()],
    )
    return model


def span_scores(model, ids, gold, batch_size):
    """Entity P/R/F1 of decoded spans against the full (untruncated) gold spans."""
    from keras_rdkl.spans import decode_spans

    logits = model.predict(ids, batch_size=batch_size, verbose=0)
    pred = decode_spans(logits, threshold=0.0)
    tp = n_pred = n_gold = 0
    for p, g in zip(pred, gold, strict=True):
        p = {sp[:3] for sp in p}
        g = set(g)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0
    return dict(precision=precision, recall=recall, f1=f1, tp=tp, predicted=n_pred, gold=n_gold), pred


def predict_spans(model, ids, labels, batch_size=64):
    """Named spans `(type, start, end)` per sentence, for reloaded models."""
    from keras_rdkl.spans import decode_spans

    logits = model.predict(ids, batch_size=batch_size, verbose=0)
    return [[(labels[t], s, e) for t, s, e, _ in sent] for sent in decode_spans(logits)]


def time_budget_callback(seconds):
    """A Keras callback that stops training once `seconds` have passed (0: never)."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.stopped_early = False
            self.epoch_seconds = []
            self.epoch_batches = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()
            self.batches = 0

        def on_epoch_end(self, epoch, logs=None):
            # Training time and batches of the epoch, without its validation pass.
            self.epoch_seconds.append(self.train_end - self.epoch_start)
            self.epoch_batches.append(self.batches)

        def on_train_batch_end(self, batch, logs=None):
            self.train_end = time.perf_counter()
            self.batches += 1
            if seconds and time.perf_counter() - self.start > seconds:
                self.model.stop_training = True
                self.stopped_early = True

    return TimeBudget()


def plot_curves(history, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history.get("loss", [])) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].plot(epochs, history.get("loss", []), "o-", label="train")
    if "val_loss" in history:
        axes[0].plot(epochs, history["val_loss"], "o-", label="dev")
    axes[0].set_title("loss (train: ZLPR + R-Drop term; dev: ZLPR)")
    axes[0].legend()
    axes[1].plot(epochs, history.get("kl", [0.0] * len(epochs)), "o-", color="C2")
    axes[1].set_title("R-Drop symmetric KL (train)")
    axes[2].plot(epochs, history.get("val_span_f1", []), "o-", color="C3")
    axes[2].set_title("dev span F1")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- preset


def run_with_preset(args, corpus):
    """Pretrained keras-hub backbone + tokenizer (needs keras-hub and network)."""
    try:
        import keras_hub
    except ImportError:
        raise SystemExit(
            "--preset needs keras-hub and network access to download the preset: "
            "`pip install keras-hub`, then e.g. --preset bert_base_multi. "
            "Without them, leave --preset out to train the small encoder from scratch."
        ) from None
    import keras
    import numpy as np

    from keras_rdkl.spans import char_to_token_spans

    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(args.preset)
    backbone = keras_hub.models.Backbone.from_preset(args.preset)
    sep = "" if corpus["level"] == "char" else " "

    def to_pieces(tokens, spans):
        # Tokenize dataset token by dataset token, so every piece knows the
        # characters it came from; then map character spans onto pieces.
        char_pos, pieces, offsets, token_chars = 0, [], [], []
        for tok in tokens:
            token_chars.append((char_pos, char_pos + len(tok)))
            ids = [int(i) for i in np.asarray(tokenizer(tok)).reshape(-1)] or []
            pieces.extend(ids)
            offsets.extend([(char_pos, char_pos + len(tok))] * len(ids))
            char_pos += len(tok) + len(sep)
        char_spans = [(t, token_chars[s][0], token_chars[e][1] - 1) for t, s, e in spans]
        return pieces, offsets, char_to_token_spans(char_spans, offsets)

    def encode(examples):
        length = args.max_length
        ids = np.zeros((len(examples), length), "int32")
        out_spans = []
        for i, (tokens, spans) in enumerate(examples):
            pieces, _, piece_spans = to_pieces(tokens, spans)
            ids[i, : min(length, len(pieces))] = pieces[:length]
            out_spans.append(clip_spans(piece_spans, length))
        return ids, out_spans

    labels = corpus["labels"]
    train = index_spans(corpus["train"][: args.max_train or None], labels)
    dev = index_spans(corpus["dev"], labels)
    (x_tr, s_tr), (x_dev, s_dev) = encode(train), encode(dev)
    token_ids = keras.Input((args.max_length,), dtype="int32")
    padding_mask = keras.layers.Lambda(lambda t: keras.ops.not_equal(t, 0))(token_ids)
    feed = {"token_ids": token_ids, "padding_mask": padding_mask}
    if "segment_ids" in [i.name for i in backbone.inputs]:
        feed["segment_ids"] = keras.layers.Lambda(keras.ops.zeros_like)(token_ids)
    hidden = backbone(feed)
    from keras_rdkl.layers import EfficientGlobalPointer
    from keras_rdkl.layers import GlobalPointer

    head_cls = GlobalPointer if args.head == "global_pointer" else EfficientGlobalPointer
    logits = head_cls(len(labels), args.head_size)(hidden, mask=padding_mask)
    model = compile_model(args, keras.Model(token_ids, logits))
    train_ds = make_dataset(x_tr, s_tr, len(labels), args.batch_size, True, args.seed)
    model.fit(train_ds, epochs=args.epochs, verbose=args.verbose)
    scores, _ = span_scores(model, x_dev, s_dev, args.batch_size)
    print(f"dev (preset {args.preset}): P={scores['precision']:.4f} R={scores['recall']:.4f} "
          f"F1={scores['f1']:.4f}")
    return {"dev": scores}


# ----------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import keras
    import numpy as np

    out_dir = pathlib.Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()

    corpus = load_corpus(args.dataset, args.scheme)
    if args.preset:
        results = run_with_preset(args, corpus)
        (out_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        return results

    from _text import build_vocab
    from _text import encode_tokens

    labels = corpus["labels"]
    rng = np.random.default_rng(args.seed)
    train = corpus["train"]
    if args.max_train and len(train) > args.max_train:
        keep = np.sort(rng.choice(len(train), args.max_train, replace=False))
        train = [train[i] for i in keep]
    splits = {"train": train, "dev": corpus["dev"], "test": corpus["test"]}
    if args.max_eval:
        for k in ("dev", "test"):
            if splits[k] is not None:
                splits[k] = splits[k][: args.max_eval]
    longest = max(len(t) for t, _ in splits["train"])
    length = min(args.max_length, longest)
    lower = corpus["lowercase"]
    vocab = build_vocab([t for t, _ in splits["train"]], lowercase=lower)
    data = {}
    for name, examples in splits.items():
        if examples is None:
            continue
        indexed = index_spans(examples, labels)
        data[name] = (
            encode_tokens([t for t, _ in indexed], vocab, length, lowercase=lower),
            [s for _, s in indexed],
        )
    print(
        f"{args.dataset}: {len(labels)} types, train {len(splits['train'])} / dev "
        f"{len(splits['dev'])} / test {len(splits['test']) if splits['test'] else '-'} "
        f"sentences, {corpus['level']} level, vocab {len(vocab)}, length {length}, "
        f"backend {keras.backend.backend()}"
    )

    base = build_model(args, len(vocab), len(labels), length)
    model = compile_model(args, base)
    x_tr, s_tr = data["train"]
    train_ds = make_dataset(x_tr, s_tr, len(labels), args.batch_size, True, args.seed)
    dev_ds = make_dataset(*data["dev"], len(labels), args.batch_size, False, args.seed)
    budget = time_budget_callback(args.time_budget)
    fit_start = time.perf_counter()
    history = model.fit(
        train_ds,
        validation_data=dev_ds,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch or None,
        callbacks=[budget],
        verbose=args.verbose,
    )
    fit_seconds = time.perf_counter() - fit_start
    epochs_run = len(history.history.get("loss", []))
    # Throughput from the epochs after the first (which pays for compilation).
    k = 1 if len(budget.epoch_seconds) > 1 else 0
    sentences = sum(budget.epoch_batches[k:]) * args.batch_size
    throughput = sentences / max(sum(budget.epoch_seconds[k:]), 1e-9)

    results = {}
    for name in ("dev", "test"):
        if name not in data:
            continue
        ids, gold = data[name]
        scores, _ = span_scores(base, ids, gold, args.batch_size)
        metric = model.evaluate(
            make_dataset(ids, gold, len(labels), args.batch_size, False, args.seed),
            verbose=0, return_dict=True,
        )
        scores["span_f1_metric"] = float(metric.get("span_f1", float("nan")))
        scores["loss"] = float(metric["loss"])
        results[name] = scores

    model_path = out_dir / "model.keras"
    base.save(model_path)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    summary = dict(
        dataset=args.dataset, head=args.head, rdrop_alpha=args.rdrop_alpha, seed=args.seed,
        backend=keras.backend.backend(), labels=labels, length=length, vocab_size=len(vocab),
        train_sentences=len(x_tr), epochs_run=epochs_run,
        stopped_by_time_budget=bool(getattr(budget, "stopped_early", False)),
        fit_seconds=round(fit_seconds, 2), train_sentences_per_s=round(throughput, 2),
        total_seconds=round(time.perf_counter() - t0, 2), notes=corpus["notes"],
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        args=vars(args), command="python " + " ".join(["examples/ner_global_pointer.py"] + (argv if argv is not None else sys.argv[1:])),
        **results,
    )
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    plot_curves(
        history.history, out_dir / "curves.png",
        f"{args.dataset} / {args.head} / R-Drop alpha={args.rdrop_alpha}",
    )

    print("\n| split | precision | recall | F1 | gold spans |\n|---|---|---|---|---|")
    for name, s in results.items():
        print(f"| {name} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['gold']} |")
    if corpus["notes"]:
        print(f"({corpus['notes']})")
    print(
        f"\ndev F1 = {results['dev']['f1']:.4f}  ({epochs_run} epochs, "
        f"{summary['train_sentences_per_s']:.0f} train sentences/s, "
        f"{summary['total_seconds']:.0f} s in all). Wrote {model_path}, "
        f"{out_dir / 'metrics.json'}, {out_dir / 'curves.png'}"
    )
    # In-memory extras for callers (tests, notebooks); not part of the JSON.
    summary["model"] = base
    summary["inputs"] = {name: ids for name, (ids, _) in data.items()}
    return summary


if __name__ == "__main__":
    main()
