"""Train a span tagger (GlobalPointer + ZLPR, or CRF) from scratch, with or without R-Drop.

Builds a BiLSTM, dilated-CNN or small-Transformer encoder with
`keras_rdkl.ner.build_span_tagger` (character input for Chinese, word +
character-CNN input for English and German), trains it on the full training
split of one corpus with a warm-up + cosine learning-rate schedule, scores
corpus-level entity precision / recall / F1 (nested spans counted as such,
overall and per type) on dev after every epoch, stops early on dev F1 and
restores the best epoch's weights. Writes the model (`model.keras`) and the
vocabulary (`vocab.json`) with `keras_rdkl.ner.save_tagger`, and
`metrics.json`, to `--output-dir`; the last line
printed is `dev F1 = <value>`.

    KERAS_BACKEND=jax python examples/ner_global_pointer.py \
        --dataset cluener --rdrop-alpha 1 --output-dir runs/demo

Then `python examples/ner_predict.py runs/demo "..."` tags raw text.
See docs/ner.md for every flag and the measured results.

With `--backbone PATH` the encoder is a pretrained transformer instead (a
keras-hub preset directory, a Hugging Face-format directory, or a keras-hub
preset name such as `bert_base_zh`, downloaded): the sentences are split into
its sub-word pieces (`ner.SubwordTokenizer`), the head goes on top
(`ner.build_pretrained_tagger`), and it fine-tunes with two learning rates,
warm-up and linear decay (`ner.fine_tuning_optimizer`). The saved folder holds
the model with the backbone inside and the tokenizer (`tokenizer/`). See
docs/pretrained.md.

    KERAS_BACKEND=jax python examples/ner_global_pointer.py --dataset wnut17 \
        --backbone path/to/roberta-base --epochs 3 --output-dir runs/roberta
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import time

CORPORA = "cluener | germeval | wnut17 | conll:TRAIN[,DEV[,TEST]]"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="cluener", help=CORPORA)
    p.add_argument(
        "--scheme", default="bio", help="tag scheme of conll: files (bio, bioes, bmes)"
    )
    p.add_argument(
        "--head",
        default="global_pointer",
        choices=["global_pointer", "efficient_global_pointer", "crf"],
        help="span head; crf = BIO tags with a linear-chain CRF (flat spans: nested "
        "corpora keep their outermost spans for training)",
    )
    p.add_argument(
        "--encoder", default="bilstm", choices=["bilstm", "idcnn", "transformer"]
    )
    p.add_argument(
        "--rdrop-alpha", type=float, default=0.0, help="R-Drop weight; 0 = plain"
    )
    p.add_argument(
        "--rdrop-kl",
        default="sigmoid",
        choices=["sigmoid", "softmax"],
        help="R-Drop divergence: sigmoid (per logit) or softmax over each head's L x L "
        "grid; with --head crf only softmax (over the tags of each token)",
    )
    p.add_argument(
        "--adversarial",
        default="none",
        choices=["none", "fgm", "pgd", "vat"],
        help="adversarial training on the token embeddings (keras_rdkl.AdversarialModel)",
    )
    p.add_argument(
        "--adversarial-epsilon",
        type=float,
        default=0.1,
        help="size of the perturbation (L2 norm per sentence; 0.1 suits from-scratch "
        "embeddings, about 0.5 a token)",
    )
    p.add_argument(
        "--adversarial-alpha",
        type=float,
        default=1.0,
        help="weight of the adversarial loss (FGM, PGD) or of VAT's divergence",
    )
    p.add_argument(
        "--adversarial-kl",
        default="sigmoid",
        choices=["sigmoid", "softmax"],
        help="VAT's divergence: sigmoid (per logit) or softmax over each head's "
        "L x L grid; with --head crf only softmax (over the tags of each token)",
    )
    p.add_argument("--pgd-steps", type=int, default=3, help="PGD's attack steps")
    p.add_argument("--pgd-step-size", type=float, default=0.3, help="PGD's step size")
    p.add_argument("--vat-xi", type=float, default=1e-3, help="VAT's random start size")
    p.add_argument(
        "--unlabeled",
        default="none",
        choices=["none", "test"],
        help="semi-supervised VAT: also train on this split's sentences without "
        "their labels (sample weight 0: VAT's term only)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=12,
        help="most epochs (early stopping may end sooner)",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=3,
        help="epochs without a better dev F1 before stopping",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=0.0,
        help="stop after this many seconds of training, dev scoring included (0 = no limit)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate (default 2e-3; with --backbone the head's, 1e-3)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="warm-up share of all steps (default 0.05; with --backbone 0.1)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--backend",
        choices=["jax", "tensorflow", "torch"],
        default=None,
        help="sets KERAS_BACKEND before Keras is imported (default: the environment's)",
    )
    p.add_argument(
        "--max-train", type=int, default=0, help="training sentences used (0 = all)"
    )
    p.add_argument(
        "--max-eval", type=int, default=0, help="dev/test sentences used (0 = all)"
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=128,
        help="longest window in tokens; longer sentences are split into windows",
    )
    p.add_argument(
        "--steps-per-epoch", type=int, default=0, help="0 = one pass over the data"
    )
    p.add_argument(
        "--embedding-dim",
        type=int,
        default=None,
        help="token embedding width (default 128, or that of --word-vectors)",
    )
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--head-size", type=int, default=64, help="GlobalPointer head size")
    p.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="dropout (default 0.3; with --backbone on its hidden states, 0.1)",
    )
    p.add_argument(
        "--token-dropout",
        type=float,
        default=0.0,
        help="word dropout: in training, token ids become [UNK] with this "
        "probability (keras_rdkl.ner.TokenDropout), so that unseen test words are "
        "tagged from context and spelling",
    )
    p.add_argument(
        "--bert-dir",
        default=None,
        help="folder of a Google-format BERT (bert_config.json, vocab.txt, checkpoint "
        "or converted .weights.h5): fine-tune it under the head instead of training an "
        "encoder from scratch (character-level corpora; needs the hub extra; use a "
        "small --learning-rate such as 2e-5)",
    )
    p.add_argument(
        "--backbone",
        default=None,
        help="pretrained backbone to fine-tune under the head: a keras-hub preset "
        "directory, a Hugging Face-format directory (config.json, model.safetensors, "
        "tokenizer files) or a keras-hub preset name (downloaded); needs the hub "
        "extra and tokenizers. Word- and character-level corpora (see "
        "docs/pretrained.md)",
    )
    p.add_argument(
        "--backbone-learning-rate",
        type=float,
        default=3e-5,
        help="with --backbone: peak learning rate of the backbone (--learning-rate "
        "is the head's); warm-up then linear decay to 0",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=0.01,
        help="with --backbone: AdamW weight decay (not on biases and norms)",
    )
    p.add_argument(
        "--crf-lr-multiplier",
        type=float,
        default=1.0,
        help="lr_multiplier of the CRF transitions (bert4keras scripts use 1000 with BERT)",
    )
    p.add_argument(
        "--char-features",
        default="auto",
        choices=["auto", "on", "off"],
        help="character CNN over each word (auto: on for word-level corpora)",
    )
    p.add_argument(
        "--bigrams",
        default="off",
        choices=["on", "off"],
        help="bigram embeddings (each token with its right neighbour, bigrams seen "
        "twice or more in training) beside the token embeddings; for Chinese "
        "characters",
    )
    p.add_argument(
        "--word-shapes",
        default="off",
        choices=["on", "off"],
        help="word-shape embeddings (case, digits, @user / #tag / URL; "
        "keras_rdkl.ner.word_shape) beside the token embeddings; for lower-cased "
        "word-level corpora (wnut17)",
    )
    p.add_argument(
        "--gazetteer",
        default=None,
        help="JSON lists of names (keras_rdkl.ner.Gazetteer; examples/gazetteers.py "
        "writes places and person names): begin / inside marks of listed phrases "
        "join the token features",
    )
    p.add_argument(
        "--min-count",
        type=int,
        default=0,
        help="training count a token needs for its own id; rarer tokens train the "
        "[UNK] embedding that unseen words get (0 = auto: 2 for word-level corpora, "
        "1 for characters)",
    )
    p.add_argument(
        "--word-vectors",
        default=None,
        help="word2vec/GloVe text file (e.g. from examples/word_vectors.py): its "
        "words join the vocabulary and start from their vectors",
    )
    p.add_argument(
        "--max-word-vectors",
        type=int,
        default=0,
        help="read only the first N words of --word-vectors (0 = all)",
    )
    p.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="keep the token embedding fixed (with --word-vectors)",
    )
    p.add_argument(
        "--split-marks",
        default="",
        help='characters split off the front of tokens in every split ("@#": '
        '"@user" -> "@" "user", how WNUT-17\'s dev and test files are '
        "tokenized but not its train file); empty = none",
    )
    p.add_argument(
        "--train-on-dev",
        type=float,
        default=0.0,
        help="share of the dev split (its first sentences) added to training; the "
        "rest stays the dev set for early stopping. Only for corpora with a test "
        "split (wnut17, germeval, conll: with TEST), which then gives the score",
    )
    p.add_argument("--output-dir", default="runs/ner")
    p.add_argument(
        "--verbose", type=int, default=1, help="Keras progress bars: 0, 1 or 2"
    )
    args = p.parse_args(argv)
    backbone = bool(args.backbone)
    for name, scratch, pretrained in (
        ("learning_rate", 2e-3, 1e-3),
        ("warmup", 0.05, 0.1),
        ("dropout", 0.3, 0.1),
    ):
        if getattr(args, name) is None:
            setattr(args, name, pretrained if backbone else scratch)
    if args.backbone and args.bert_dir:
        p.error("--backbone and --bert-dir are two ways to one thing: give one")
    if args.learning_rate <= 0 or args.backbone_learning_rate <= 0:
        p.error("--learning-rate and --backbone-learning-rate must be > 0")
    for name in (
        "epochs",
        "batch_size",
        "max_length",
        "embedding_dim",
        "hidden",
        "layers",
        "head_size",
    ):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    if args.rdrop_alpha < 0:
        p.error("--rdrop-alpha must be >= 0")
    if args.min_count < 0:
        p.error("--min-count must be >= 0")
    if not 0 <= args.train_on_dev < 1:
        p.error(f"--train-on-dev must be in [0, 1). Received: {args.train_on_dev}")
    if args.max_word_vectors < 0:
        p.error("--max-word-vectors must be >= 0")
    # Inputs of the from-scratch token features, which a BERT tagger does not take.
    feature_flags = {
        "--word-vectors": args.word_vectors,
        "--bigrams": args.bigrams == "on",
        "--word-shapes": args.word_shapes == "on",
        "--gazetteer": args.gazetteer,
        "--token-dropout": args.token_dropout,
    }
    for flag, used in feature_flags.items():
        if args.bert_dir and used:
            p.error(f"{flag} does not apply with --bert-dir (BERT has its own inputs)")
    if args.backbone:
        feature_flags["--char-features on"] = args.char_features == "on"
        used = [flag for flag, on in feature_flags.items() if on]
        if used:
            p.error(
                f"{used[0]} does not apply with --backbone (it reads sub-word pieces)"
            )
    if args.freeze_embeddings and not args.word_vectors:
        p.error(
            "--freeze-embeddings needs --word-vectors (it would freeze random vectors)"
        )
    if not 0 <= args.dropout < 1:
        p.error("--dropout must be in [0, 1)")
    if not 0 <= args.token_dropout < 1:
        p.error("--token-dropout must be in [0, 1)")
    if args.crf_lr_multiplier <= 0:
        p.error("--crf-lr-multiplier must be > 0")
    if args.adversarial != "none":
        if args.rdrop_alpha > 0:
            p.error(
                "--adversarial and --rdrop-alpha do not combine (each wrapper makes "
                "its own passes); pick one"
            )
        if args.adversarial_epsilon < 0 or args.adversarial_alpha < 0:
            p.error("--adversarial-epsilon and --adversarial-alpha must be >= 0")
        if args.head == "crf" and args.adversarial == "vat":
            if args.adversarial_kl != "softmax":
                p.error("--head crf takes --adversarial-kl softmax")
    if args.unlabeled != "none" and (args.adversarial != "vat" or args.backbone):
        p.error("--unlabeled needs --adversarial vat (and no --backbone)")
    if args.head == "crf" and args.rdrop_alpha > 0 and args.rdrop_kl != "softmax":
        p.error("--head crf takes --rdrop-kl softmax (a divergence over the tag axis)")
    if args.rdrop_alpha > 0 and args.dropout <= 0:
        p.error(
            "--rdrop-alpha > 0 needs --dropout > 0 (R-Drop compares two dropout samples)"
        )
    return args


# ----------------------------------------------------------------------------- data


def _read_conll(path, scheme):
    """read_conll, with the repair statistics when the installed reader gives them."""
    from keras_rdkl import datasets

    try:
        examples, labels, stats = datasets.read_conll(
            path, scheme=scheme, return_stats=True
        )
    except TypeError:
        examples, labels = datasets.read_conll(path, scheme=scheme)
        stats = None
    return examples, labels, stats


def load_corpus(spec, scheme="bio"):
    """Returns dict(train, dev, test, labels, level, lowercase, notes, repairs)."""
    from keras_rdkl import datasets

    if spec == "cluener":
        train, labels = datasets.load_cluener("train")
        dev, _ = datasets.load_cluener("dev")
        return dict(
            train=train,
            dev=dev,
            test=None,
            labels=labels,
            level="char",
            lowercase=False,
            notes="CLUENER's test split is unlabeled: dev only",
            repairs=None,
        )
    if spec == "germeval":
        # The shared copy has no train split: train on the dev file minus a
        # held-out tenth (the dev set here), evaluate on test.
        dev_file, labels = datasets.load_germeval("dev")
        test, _ = datasets.load_germeval("test")
        cut = len(dev_file) - len(dev_file) // 10
        return dict(
            train=dev_file[:cut],
            dev=dev_file[cut:],
            test=test,
            labels=labels,
            level="word",
            lowercase=False,
            repairs=None,
            notes="trained on NER-de-dev.tsv minus its last 10% (the dev set here); "
            "outer and inner spans scored together",
        )
    if spec == "wnut17":
        train, labels = datasets.load_wnut17("train")
        dev, _ = datasets.load_wnut17("dev")
        test, _ = datasets.load_wnut17("test")
        return dict(
            train=train,
            dev=dev,
            test=test,
            labels=labels,
            level="word",
            lowercase=True,
            notes="",
            repairs=None,
        )
    if spec.startswith("conll:"):
        paths = [s for s in spec[len("conll:") :].split(",") if s]
        if not 1 <= len(paths) <= 3:
            raise ValueError(
                f"--dataset conll: takes TRAIN[,DEV[,TEST]]. Received: {spec!r}"
            )
        parts = [_read_conll(p, scheme) for p in paths]
        labels = sorted(set().union(*[set(lab) for _, lab, _ in parts]))
        repairs = None
        if all(st is not None for _, _, st in parts):
            repairs = {str(p): st for p, (_, _, st) in zip(paths, parts, strict=True)}
        train = parts[0][0]
        dev = parts[1][0] if len(parts) > 1 else None
        notes = ""
        if dev is None:
            cut = len(train) - len(train) // 10
            train, dev = train[:cut], train[cut:]
            notes = "no DEV file: the last 10% of TRAIN is the dev set"
        test = parts[2][0] if len(parts) > 2 else None
        return dict(
            train=train,
            dev=dev,
            test=test,
            labels=labels,
            level="word",
            lowercase=False,
            notes=notes,
            repairs=repairs,
        )
    raise ValueError(f"--dataset must be one of {CORPORA}. Received: {spec!r}")


def unlabeled_sentences(args, corpus, max_length):
    """The `--unlabeled` split's sentences with no spans, in training windows."""
    from keras_rdkl import datasets
    from keras_rdkl import ner

    if args.dataset == "cluener":
        sentences = [tokens for tokens, _ in datasets.load_cluener(args.unlabeled)[0]]
    elif corpus.get(args.unlabeled):
        sentences = [tokens for tokens, _ in corpus[args.unlabeled]]
    else:
        raise ValueError(
            f"--unlabeled {args.unlabeled}: {args.dataset!r} has no such split"
        )
    return ner.split_windows([(t, []) for t in sentences], max_length)[0]


def split_corpus_marks(corpus, marks):
    """`ner.split_marks` over every split, with the counts in the corpus notes."""
    from keras_rdkl import ner

    out, counts = dict(corpus), []
    for name in ("train", "dev", "test"):
        if corpus[name] is not None:
            out[name], n = ner.split_marks(corpus[name], marks)
            counts.append(f"{name} {n}")
    note = f"leading {marks!r} split off tokens: " + ", ".join(counts)
    out["notes"] = "; ".join(n for n in (corpus["notes"], note) if n)
    return out


def add_dev_to_train(corpus, share):
    """The corpus with the first `share` of its dev sentences moved into training.

    The rest stays the dev set (early stopping, best epoch); the test split,
    which must exist, gives the score. The move is the same for every seed.
    """
    if corpus["test"] is None:
        raise ValueError(
            "--train-on-dev needs a corpus with a test split to score on (the dev "
            f"set then only picks the epoch). Received: --train-on-dev {share} on a "
            "corpus without one"
        )
    dev = corpus["dev"]
    cut = round(share * len(dev))
    if not 0 < cut < len(dev):
        raise ValueError(
            f"--train-on-dev {share} would move {cut} of {len(dev)} dev sentences; "
            "at least one must move and one must stay"
        )
    note = (
        f"trained on train + the first {cut} dev sentences; the other "
        f"{len(dev) - cut} are the dev set"
    )
    return dict(
        corpus,
        train=list(corpus["train"]) + list(dev[:cut]),
        dev=dev[cut:],
        notes="; ".join(n for n in (corpus["notes"], note) if n),
    )


def _repair_count(stats):
    """The repair counters of read_conll's stats: {repaired_sequences, repaired_tags}."""
    if not isinstance(stats, dict):
        return None
    return {
        k: v
        for k, v in stats.items()
        if k.startswith("repaired") and isinstance(v, int)
    }


# ----------------------------------------------------------------------------- model


def grid_softmax_kl():
    """Symmetric softmax KL over each head's whole L x L span grid.

    `SoftmaxKLDivergence` takes one class axis, so the grid is flattened to
    one axis of L * L first; masked spans (padding, lower triangle) drop out
    of both softmaxes as in `softmax_kl_divergence`.
    """
    from keras import ops

    from keras_rdkl.losses import SoftmaxKLDivergence
    from keras_rdkl.losses import softmax_kl_divergence

    class GridSoftmaxKLDivergence(SoftmaxKLDivergence):
        def call(self, y_true, y_pred):
            def flat(t):
                shape = ops.shape(t)
                return ops.reshape(t, (shape[0], shape[1], -1))

            return softmax_kl_divergence(
                flat(y_true),
                flat(y_pred),
                from_logits=True,
                temperature=self.temperature,
                axis=-1,
            )

    return GridSoftmaxKLDivergence(name="grid_softmax_kl_divergence")


def with_regularizer(args, tagger):
    """The tagger, wrapped in an `RDropModel` (`--rdrop-alpha` > 0) or an
    `AdversarialModel` (`--adversarial`)."""
    from keras_rdkl.models import AdversarialModel
    from keras_rdkl.models import RDropModel

    def divergence(name):
        if args.head == "crf":
            return "softmax"  # over the tag axis of the emissions
        return "sigmoid" if name == "sigmoid" else grid_softmax_kl()

    if args.adversarial != "none":
        return AdversarialModel(
            tagger,
            method=args.adversarial,
            epsilon=args.adversarial_epsilon,
            alpha=args.adversarial_alpha,
            steps=args.pgd_steps,
            step_size=args.pgd_step_size,
            xi=args.vat_xi,
            kl=divergence(args.adversarial_kl),
            seed=args.seed,
        )
    if args.rdrop_alpha <= 0:
        return tagger
    return RDropModel(tagger, alpha=args.rdrop_alpha, kl=divergence(args.rdrop_kl))


def regularizer_summary(args):
    """What the run's records say about R-Drop and adversarial training."""
    adversarial = args.adversarial != "none"
    return dict(
        rdrop_alpha=args.rdrop_alpha,
        rdrop_kl=args.rdrop_kl if args.rdrop_alpha else None,
        adversarial=args.adversarial if adversarial else None,
        adversarial_epsilon=args.adversarial_epsilon if adversarial else None,
        adversarial_alpha=args.adversarial_alpha if adversarial else None,
        adversarial_kl=args.adversarial_kl if args.adversarial == "vat" else None,
        unlabeled=args.unlabeled if args.unlabeled != "none" else None,
    )


def regularizer_note(args):
    """The regularizer, as the run's first line names it."""
    if args.adversarial != "none":
        kl = f", {args.adversarial_kl}" if args.adversarial == "vat" else ""
        extra = f", unlabeled {args.unlabeled}" if args.unlabeled != "none" else ""
        return (
            f"adversarial {args.adversarial} (epsilon {args.adversarial_epsilon}, "
            f"alpha {args.adversarial_alpha}{kl}{extra})"
        )
    kl = f" ({args.rdrop_kl})" if args.rdrop_alpha else ""
    return f"R-Drop alpha {args.rdrop_alpha}{kl}"


def build_and_compile(
    args, vocab, num_types, steps_per_epoch, bert=None, embedding_weights=None
):
    import keras

    from keras_rdkl.ner import build_bert_tagger
    from keras_rdkl.ner import build_span_tagger
    from keras_rdkl.ner import tagger_loss

    head_kwargs = (
        {"lr_multiplier": args.crf_lr_multiplier} if args.head == "crf" else {}
    )
    if bert is not None:
        model, tokenizer = bert
        tagger = build_bert_tagger(
            model,
            num_types,
            tokenizer._token_start_id,
            tokenizer._token_end_id,
            head=args.head,
            head_size=args.head_size,
            dropout=args.dropout,
            head_kwargs=head_kwargs,
        )
    else:
        tagger = build_span_tagger(
            len(vocab),
            num_types,
            encoder=args.encoder,
            head=args.head,
            embedding_dim=args.embedding_dim,
            hidden=args.hidden,
            layers=args.layers,
            dropout=args.dropout,
            head_size=args.head_size,
            num_chars=vocab.num_chars,
            num_bigrams=vocab.num_bigrams,
            num_shapes=vocab.num_shapes,
            num_gazetteer_features=vocab.num_gazetteer_features,
            head_kwargs=head_kwargs,
            embedding_weights=embedding_weights,
            trainable_embeddings=not args.freeze_embeddings,
            token_dropout=args.token_dropout,
            unk_id=vocab.unk_id,
        )
    model = with_regularizer(args, tagger)
    total = max(1, args.epochs * steps_per_epoch)
    warmup = int(args.warmup * total)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else args.learning_rate,
        max(1, total - warmup),
        alpha=0.05,
        warmup_target=args.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0),
        loss=tagger_loss(tagger),
    )
    return tagger, model


# ----------------------------------------------------------------------------- report


def run_record(args, argv, corpus, history, scorer, fit_seconds, t0):
    """The fields of metrics.json that every run writes: epochs, timing, command."""
    import keras

    command = "python " + " ".join(
        ["examples/ner_global_pointer.py"]
        + (list(argv) if argv is not None else sys.argv[1:])
    )
    return dict(
        epochs_run=len(history.history.get("loss", [])),
        best_epoch=None if scorer.best_epoch is None else scorer.best_epoch + 1,
        stopped_by_time_budget=scorer.stopped_by_budget,
        dev_f1_per_epoch=[round(s["f1"], 4) for s in scorer.history],
        fit_seconds=round(fit_seconds, 1),
        total_seconds=round(time.perf_counter() - t0, 1),
        notes=corpus["notes"],
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        args=vars(args),
        command=f"KERAS_BACKEND={keras.backend.backend()} {command}",
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        keras=keras.__version__,
    )


def report(out_dir, summary, results, notes, timing, written):
    """Writes metrics.json and prints the score tables; the last line is `dev F1 = ...`."""
    from keras_rdkl import ner

    (out_dir / "metrics.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False)
    )
    for name, scores in results.items():
        print(f"\n{ner.format_scores(scores, title=name)}")
    if notes:
        print(f"({notes})")
    print(
        f"\n{summary['epochs_run']} epochs (best: {summary['best_epoch']}), {timing}"
        f"training {summary['fit_seconds']:.0f} s, {summary['total_seconds']:.0f} s "
        f"in all. Wrote {', '.join(str(w) for w in written)}, "
        f"{out_dir / 'metrics.json'}"
    )
    print(f"dev F1 = {results['dev']['f1']:.4f}")


# ----------------------------------------------------------------------------- backbone


def backbone_directory(spec):
    """The local folder of `--backbone`: the path itself, or keras-hub's download of a preset name."""
    path = pathlib.Path(spec)
    if path.is_dir():
        return path
    import keras_hub
    from keras_hub.src.utils.preset_utils import get_file  # keras-hub's download cache

    keras_hub.models.Tokenizer.from_preset(spec)  # downloads the tokenizer's files
    return pathlib.Path(get_file(spec, "tokenizer.json")).parent


def subword_scorer(tagger, examples, tokenizer, num_types, max_length, **kwargs):
    """`ner.EntityF1Callback` scoring a backbone tagger through its sub-word pieces."""
    from keras_rdkl import ner

    class SubwordEntityF1(ner.EntityF1Callback):
        def score(self):
            pred = ner.predict_subword_spans(
                self.tagger,
                self.vocab,
                self.examples,
                self.num_types,
                self.max_length,
                self.batch_size,
            )
            return ner.entity_scores([s for _, s in self.examples], pred)

    return SubwordEntityF1(
        tagger, examples, tokenizer, num_types, max_length=max_length, **kwargs
    )


def train_on_backbone(args, argv, corpus, splits, labels, out_dir, t0):
    """`--backbone`: sub-word pieces, a pretrained tagger, fine-tuning, scores, saving."""
    import keras

    from keras_rdkl import ner
    from keras_rdkl.ner.optimizers import find_backbone

    folder = backbone_directory(args.backbone)
    tokenizer = ner.SubwordTokenizer.from_directory(
        folder, labels=labels, level=corpus["level"]
    )
    tagger = ner.build_pretrained_tagger(
        args.backbone if not pathlib.Path(args.backbone).is_dir() else folder,
        len(labels),
        head=args.head,
        head_size=args.head_size,
        dropout=args.dropout,
        head_kwargs={"lr_multiplier": args.crf_lr_multiplier}
        if args.head == "crf"
        else None,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        pad_id=tokenizer.pad_id,
    )
    backbone = find_backbone(tagger)
    longest = getattr(backbone, "max_sequence_length", None)
    max_length = min(args.max_length, longest) if longest else args.max_length
    targets = "tags" if args.head == "crf" else "spans"
    train_data = ner.SubwordBatches(
        splits["train"],
        tokenizer,
        len(labels),
        max_length,
        args.batch_size,
        shuffle=True,
        seed=args.seed,
        targets=targets,
    )
    stats = train_data.stats
    print(
        f"{args.dataset}: {len(labels)} types, train {len(splits['train'])} / dev "
        f"{len(splits['dev'])} / test {len(splits['test']) if 'test' in splits else '-'} "
        f"sentences, {corpus['level']} level, backbone {args.backbone} "
        f"({type(backbone).__name__}, {backbone.count_params():,} parameters), "
        f"{tokenizer!r}, backend {keras.backend.backend()}, head {args.head}, "
        f"{regularizer_note(args)}"
    )
    print(
        f"train pieces in windows of <= {max_length - 2} (+ 2 special tokens): "
        f"{stats['windows']} windows, {stats['split_sentences']} sentences split, "
        f"{stats['cut_spans']} spans cut; {stats['zero_piece_words']} words of zero "
        f"pieces, {stats['truncated_words']} words truncated, "
        f"{stats['spans_without_pieces']} spans without pieces, "
        f"{stats['nested_spans_dropped']} nested spans left out (--head crf)"
    )
    steps = args.steps_per_epoch or len(train_data)
    model = with_regularizer(args, tagger)
    model.compile(
        optimizer=ner.fine_tuning_optimizer(
            model,
            total_steps=max(1, args.epochs * steps),
            backbone_learning_rate=args.backbone_learning_rate,
            head_learning_rate=args.learning_rate,
            warmup=args.warmup,
            weight_decay=args.weight_decay,
            clipnorm=1.0,
        ),
        loss=ner.tagger_loss(tagger),
    )
    scorer = subword_scorer(
        tagger,
        splits["dev"],
        tokenizer,
        len(labels),
        max_length,
        batch_size=args.batch_size,
        patience=args.patience,
        time_budget=args.time_budget,
        verbose=args.verbose,
    )
    fit_start = time.perf_counter()
    history = model.fit(
        train_data,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch or None,
        callbacks=[scorer],
        verbose=args.verbose,
    )
    fit_seconds = time.perf_counter() - fit_start

    results = {}
    for name in ("dev", "test"):
        if name in splits:
            pred = ner.predict_subword_spans(
                tagger, tokenizer, splits[name], len(labels), max_length
            )
            gold = [s for _, s in splits[name]]
            results[name] = ner.entity_scores(gold, pred, labels)

    # model.keras (backbone inside) and tokenizer/: what ner.load_tagger reads.
    model_path, tokenizer_path = ner.save_tagger(out_dir, tagger, tokenizer)
    summary = dict(
        dataset=args.dataset,
        encoder="backbone",
        backbone=args.backbone,
        backbone_class=type(backbone).__name__,
        backbone_parameters=int(backbone.count_params()),
        head=args.head,
        **regularizer_summary(args),
        seed=args.seed,
        backend=keras.backend.backend(),
        labels=labels,
        tokenizer=tokenizer.get_config(),
        vocab_size=tokenizer.vocab_size,
        max_length=max_length,
        train_sentences=len(splits["train"]),
        subword_stats=stats,
        crf_dropped_train_spans=stats["nested_spans_dropped"],
        **run_record(args, argv, corpus, history, scorer, fit_seconds, t0),
        **results,
    )
    report(out_dir, summary, results, corpus["notes"], "", [model_path, tokenizer_path])
    summary["model"] = tagger
    summary["tokenizer"] = tokenizer
    summary["splits"] = splits
    return summary


# ----------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    from keras_rdkl import ner

    out_dir = pathlib.Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()

    corpus = load_corpus(args.dataset, args.scheme)
    if args.split_marks:
        corpus = split_corpus_marks(corpus, args.split_marks)
    if args.train_on_dev:
        corpus = add_dev_to_train(corpus, args.train_on_dev)
    labels = list(corpus["labels"])
    splits = {"train": corpus["train"], "dev": corpus["dev"], "test": corpus["test"]}
    if args.max_train and len(splits["train"]) > args.max_train:
        rng = np.random.default_rng(args.seed)
        keep = np.sort(rng.choice(len(splits["train"]), args.max_train, replace=False))
        splits["train"] = [splits["train"][i] for i in keep]
    if args.max_eval:
        for k in ("dev", "test"):
            if splits[k] is not None:
                splits[k] = splits[k][: args.max_eval]
    splits = {k: ner.index_spans(v, labels) for k, v in splits.items() if v is not None}
    if args.backbone:
        return train_on_backbone(args, argv, corpus, splits, labels, out_dir, t0)
    chars = args.char_features == "on" or (
        args.char_features == "auto" and corpus["level"] == "word"
    )
    bert = None
    if args.bert_dir:
        from keras_rdkl.compat.bert4keras import load_bert_dir

        if corpus["level"] != "char":
            raise ValueError(
                "--bert-dir supports character-level corpora (cluener); "
                f"{args.dataset!r} is {corpus['level']}-level. "
                f"Received: --bert-dir {args.bert_dir!r}"
            )
        tokenizer, bert_model = load_bert_dir(args.bert_dir)
        bert = (bert_model, tokenizer)
        chars = False
        vocab = ner.bert_vocabulary(tokenizer, labels=labels)
    else:
        vocab = ner.Vocabulary.build(
            [t for t, _ in splits["train"]],
            min_count=args.min_count or (2 if corpus["level"] == "word" else 1),
            lowercase=corpus["lowercase"],
            chars=chars,
            bigrams=args.bigrams == "on",
            shapes=args.word_shapes == "on",
            gazetteer=ner.Gazetteer.load(args.gazetteer) if args.gazetteer else None,
            labels=labels,
            level=corpus["level"],
        )
    embedding_weights, vector_note = None, ""
    if args.word_vectors:
        words, vectors = ner.load_word_vectors(
            args.word_vectors,
            max_words=args.max_word_vectors or None,
            lowercase=vocab.lowercase,
        )
        trained = len(vocab)
        vocab = vocab.extended(words)
        embedding_weights = ner.embedding_matrix(vocab, words, vectors, seed=args.seed)
        known = set(words)
        vector_note = (
            f", word vectors {args.word_vectors}: {len(words)} x {vectors.shape[1]}, "
            f"{sum(t in known for t in vocab.tokens[:trained])} of {trained} training "
            f"tokens covered, {len(vocab) - trained} new"
            f"{' (frozen)' if args.freeze_embeddings else ''}"
        )
    train, _, window_stats = ner.split_windows(splits["train"], args.max_length)
    long_eval = {
        k: ner.split_windows(v, args.max_length)[2]
        for k, v in splits.items()
        if k != "train"
    }
    repairs = None
    if corpus["repairs"] is not None:
        repairs = {p: _repair_count(st) for p, st in corpus["repairs"].items()}
    inputs = [f"{corpus['level']} level"]
    if chars:
        inputs.append("char CNN")
    if vocab.bigrams:
        inputs.append("bigrams")
    if vocab.shapes:
        inputs.append("word shapes")
    if vocab.gazetteer:
        inputs.append(f"gazetteer ({', '.join(vocab.gazetteer.names)})")
    print(
        f"{args.dataset}: {len(labels)} types, train {len(splits['train'])} / dev "
        f"{len(splits['dev'])} / test {len(splits['test']) if 'test' in splits else '-'} "
        f"sentences, {' + '.join(inputs)}, "
        f"vocab {len(vocab)}{vector_note}, backend {keras.backend.backend()}, "
        f"encoder {'BERT ' + args.bert_dir if args.bert_dir else args.encoder}, "
        f"head {args.head}, {regularizer_note(args)}"
    )
    print(
        f"windows of <= {args.max_length} tokens: train {window_stats['split_sentences']} "
        f"sentences split, {window_stats['cut_spans']} spans longer than a window cut; "
        + ", ".join(
            f"{k} {s['split_sentences']} split (scored on whole sentences)"
            for k, s in long_eval.items()
        )
    )
    if repairs is not None:
        print(
            "ill-formed tag sequences repaired as conlleval does: "
            + "; ".join(
                f"{p}: {n.get('repaired_sequences', '?')} sentences, {n.get('repaired_tags', '?')} tags"
                for p, n in repairs.items()
            )
        )

    targets = "tags" if args.head == "crf" else "spans"
    weights = None
    if args.unlabeled != "none":
        # Semi-supervised VAT: the split's sentences without their labels, at
        # sample weight 0 (the compiled loss skips them, VAT's term does not).
        unlabeled = unlabeled_sentences(args, corpus, args.max_length)
        weights = [1.0] * len(train) + [0.0] * len(unlabeled)
        print(f"unlabeled: {len(unlabeled)} {args.unlabeled} windows at weight 0")
        train = train + unlabeled
    train_data = ner.SpanBatches(
        train,
        vocab,
        len(labels),
        args.batch_size,
        shuffle=True,
        seed=args.seed,
        targets=targets,
        sample_weights=weights,
    )
    if train_data.dropped_spans:
        print(
            f"--head crf tags flat spans: {train_data.dropped_spans} nested training "
            "spans left out (the outermost kept); scoring still counts every gold span"
        )
    steps = args.steps_per_epoch or len(train_data)
    tagger, model = build_and_compile(
        args,
        vocab,
        len(labels),
        steps,
        bert=bert,
        embedding_weights=embedding_weights,
    )
    scorer = ner.EntityF1Callback(
        tagger,
        splits["dev"],
        vocab,
        len(labels),
        max_length=args.max_length,
        patience=args.patience,
        time_budget=args.time_budget,
        verbose=args.verbose,
    )
    fit_start = time.perf_counter()
    history = model.fit(
        train_data,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch or None,
        callbacks=[scorer],
        verbose=args.verbose,
    )
    fit_seconds = time.perf_counter() - fit_start
    k = 1 if len(scorer.epoch_seconds) > 1 else 0  # the first epoch pays for compiling
    throughput = (
        steps
        * args.batch_size
        * len(scorer.epoch_seconds[k:])
        / max(sum(scorer.epoch_seconds[k:]), 1e-9)
    )

    results = {}
    for name in ("dev", "test"):
        if name in splits:
            pred = ner.predict_spans(
                tagger, splits[name], vocab, len(labels), args.max_length
            )
            results[name] = ner.entity_scores(
                [s for _, s in splits[name]], pred, labels
            )

    # The folder ner.load_tagger (and examples/ner_predict.py) reads.
    model_path, vocab_path = ner.save_tagger(out_dir, tagger, vocab)
    summary = dict(
        dataset=args.dataset,
        encoder="bert" if args.bert_dir else args.encoder,
        head=args.head,
        **regularizer_summary(args),
        seed=args.seed,
        backend=keras.backend.backend(),
        labels=labels,
        vocab_size=len(vocab),
        char_features=chars,
        train_sentences=len(splits["train"]),
        crf_dropped_train_spans=train_data.dropped_spans,
        windows=window_stats,
        eval_windows=long_eval,
        conll_repairs=repairs,
        train_sentences_per_s=round(throughput, 1),
        **run_record(args, argv, corpus, history, scorer, fit_seconds, t0),
        **results,
    )
    report(
        out_dir,
        summary,
        results,
        corpus["notes"],
        f"{summary['train_sentences_per_s']:.0f} train sentences/s, ",
        [model_path, vocab_path],
    )
    # In-memory extras for callers (tests, notebooks); not part of the JSON.
    summary["model"] = tagger
    summary["vocab"] = vocab
    summary["splits"] = splits
    return summary


if __name__ == "__main__":
    main()
