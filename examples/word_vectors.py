"""Train word vectors on unlabeled text (gensim skip-gram) and write them as a word2vec text file.

    python examples/word_vectors.py --corpus goemotions --corpus wnut17 \
        --output runs/vectors/reddit.txt
    python examples/ner_global_pointer.py --dataset wnut17 --head crf \
        --word-vectors runs/vectors/reddit.txt

The NER example's `--word-vectors` reads the file: every word in it gets an
id, starting from its vector, so words never seen in the labelled training
data are no longer all `[UNK]`. Corpora (`--corpus`, repeatable):

- `goemotions`: the 58k Reddit comments of GoEmotions, all three splits (its
  emotion labels are not used);
- `wnut17`: the tokens of WNUT-17's train and dev sentences (never test);
- `text:PATH`: a UTF-8 file, one text per line.

Texts are split into runs of word characters and single other characters
(`re.findall(r"\\w+|[^\\w\\s]", text)`), lower-cased unless `--keep-case`.
One worker thread and a fixed word hash make a run repeatable for a seed.
Needs gensim (`pip install gensim`, in the `examples` extra).
"""

import argparse
import pathlib
import re
import time
import zlib

TOKEN = re.compile(r"\w+|[^\w\s]")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--corpus",
        action="append",
        required=True,
        help="goemotions | wnut17 | text:PATH (repeat for several)",
    )
    p.add_argument("--output", required=True, help="word2vec text file to write")
    p.add_argument("--dim", type=int, default=128, help="vector width")
    p.add_argument("--window", type=int, default=5, help="context words each side")
    p.add_argument(
        "--min-count", type=int, default=3, help="occurrences a word needs a vector"
    )
    p.add_argument("--epochs", type=int, default=10, help="passes over the text")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--keep-case", action="store_true", help="do not lower-case the tokens"
    )
    args = p.parse_args(argv)
    for name in ("dim", "window", "min_count", "epochs"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    return args


def read_corpus(spec):
    """The token lists of one `--corpus` value."""
    from keras_rdkl import datasets

    if spec == "goemotions":
        return [
            TOKEN.findall(text)
            for split in ("train", "dev", "test")
            for text, _ in datasets.load_goemotions(split)[0]
        ]
    if spec == "wnut17":
        return [
            [t for token in tokens for t in token.split()]
            for split in ("train", "dev")
            for tokens, _ in datasets.load_wnut17(split)[0]
        ]
    if spec.startswith("text:"):
        path = pathlib.Path(spec[len("text:") :])
        with path.open(encoding="utf-8") as f:
            return [TOKEN.findall(line) for line in f if line.strip()]
    raise ValueError(
        f"--corpus must be goemotions, wnut17 or text:PATH. Received: {spec!r}"
    )


def _stable_hash(word):
    # gensim seeds each word's initial vector with hash(word + seed); Python's
    # own str hash changes between processes.
    return zlib.crc32(word.encode("utf-8"))


def main(argv=None):
    args = parse_args(argv)
    try:
        from gensim.models import Word2Vec
    except ImportError as err:
        raise ImportError(
            "examples/word_vectors.py needs gensim: pip install gensim "
            "(or pip install 'keras-rdkl[examples]')"
        ) from err

    from keras_rdkl.ner import save_word_vectors

    sentences = []
    for spec in args.corpus:
        sentences += read_corpus(spec)
    if not args.keep_case:
        sentences = [[t.lower() for t in s] for s in sentences]
    sentences = [s for s in sentences if s]
    tokens = sum(map(len, sentences))
    start = time.perf_counter()
    model = Word2Vec(
        sentences,
        vector_size=args.dim,
        window=args.window,
        min_count=args.min_count,
        sg=1,
        negative=10,
        epochs=args.epochs,
        workers=1,
        seed=args.seed,
        hashfxn=_stable_hash,
    )
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_word_vectors(out, model.wv.index_to_key, model.wv.vectors)
    print(
        f"{len(sentences)} texts, {tokens} tokens -> {len(model.wv)} vectors of "
        f"{args.dim} in {time.perf_counter() - start:.0f} s. Wrote {out}"
    )
    return out


if __name__ == "__main__":
    main()
