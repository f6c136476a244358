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

Data: ../shared/data/goemotions (see examples/multilabel_goemotions.py).
"""

import argparse
import pathlib
import sys
import time

import keras
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _text  # noqa: E402
from multilabel_goemotions import DEFAULT_DATA  # noqa: E402
from multilabel_goemotions import build_encoder  # noqa: E402
from multilabel_goemotions import build_vocab  # noqa: E402
from multilabel_goemotions import encode  # noqa: E402
from multilabel_goemotions import load_goemotions  # noqa: E402
from multilabel_goemotions import predict_logits  # noqa: E402

from keras_rdkl.callbacks import GammaScheduler  # noqa: E402
from keras_rdkl.losses import SparseGammaCrossentropy  # noqa: E402
from keras_rdkl.metrics import ExpectedCalibrationError  # noqa: E402
from keras_rdkl.metrics import reliability_diagram_data  # noqa: E402


def single_label(texts, labels):
    keep = [i for i, ls in enumerate(labels) if len(ls) == 1]
    return [texts[i] for i in keep], np.array([labels[i][0] for i in keep], "int32")


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
    model = build_encoder(vocab_size, n_classes, args.embed_dim, args.hidden, seed=seed)
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
    logits = predict_logits(model, x_te)
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
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
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
    data_dir = pathlib.Path(args.data_dir)
    if not (data_dir / "train.tsv").is_file():
        sys.exit(f"GoEmotions not found in {data_dir}: pass --data-dir.")
    out = pathlib.Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in ("train", "dev", "test"):
        texts, labels, names = load_goemotions(data_dir, split)
        splits[split] = single_label(texts, labels)
    tr_texts, y_tr = splits["train"]
    if args.max_train:
        tr_texts, y_tr = tr_texts[: args.max_train], y_tr[: args.max_train]
    vocab = build_vocab(tr_texts, args.vocab_size)
    data = [encode(tr_texts, vocab, args.max_len), y_tr]
    for split in ("dev", "test"):
        texts, y = splits[split]
        if args.max_eval:
            texts, y = texts[: args.max_eval], y[: args.max_eval]
        data += [encode(texts, vocab, args.max_len), y]
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
                    len(vocab) + 2,
                )
            )
    summary = summarise(rows)
    info = _text.run_info(__file__, argv)
    header = (
        f"Single-label GoEmotions test ({len(data[4])} examples, {n_classes} classes), "
        f"{args.epochs} epochs, seeds {args.seeds} (mean ± std), {args.num_bins}-bin ECE, "
        f"backend {keras.backend.backend()}."
    )
    table = markdown(summary, header)
    print("\n" + table)
    plot(rows, args.seeds[0], out / "calibration_reliability.png")
    results = {"args": vars(args), "summary": summary, "runs": rows}
    _text.write_report(
        out, "calibration", "Calibration: cross-entropy vs gamma-cross-entropy (TaiLr)", info,
        table + "\n\n![reliability](calibration_reliability.png)", results,
    )
    print(f"\nwrote {out}/calibration.json, .md and calibration_reliability.png")
    return results


if __name__ == "__main__":
    main()
