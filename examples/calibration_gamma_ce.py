"""Calibration of cross-entropy vs the gamma-cross-entropy of TaiLr, on GoEmotions.

Single-label GoEmotions (the examples with exactly one of the 28 labels) is a
28-way softmax problem. The same small text encoder is trained with plain
sparse cross-entropy, with `keras_rdkl.losses.SparseGammaCrossentropy` at a
few (gamma, threshold) settings, and with gamma raised during training by
`keras_rdkl.callbacks.GammaScheduler`. For each, over several seeds, it reports
test accuracy, expected calibration error
(`keras_rdkl.metrics.ExpectedCalibrationError`, used as a compiled metric)
and negative log-likelihood, and draws a reliability diagram.

Run (a few minutes on 2 CPU cores):

    KERAS_BACKEND=jax python examples/calibration_gamma_ce.py

Data: read by `keras_rdkl.datasets.load_goemotions`: from `--data-dir` when
given, else `$KERAS_RDKL_DATA/goemotions/`, else the Keras cache, else
downloaded there.
"""

import argparse
import collections
import pathlib
import re
import sys
import time

import _common
import keras
import numpy as np

from keras_rdkl.callbacks import GammaScheduler
from keras_rdkl.datasets import load_goemotions
from keras_rdkl.losses import SparseGammaCrossentropy
from keras_rdkl.metrics import ExpectedCalibrationError
from keras_rdkl.metrics import reliability_diagram_data

_WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9]")


def single_label(examples):
    """The `(text, label_ids)` examples with one label: (texts, int32 labels)."""
    kept = [(text, ids[0]) for text, ids in examples if len(ids) == 1]
    return [t for t, _ in kept], np.array([y for _, y in kept], "int32")


def word_ids(train_texts, text_lists, vocab_size, max_len):
    """Lower-cased word ids, vocabulary from `train_texts`: 0 pads, 1 is unknown.

    Returns the number of ids used and one `[len(texts), max_len]` array per
    list of `text_lists`.
    """
    words = [[_WORD.findall(t.lower()) for t in texts] for texts in text_lists]
    counts = collections.Counter(
        w for t in train_texts for w in _WORD.findall(t.lower())
    )
    vocab = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(vocab_size - 2))}
    arrays = []
    for doc_words in words:
        ids = np.zeros((len(doc_words), max_len), "int32")
        for row, ws in enumerate(doc_words):
            row_ids = [vocab.get(w, 1) for w in ws][:max_len]
            ids[row, : len(row_ids)] = row_ids
        arrays.append(ids)
    return len(vocab) + 2, arrays


def build_classifier(vocab_size, num_classes, embed_dim, hidden, seed, dropout=0.3):
    """Word embeddings, mean and max pooled over the words (padding left out), an MLP."""
    init = keras.initializers.GlorotUniform(seed=seed)
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    emb = keras.layers.Embedding(vocab_size, embed_dim, name="embed")(ids)

    def pool(inputs):
        x, ids = inputs
        words = keras.ops.expand_dims(keras.ops.not_equal(ids, 0), -1)
        count = keras.ops.sum(keras.ops.cast(words, x.dtype), axis=1)
        mean = keras.ops.sum(keras.ops.where(words, x, 0.0), axis=1)
        mean = mean / keras.ops.maximum(count, 1.0)
        top = keras.ops.max(keras.ops.where(words, x, -1e4), axis=1)
        top = keras.ops.where(count > 0, top, 0.0)  # a text with no words
        return keras.ops.concatenate([mean, top], axis=-1)

    h = keras.layers.Lambda(pool, output_shape=(2 * embed_dim,), name="pool")(
        [emb, ids]
    )
    h = keras.layers.Dropout(dropout, seed=seed)(h)
    h = keras.layers.Dense(hidden, activation="gelu", kernel_initializer=init)(h)
    h = keras.layers.Dropout(dropout, seed=seed + 1)(h)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init, name="logits")(h)
    return keras.Model(ids, logits)


def parse_settings(spec):
    """ "0.1:0.3,0.5:0.2" -> [(0.1, 0.3), (0.5, 0.2)]."""
    out = []
    for item in filter(None, spec.split(",")):
        try:
            g, b = (float(v) for v in item.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--gamma-settings items must be gamma:threshold. Received: {item!r}"
            ) from None
        if not (0 <= g <= 1 and 0 <= b <= 1):
            raise argparse.ArgumentTypeError(
                f"gamma and threshold must be in [0, 1]: {item!r}"
            )
        out.append((g, b))
    return out


def configurations(args, steps_per_epoch):
    """(name, loss factory, callback factory) for every contender."""
    confs = [
        (
            "CE",
            lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            None,
        )
    ]
    for g, b in args.gamma_settings:
        confs.append(
            (
                f"gamma-CE g={g:g} b={b:g}",
                lambda g=g, b=b: SparseGammaCrossentropy(
                    gamma=g, threshold=b, from_logits=True
                ),
                None,
            )
        )
    if args.schedule_target > 0:
        steps = max(1, int(args.epochs * steps_per_epoch * args.schedule_fraction))
        confs.append(
            (
                f"gamma-CE 0->{args.schedule_target:g} (scheduled) b={args.schedule_threshold:g}",
                lambda: SparseGammaCrossentropy(
                    gamma=0.0, threshold=args.schedule_threshold, from_logits=True
                ),
                lambda: GammaScheduler(target=args.schedule_target, steps=steps),
            )
        )
    return confs


def run_one(name, make_loss, make_callback, data, args, seed, n_classes, vocab_size):
    keras.utils.set_random_seed(seed)
    x_tr, y_tr, _, _, x_te, y_te = data  # dev is unused: no tuning here
    model = build_classifier(
        vocab_size, n_classes, args.embed_dim, args.hidden, seed=seed
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=make_loss(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            ExpectedCalibrationError(
                num_bins=args.num_bins, from_logits=True, name="ece"
            ),
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="nll"),
        ],
    )
    callbacks = [make_callback()] if make_callback else []
    t0 = time.time()
    model.fit(
        x_tr,
        y_tr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=args.verbose,
    )
    logs = model.evaluate(x_te, y_te, batch_size=512, return_dict=True, verbose=0)
    logits = model.predict(x_te, batch_size=1024, verbose=0).astype("float64")
    table = reliability_diagram_data(
        y_te, logits, num_bins=args.num_bins, from_logits=True
    )
    row = {
        "config": name,
        "seed": seed,
        "accuracy": float(logs["accuracy"]),
        "ece": float(logs["ece"]),
        "nll": float(logs["nll"]),
        "train_seconds": time.time() - t0,
        "reliability": {k: np.asarray(v).tolist() for k, v in table.items()},
    }
    print(
        f"{name:40s} seed {seed}: acc {row['accuracy']:.4f}  ECE {row['ece']:.4f}  "
        f"NLL {row['nll']:.4f}  ({row['train_seconds']:.0f} s)"
    )
    return row


def summarise(rows):
    out = []
    for name in dict.fromkeys(r["config"] for r in rows):
        rs = [r for r in rows if r["config"] == name]
        s = {"config": name, "seeds": len(rs)}
        for k in ("accuracy", "ece", "nll"):
            v = np.array([r[k] for r in rs])
            s[k] = float(v.mean())
            s[k + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(s)
    return out


def markdown(summary, header):
    lines = [
        header,
        "",
        "| loss | seeds | accuracy | ECE | NLL |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['config']} | {s['seeds']} | {s['accuracy']:.4f} ± {s['accuracy_std']:.4f} | "
            f"{s['ece']:.4f} ± {s['ece_std']:.4f} | {s['nll']:.4f} ± {s['nll_std']:.4f} |"
        )
    return "\n".join(lines)


def plot(rows, seed, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    for r in rows:
        if r["seed"] != seed:
            continue
        t = r["reliability"]
        keep = np.asarray(t["count"]) > 0
        ax.plot(
            np.asarray(t["mean_confidence"])[keep],
            np.asarray(t["accuracy"])[keep],
            "o-",
            ms=3,
            label=f"{r['config']} (ECE {r['ece']:.3f})",
        )
    ax.set_xlabel("top-class confidence (bin mean)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(f"Single-label GoEmotions test, seed {seed}")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder with GoEmotions' train/dev/test.tsv (default: found by "
        "keras_rdkl.datasets.load_goemotions)",
    )
    p.add_argument("--output-dir", default="runs/calibration_gamma_ce")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--vocab-size", type=int, default=20000)
    p.add_argument("--max-len", type=int, default=48)
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--num-bins", type=int, default=15)
    p.add_argument(
        "--gamma-settings",
        type=parse_settings,
        default=parse_settings("0.1:0.3,0.5:0.2"),
        help="comma-separated gamma:threshold pairs (default: 0.1:0.3,0.5:0.2)",
    )
    p.add_argument(
        "--schedule-target",
        type=float,
        default=0.5,
        help="GammaScheduler target (0 = no scheduled run)",
    )
    p.add_argument("--schedule-threshold", type=float, default=0.2)
    p.add_argument(
        "--schedule-fraction",
        type=float,
        default=0.5,
        help="fraction of training to reach the target",
    )
    p.add_argument(
        "--max-train",
        type=int,
        default=0,
        help="first N single-label training examples (0 = all)",
    )
    p.add_argument(
        "--max-eval", type=int, default=0, help="first N dev/test examples (0 = all)"
    )
    p.add_argument(
        "--verbose", type=int, default=0, help="Keras fit verbosity: 0, 1 (bars) or 2"
    )
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "vocab_size", "max_len", "num_bins"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.schedule_target <= 1 or not 0 <= args.schedule_threshold <= 1:
        p.error("--schedule-target and --schedule-threshold must be in [0, 1]")
    if not 0 < args.schedule_fraction <= 1:
        p.error("--schedule-fraction must be in (0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    splits = {}
    try:
        for split in ("train", "dev", "test"):
            examples, names = load_goemotions(split, path=args.data_dir)
            splits[split] = single_label(examples)
    except FileNotFoundError as e:
        sys.exit(f"GoEmotions not found: {e}")
    out = pathlib.Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    limits = {"train": args.max_train, "dev": args.max_eval, "test": args.max_eval}
    texts, labels = {}, {}
    for split, (split_texts, y) in splits.items():
        n = limits[split] or len(y)
        texts[split], labels[split] = split_texts[:n], y[:n]
    vocab_size, arrays = word_ids(
        texts["train"], list(texts.values()), args.vocab_size, args.max_len
    )
    data = [a for x, y in zip(arrays, labels.values(), strict=True) for a in (x, y)]
    n_classes = len(names)
    print(
        f"single-label GoEmotions: {len(data[0])} train / {len(data[2])} dev / "
        f"{len(data[4])} test, {n_classes} classes, backend {keras.backend.backend()}"
    )
    steps_per_epoch = -(-len(data[0]) // args.batch_size)
    rows = []
    for name, make_loss, make_cb in configurations(args, steps_per_epoch):
        for seed in args.seeds:
            rows.append(
                run_one(
                    name,
                    make_loss,
                    make_cb,
                    data,
                    args,
                    seed,
                    n_classes,
                    vocab_size,
                )
            )
    summary = summarise(rows)
    info = _common.run_info(__file__, argv)
    header = (
        f"Single-label GoEmotions test ({len(data[4])} examples, {n_classes} classes), "
        f"{args.epochs} epochs, seeds {args.seeds} (mean ± std), {args.num_bins}-bin ECE, "
        f"backend {keras.backend.backend()}."
    )
    table = markdown(summary, header)
    print("\n" + table)
    plot(rows, args.seeds[0], out / "calibration_reliability.png")
    results = {"args": vars(args), "summary": summary, "runs": rows}
    _common.write_report(
        out,
        "calibration",
        "Calibration: cross-entropy vs gamma-cross-entropy (TaiLr)",
        info,
        table + "\n\n![reliability](calibration_reliability.png)",
        results,
    )
    print(f"\nwrote {out}/calibration.json, .md and calibration_reliability.png")
    return results


if __name__ == "__main__":
    main()
