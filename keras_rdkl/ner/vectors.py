"""Pretrained word vectors for a tagger's token embedding.

The text format is the one word2vec (`save_word2vec_format(binary=False)`),
GloVe and fastText (`.vec`) write: one word per line followed by its values,
separated by single spaces, with an optional first line `"<count> <dim>"`.
`load_word_vectors` reads it, `save_word_vectors` writes it and
`embedding_matrix` turns vectors into the weights of a vocabulary's
embedding (`build_span_tagger(embedding_weights=...)`). The vectors come
from elsewhere: a published file, or `examples/word_vectors.py`, which trains
them on unlabeled text with gensim.
"""

import pathlib

import numpy as np

from keras_rdkl import _checks as checks

# Keras' default Embedding initializer is uniform(-0.05, 0.05).
DEFAULT_SCALE = 0.05


def load_word_vectors(path, max_words=None, lowercase=False):
    """Reads word vectors in the word2vec / GloVe text format.

    Args:
        path: the text file (UTF-8): `word v1 v2 ... vd` per line, an
            optional `"<count> <dim>"` first line, blank lines skipped.
        max_words: keep the first `max_words` words (files list the most
            frequent first); None keeps all.
        lowercase: lower-case the words (for a vocabulary built with
            `lowercase=True`); when two words meet, the first one's vector
            is kept.

    Returns:
        `(words, vectors)`: a list of `n` words and a float32 array `[n, dim]`.

    Raises:
        ValueError: naming the file and line, for a line whose number of
            values differs from the first vector's or holds a value that is
            not a finite number, or for a file without vectors.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "v.txt"
    >>> _ = path.write_text("2 3\\nparis 0.5 0 1\\nberlin 1 2 3\\n")
    >>> words, vectors = load_word_vectors(path)
    >>> words, vectors.shape
    (['paris', 'berlin'], (2, 3))
    """
    if max_words is not None:
        max_words = checks.check_int(max_words, "max_words", minimum=1)
    path = pathlib.Path(path)
    words, rows, seen, dim = [], [], set(), None
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            if parts == [""]:
                continue
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # the word2vec header "<count> <dim>"
            word, values = parts[0], parts[1:]
            if dim is None:
                dim = len(values)
                if dim == 0:
                    raise ValueError(
                        f"{path}:{number}: a word without values: {line.strip()!r}"
                    )
            if len(values) != dim:
                raise ValueError(
                    f"{path}:{number}: {len(values)} values after {word!r}, but the "
                    f"first vector has {dim}"
                )
            try:
                row = np.asarray(values, dtype="float32")
            except ValueError:
                bad = next(v for v in values if not _is_number(v))
                raise ValueError(
                    f"{path}:{number}: value {bad!r} of {word!r} is not a number"
                ) from None
            if not np.isfinite(row).all():
                bad = values[int(np.argmin(np.isfinite(row)))]
                raise ValueError(
                    f"{path}:{number}: value {bad!r} of {word!r} is not finite"
                )
            if lowercase:
                word = word.lower()
            if word in seen:
                continue
            seen.add(word)
            words.append(word)
            rows.append(row)
            if max_words is not None and len(words) == max_words:
                break
    if not words:
        raise ValueError(f"{path}: no word vectors in the file")
    return words, np.stack(rows)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def save_word_vectors(path, words, vectors):
    """Writes `words` and `vectors [n, dim]` in the word2vec text format (with its header)."""
    vectors = np.asarray(vectors, dtype="float32")
    words = list(words)
    if vectors.ndim != 2 or len(words) != vectors.shape[0]:
        raise ValueError(
            "`vectors` must be [len(words), dim]. Received: "
            f"{len(words)} words, vectors of shape {vectors.shape}"
        )
    bad = [w for w in words if not w or any(c.isspace() for c in w)]
    if bad:
        raise ValueError(
            f"`words` must be non-empty and hold no whitespace. Received: {bad[:3]!r}"
        )
    lines = [f"{len(words)} {vectors.shape[1]}"]
    lines += [
        w + " " + " ".join(f"{v:.6g}" for v in row)
        for w, row in zip(words, vectors, strict=True)
    ]
    pathlib.Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def embedding_matrix(vocab, words, vectors, scale=DEFAULT_SCALE, seed=None):
    """The `[len(vocab), dim]` weights of `vocab`'s token embedding.

    A token with a vector takes it, rescaled (every vector by the same
    factor) so that the pretrained rows have the spread of Keras' default
    embedding initializer, `uniform(-scale, scale)`; the other tokens
    (`[UNK]`, words without a vector) are drawn from that initializer, and
    the padding row is zero. Grow the vocabulary with the vectors' words
    first (`Vocabulary.extended(words)`) so that words never seen in
    training still get their vector.

    Args:
        vocab: a `Vocabulary`; its tokens are looked up as stored (already
            lower-cased when the vocabulary is).
        words, vectors: as `load_word_vectors` returns them.
        scale: the half-width of the uniform initializer the rows match.
        seed: seed of the random rows.

    Returns:
        A float32 array, for `build_span_tagger(embedding_weights=...)`.
    """
    vectors = np.asarray(vectors, dtype="float32")
    if vectors.ndim != 2 or len(words) != vectors.shape[0]:
        raise ValueError(
            "`vectors` must be [len(words), dim]. Received: "
            f"{len(words)} words, vectors of shape {vectors.shape}"
        )
    if not scale > 0:
        raise ValueError(f"`scale` must be > 0. Received: scale={scale!r}")
    if not np.isfinite(vectors).all():
        raise ValueError(
            "`vectors` must be finite. Received: "
            f"{int((~np.isfinite(vectors)).sum())} NaN or infinite values"
        )
    rng = np.random.default_rng(seed)
    out = rng.uniform(-scale, scale, (len(vocab), vectors.shape[1])).astype("float32")
    index = {w: i for i, w in enumerate(words)}
    found = [(i, index[t]) for i, t in enumerate(vocab.tokens) if t in index]
    if found:
        rows = vectors[[j for _, j in found]]
        spread = float(rows.std())
        factor = (scale / np.sqrt(3.0)) / spread if spread > 0 else 1.0
        out[[i for i, _ in found]] = rows * factor
    out[0] = 0.0
    return out
