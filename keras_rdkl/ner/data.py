"""Vocabulary, windows over long sentences and a bucketing `PyDataset` for span taggers.

Everything here runs on the host (NumPy / Python). An example is a pair
`(tokens, spans)`: `tokens` a list of strings (characters for Chinese, words
otherwise) and `spans` a list of `(type, start, end)` with `end` inclusive,
`type` an entity-type name or id.
"""

import collections
import json
import math
import pathlib
import re

import keras
import numpy as np

from keras_rdkl import _checks as checks
from keras_rdkl._batching import bucketed_batches
from keras_rdkl._batching import lead_with_two_lengths
from keras_rdkl.ner.gazetteer import Gazetteer
from keras_rdkl.ner.tagging import flatten_spans
from keras_rdkl.ner.tagging import spans_to_tag_ids
from keras_rdkl.spans import encode_batch

__all__ = [
    "END",
    "PAD",
    "UNK",
    "WORD_SHAPES",
    "SpanBatches",
    "Vocabulary",
    "index_spans",
    "merge_windows",
    "split_windows",
    "word_shape",
]

PAD, UNK = "[PAD]", "[UNK]"
END = "[END]"  # the right neighbour of a sentence's last token, in bigrams
# The classes of `word_shape`, in id order (ids 0 / 1 are padding / unused).
WORD_SHAPES = (
    PAD,
    UNK,
    "lower",
    "title",
    "upper",
    "mixed",
    "digits",
    "letters+digits",
    "punctuation",
    "mention",
    "hashtag",
    "url",
    "other",
)
_SHAPE_IDS = {name: i for i, name in enumerate(WORD_SHAPES)}
_URL = re.compile(r"^(https?://|www\.)|\.(com|org|net|co|ly|io)(/|$)", re.IGNORECASE)


def word_shape(token):
    """The orthographic class of a word: its case, digits and Twitter marks.

    One of `WORD_SHAPES[2:]`: `"mention"` (`@user`), `"hashtag"` (`#tag`),
    `"url"`, then by the word's letters and digits: `"lower"`, `"title"`
    (first letter upper, the rest lower: `"Paris"`, `"I"`), `"upper"` (two or
    more letters, all upper), `"mixed"` (`"iPhone"`), `"digits"`,
    `"letters+digits"`, `"punctuation"` (no letter or digit), `"other"`
    (the empty string). For word-level models whose vocabulary is
    lower-cased, this gives the encoder the case the token ids lose
    (`Vocabulary(shapes=True)`, `build_span_tagger(num_shapes=...)`).

    Example:

    >>> [word_shape(w) for w in ["paris", "Paris", "NASA", "iPhone", "2017"]]
    ['lower', 'title', 'upper', 'mixed', 'digits']
    >>> [word_shape(w) for w in ["@bob", "#tbt", "http://t.co/x", "...", "A4"]]
    ['mention', 'hashtag', 'url', 'punctuation', 'letters+digits']
    """
    token = str(token)
    if not token:
        return "other"
    if len(token) > 1 and token[0] == "@":
        return "mention"
    if len(token) > 1 and token[0] == "#":
        return "hashtag"
    if _URL.search(token):
        return "url"
    letters = [c for c in token if c.isalpha()]
    digits = any(c.isdigit() for c in token)
    if not letters:
        return "digits" if digits else "punctuation"
    if digits:
        return "letters+digits"
    if all(c.islower() for c in letters):
        return "lower"
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return "title"
    if all(c.isupper() for c in letters):
        return "upper"
    return "mixed"


class Vocabulary:
    """Token (and character) ids for a span tagger; id 0 is padding, id 1 unknown.

    Args:
        tokens: list of tokens, in id order, starting with `[PAD]`, `[UNK]`
            (or, with `unk_token`, `[PAD]` first and `unk_token` anywhere:
            a pretrained model's vocabulary, see `ner.bert_vocabulary`).
        chars: optional list of characters in id order (same two specials),
            for word + character models; `None` for token-only models.
        bigrams: optional list of token bigrams in id order (same two
            specials), each `"left right"` (a token and its right neighbour,
            `[END]` after the last token), for models with bigram features
            (Chinese characters); `None` for models without.
        lowercase: lower-case tokens before looking them up (characters keep
            their case).
        labels: optional list of entity-type names (head order), saved with
            the vocabulary so a reloaded model can name its spans.
        level: `"char"` (each character a token, joined without spaces) or
            `"word"` (tokens joined with spaces), used by `predict_entities`.
        unk_token: None (id 1 is `[UNK]`) or the token unknown tokens map to.
        shapes: True for models with word-shape features (`word_shape`:
            case, digits, `@` / `#` / URLs; `encode_shapes`), which give the
            case back to lower-cased word models.

    Example:

    >>> vocab = Vocabulary.build([["a", "b", "a"]], chars=True)
    >>> vocab.encode(["a", "c"])
    [2, 1]
    >>> vocab.encode_chars(["ab"], max_chars=3).tolist()
    [[2, 3, 0]]
    >>> vocab = Vocabulary.build([list("abab")], bigrams=True, bigram_min_count=2)
    >>> vocab.bigrams[2:], vocab.encode_bigrams(list("abc"))
    (['a b'], [2, 1, 1])
    """

    def __init__(
        self,
        tokens,
        chars=None,
        lowercase=False,
        labels=None,
        level="char",
        unk_token=None,
        bigrams=None,
        shapes=False,
        gazetteer=None,
    ):
        tokens = list(tokens)
        if unk_token is None and tokens[:2] != [PAD, UNK]:
            raise ValueError(
                f"`tokens` must start with {PAD!r}, {UNK!r}. Received: {tokens[:2]!r}"
            )
        if unk_token is not None and (tokens[:1] != [PAD] or unk_token not in tokens):
            raise ValueError(
                f"`tokens` must start with {PAD!r} and hold `unk_token`. Received: "
                f"tokens[:3]={tokens[:3]!r}, unk_token={unk_token!r}"
            )
        for name, specials in (("chars", chars), ("bigrams", bigrams)):
            if specials is not None and list(specials[:2]) != [PAD, UNK]:
                raise ValueError(
                    f"`{name}` must start with {PAD!r}, {UNK!r}. "
                    f"Received: {list(specials[:2])!r}"
                )
        if level not in ("char", "word"):
            raise ValueError(
                f"`level` must be 'char' or 'word'. Received: level={level!r}"
            )
        self.tokens = tokens
        self.chars = None if chars is None else list(chars)
        self.lowercase = bool(lowercase)
        self.labels = None if labels is None else list(labels)
        self.level = level
        self.unk_token = unk_token
        self.token_ids = {t: i for i, t in enumerate(self.tokens)}
        self.unk_id = 1 if unk_token is None else self.token_ids[unk_token]
        self.char_ids = (
            None if chars is None else {c: i for i, c in enumerate(self.chars)}
        )
        self.bigrams = None if bigrams is None else list(bigrams)
        self.bigram_ids = (
            None if bigrams is None else {b: i for i, b in enumerate(self.bigrams)}
        )
        self.shapes = bool(shapes)
        if isinstance(gazetteer, dict):
            gazetteer = Gazetteer(**gazetteer)
        if gazetteer is not None and not isinstance(gazetteer, Gazetteer):
            raise ValueError(
                "`gazetteer` must be a keras_rdkl.ner.Gazetteer, its config or None. "
                f"Received: {type(gazetteer).__name__}"
            )
        self.gazetteer = gazetteer

    @classmethod
    def build(
        cls,
        token_lists,
        min_count=1,
        max_size=None,
        lowercase=False,
        chars=False,
        labels=None,
        level="char",
        bigrams=False,
        bigram_min_count=2,
        shapes=False,
        gazetteer=None,
    ):
        """Builds a vocabulary from training tokens (most frequent first).

        Args:
            token_lists: iterable of token lists (the training split).
            min_count: keep tokens seen at least this often.
            max_size: optional cap on the number of ids, specials included.
            lowercase: count and look up tokens lower-cased.
            chars: also build a character vocabulary (every character seen).
            labels, level: stored as given (see the class).
            bigrams: also build a bigram vocabulary (each token with its
                right neighbour, `[END]` after the last; most frequent first).
            bigram_min_count: keep bigrams seen at least this often (rarer
                ones share `[UNK]`, whose embedding then gets trained).
            shapes: word-shape features too (see the class).
            gazetteer: optional `Gazetteer` (see the class).

        Returns:
            A `Vocabulary`.
        """
        token_lists = [list(t) for t in token_lists]
        min_count = checks.check_int(min_count, "min_count", minimum=1)
        bigram_min_count = checks.check_int(
            bigram_min_count, "bigram_min_count", minimum=1
        )
        ordered = _by_count(
            (t.lower() if lowercase else t for tokens in token_lists for t in tokens),
            min_count,
        )
        if max_size is not None:
            ordered = ordered[
                : max(0, checks.check_int(max_size, "max_size", minimum=2) - 2)
            ]
        char_list = None
        if chars:
            chars_seen = (c for tokens in token_lists for t in tokens for c in t)
            char_list = [PAD, UNK] + _by_count(chars_seen, 1)
        bigram_list = None
        if bigrams:
            seen = (b for tokens in token_lists for b in _bigrams(tokens, lowercase))
            bigram_list = [PAD, UNK] + _by_count(seen, bigram_min_count)
        return cls(
            [PAD, UNK] + ordered,
            char_list,
            lowercase,
            labels,
            level,
            bigrams=bigram_list,
            shapes=shapes,
            gazetteer=gazetteer,
        )

    def extended(self, tokens):
        """A copy with `tokens` it lacks appended (existing ids unchanged).

        For pretrained word vectors: `vocab.extended(words)` gives ids to
        words never seen in training, so they keep their vector
        (`embedding_matrix`) instead of sharing `[UNK]`. Tokens are
        lower-cased first when the vocabulary is.
        """
        have = set(self.tokens)
        extra = []
        for t in tokens:
            t = t.lower() if self.lowercase else t
            if t not in have:
                have.add(t)
                extra.append(t)
        config = self.get_config()
        config["tokens"] = self.tokens + extra
        return type(self)(**config)

    def __len__(self):
        return len(self.tokens)

    @property
    def num_chars(self):
        """Number of character ids (0 without a character vocabulary)."""
        return 0 if self.chars is None else len(self.chars)

    @property
    def num_bigrams(self):
        """Number of bigram ids (0 without a bigram vocabulary)."""
        return 0 if self.bigrams is None else len(self.bigrams)

    @property
    def num_shapes(self):
        """Number of word-shape ids (0 without word-shape features)."""
        return len(WORD_SHAPES) if self.shapes else 0

    @property
    def num_gazetteer_features(self):
        """Gazetteer features per token (0 without a gazetteer)."""
        return 0 if self.gazetteer is None else self.gazetteer.num_features

    def encode_gazetteer(self, tokens):
        """`[len(tokens), num_gazetteer_features]` marks (`Gazetteer.features`)."""
        if self.gazetteer is None:
            raise ValueError(
                "This vocabulary has no gazetteer (build it with gazetteer=...)."
            )
        return self.gazetteer.features(tokens)

    def encode_shapes(self, tokens):
        """Word-shape ids, one per token (`WORD_SHAPES`, see `word_shape`)."""
        if not self.shapes:
            raise ValueError(
                "This vocabulary has no word shapes (build it with shapes=True)."
            )
        return [_SHAPE_IDS[word_shape(t)] for t in tokens]

    def encode_bigrams(self, tokens):
        """Bigram ids, one per token: the token with its right neighbour (unknown -> 1)."""
        if self.bigram_ids is None:
            raise ValueError(
                "This vocabulary has no bigrams (build it with bigrams=True)."
            )
        get = self.bigram_ids.get
        return [get(b, 1) for b in _bigrams(tokens, self.lowercase)]

    def encode(self, tokens):
        """Token ids of one token list (unknown tokens -> `unk_id`, 1 by default)."""
        get, unk = self.token_ids.get, self.unk_id
        if self.lowercase:
            return [get(t.lower(), unk) for t in tokens]
        return [get(t, unk) for t in tokens]

    def encode_chars(self, tokens, max_chars):
        """Character ids `[len(tokens), max_chars]` (words cut at `max_chars`)."""
        if self.char_ids is None:
            raise ValueError(
                "This vocabulary has no characters (build it with chars=True)."
            )
        out = np.zeros((len(tokens), max_chars), "int32")
        get = self.char_ids.get
        for i, t in enumerate(tokens):
            ids = [get(c, 1) for c in t[:max_chars]]
            out[i, : len(ids)] = ids
        return out

    def encode_inputs(self, tokens, max_chars=16):
        """Every model input of one token list, by input name.

        `"token_ids"` `[n]`, and as the vocabulary has them `"char_ids"`
        `[n, max_chars]`, `"bigram_ids"` `[n]`, `"shape_ids"` `[n]` (int32)
        and `"gazetteer"` `[n, features]` (float32): the inputs of
        `build_span_tagger` built with this vocabulary's sizes, which
        `SpanBatches` pads into batches.
        """
        out = {"token_ids": np.asarray(self.encode(tokens), "int32")}
        if self.chars is not None:
            out["char_ids"] = self.encode_chars(tokens, max_chars)
        if self.bigrams is not None:
            out["bigram_ids"] = np.asarray(self.encode_bigrams(tokens), "int32")
        if self.shapes:
            out["shape_ids"] = np.asarray(self.encode_shapes(tokens), "int32")
        if self.gazetteer is not None:
            out["gazetteer"] = self.encode_gazetteer(tokens)
        return out

    def get_config(self):
        return {
            "tokens": self.tokens,
            "chars": self.chars,
            "lowercase": self.lowercase,
            "labels": self.labels,
            "level": self.level,
            "unk_token": self.unk_token,
            "bigrams": self.bigrams,
            "shapes": self.shapes,
            "gazetteer": None
            if self.gazetteer is None
            else self.gazetteer.get_config(),
        }

    def save(self, path):
        """Writes the vocabulary as JSON."""
        pathlib.Path(path).write_text(json.dumps(self.get_config(), ensure_ascii=False))

    @classmethod
    def load(cls, path):
        """Reads a vocabulary written by `save`."""
        return cls(**json.loads(pathlib.Path(path).read_text(encoding="utf-8")))


def _by_count(items, min_count):
    """The distinct items seen at least `min_count` times, most frequent first (ties by value)."""
    counts = collections.Counter(items)
    kept = [t for t, c in counts.items() if c >= min_count]
    return sorted(kept, key=lambda t: (-counts[t], t))


def _bigrams(tokens, lowercase=False):
    tokens = [t.lower() for t in tokens] if lowercase else list(tokens)
    if not tokens:
        return []
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:] + [END], strict=True)]


def index_spans(examples, labels):
    """`(tokens, [(name, s, e)])` -> `(tokens, [(type id, s, e)])` with ids from `labels`."""
    ids = {t: i for i, t in enumerate(labels)}
    out = []
    for tokens, spans in examples:
        try:
            out.append((tokens, [(ids[t], s, e) for t, s, e in spans]))
        except KeyError as err:
            raise ValueError(
                f"Span type {err.args[0]!r} is not in `labels` {list(labels)!r}."
            ) from None
    return out


def split_marks(examples, marks="@#"):
    """Splits a leading mark off tokens (`"@user"` -> `"@"`, `"user"`), moving spans along.

    For corpora whose splits were tokenized differently: WNUT-17's train
    file keeps `@user` and `#tag` as one token, its dev and test files split
    the sign off. A span keeps its tokens; one that starts on a split token
    starts after the mark (as the dev and test files label them). A token
    that is only marks (`"@"`, `"##"`) stays as it is.

    Args:
        examples: list of `(tokens, spans)`, spans `(type, start, end)` with
            inclusive token positions (extra items after `end` are kept).
        marks: the characters split off the front of a token.

    Returns:
        `(examples, count)`: new examples and the number of tokens split.

    Example:

    >>> split_marks([(["RT", "@anna", ":", "#paris"], [("PER", 1, 1)])])
    ([(['RT', '@', 'anna', ':', '#', 'paris'], [('PER', 2, 2)])], 2)
    """
    if not isinstance(marks, str) or not marks:
        raise ValueError(
            f"`marks` must be a non-empty string of characters. Received: marks={marks!r}"
        )
    out, count = [], 0
    for tokens, spans in examples:
        new, where = [], []  # where[i]: new position of token i's word part
        for t in tokens:
            if len(t) > 1 and t[0] in marks and t.lstrip(marks):
                new.append(t[0])
                count += 1
                t = t[1:]
            where.append(len(new))
            new.append(t)
        moved = [(sp[0], where[sp[1]], where[sp[2]], *sp[3:]) for sp in spans]
        out.append((new, moved))
    return out, count


def split_windows(examples, max_length):
    """Splits sentences longer than `max_length` tokens into windows.

    A window ends before the first span that would cross its end (so spans
    stay whole) unless that span starts at the window's start; only a span
    longer than `max_length` itself is cut (kept as its first `max_length`
    tokens). Nothing is dropped silently: the returned stats count it all.

    Args:
        examples: list of `(tokens, spans)`.
        max_length: int, the most tokens per window.

    Returns:
        `(windows, origins, stats)`: `windows` a list of `(tokens, spans)`
        with window-relative spans; `origins[i] = (sentence, offset)` gives
        the source sentence of window `i` and its first token's position;
        `stats` a dict with `sentences`, `windows`, `split_sentences` (split
        in two or more windows) and `cut_spans` (spans longer than
        `max_length`, truncated).

    Example:

    >>> w, o, st = split_windows([(list("abcde"), [(0, 1, 3)])], max_length=3)
    >>> [(t, s) for t, s in w], o
    ([(['a'], []), (['b', 'c', 'd'], [(0, 0, 2)]), (['e'], [])], [(0, 0), (0, 1), (0, 4)])
    >>> st["split_sentences"], st["cut_spans"]
    (1, 0)
    """
    max_length = checks.check_int(max_length, "max_length", minimum=1)
    windows, origins = [], []
    split = cut = 0
    for n, (tokens, spans) in enumerate(examples):
        if len(tokens) <= max_length:
            windows.append((tokens, list(spans)))
            origins.append((n, 0))
            continue
        split += 1
        start = 0
        while start < len(tokens):
            end = min(start + max_length, len(tokens))  # exclusive
            if end < len(tokens):
                crossing = [s for _, s, e in spans if s < end <= e and s > start]
                if crossing:
                    end = min(crossing)
            inside = []
            for t, s, e in spans:
                if start <= s < end:
                    if e >= end:
                        cut += 1
                        e = end - 1
                    inside.append((t, s - start, e - start))
            windows.append((tokens[start:end], inside))
            origins.append((n, start))
            start = end
    stats = dict(
        sentences=len(examples),
        windows=len(windows),
        split_sentences=split,
        cut_spans=cut,
    )
    return windows, origins, stats


def merge_windows(window_spans, origins, num_sentences):
    """Window-relative spans -> sentence spans (the inverse of `split_windows`' layout)."""
    out = [[] for _ in range(num_sentences)]
    for spans, (n, offset) in zip(window_spans, origins, strict=True):
        out[n].extend(
            (sp[0], sp[1] + offset, sp[2] + offset) + tuple(sp[3:]) for sp in spans
        )
    return [sorted(set(s), key=lambda sp: (sp[1], sp[2], sp[0])) for s in out]


def _pad(rows, length):
    """Stacks arrays `[n_i, ...]` into `[len(rows), length, ...]`, zero-padded."""
    out = np.zeros((len(rows), length) + rows[0].shape[1:], rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class SpanBatches(keras.utils.PyDataset):
    """Batches of token ids and span-tagger targets, bucketed by length.

    Each batch is padded only to its longest sentence, rounded up to a
    multiple of `pad_to_multiple` (few distinct shapes, so jitted backends
    compile a few times only); with `bucket=True` sentences of similar length
    share a batch (sorted within chunks of `50 * batch_size` after shuffling,
    batch order shuffled each epoch). Targets are encoded per batch with
    `keras_rdkl.spans.encode_batch`, so memory holds one batch of
    `[B, types, L, L]` at a time. With `targets="tags"` (the CRF head) the
    targets are BIO tag ids `[B, L]` instead (`keras_rdkl.ner.tagging`);
    nested spans are flattened to the outermost ones first and
    `dropped_spans` counts the inner spans left out.

    Args:
        examples: list of `(tokens, spans)` with integer span types; every
            sentence must fit in `max_length` (use `split_windows` first).
        vocab: a `Vocabulary`.
        num_types: number of entity types (heads).
        batch_size: sentences per batch.
        shuffle: shuffle every epoch (training).
        seed: seed of the shuffling.
        bucket: group sentences of similar length.
        pad_to_multiple: round batch lengths up to a multiple of this.
        max_chars: characters per word when the vocabulary has characters
            (inputs are then a dict `{"token_ids", "char_ids"}`, with
            `"bigram_ids"` `[B, L]` too when it has bigrams and
            `"shape_ids"` `[B, L]` when it has word shapes and `"gazetteer"`
            `[B, L, features]` float32 when it has a gazetteer).
        with_targets: yield `(x, y)`; False yields `x` only (prediction).
        sample_weights: None, or one finite weight >= 0 per example: batches
            are then `(x, y, sample_weight)`. Weight 0 keeps a sentence out of
            the loss (unlabeled rows for semi-supervised VAT,
            `keras_rdkl.AdversarialModel`).
        targets: `"spans"` (GlobalPointer grids `[B, types, L, L]`) or
            `"tags"` (BIO tag ids `[B, L]`, for `head="crf"`); see
            `keras_rdkl.ner.target_kind`.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).
    """

    def __init__(
        self,
        examples,
        vocab,
        num_types,
        batch_size=32,
        shuffle=False,
        seed=0,
        bucket=True,
        pad_to_multiple=8,
        max_chars=16,
        with_targets=True,
        targets="spans",
        sample_weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sample_weights is not None:
            sample_weights = np.asarray(sample_weights, dtype="float32")
            if sample_weights.shape != (len(examples),) or not (
                np.all(np.isfinite(sample_weights)) and np.all(sample_weights >= 0)
            ):
                raise ValueError(
                    "`sample_weights` must hold one finite weight >= 0 per example "
                    f"({len(examples)}). Received: sample_weights of shape "
                    f"{sample_weights.shape}, min {sample_weights.min(initial=0.0)}"
                )
        self.sample_weights = sample_weights
        if targets not in ("spans", "tags"):
            raise ValueError(
                f"`targets` must be 'spans' or 'tags'. Received: targets={targets!r}"
            )
        self.targets = targets
        self.batch_size = checks.check_int(batch_size, "batch_size", minimum=1)
        self.num_types = checks.check_int(num_types, "num_types", minimum=1)
        self.pad_to_multiple = checks.check_int(
            pad_to_multiple, "pad_to_multiple", minimum=1
        )
        self.max_chars = checks.check_int(max_chars, "max_chars", minimum=1)
        self.vocab = vocab
        self.shuffle = bool(shuffle)
        self.bucket = bool(bucket)
        self.with_targets = bool(with_targets)
        self.rng = np.random.default_rng(seed)
        self.inputs = [vocab.encode_inputs(t, self.max_chars) for t, _ in examples]
        self.spans = [list(s) for _, s in examples]
        self.dropped_spans = 0
        if targets == "tags":
            flat = [flatten_spans(s) for s in self.spans]
            self.spans = [kept for kept, _ in flat]
            self.dropped_spans = sum(n for _, n in flat)
        self.lengths = np.array([max(1, len(t)) for t, _ in examples])
        self._make_batches()

    def _make_batches(self):
        self.batches = bucketed_batches(
            self.lengths, self.batch_size, self.rng, self.shuffle, self.bucket
        )
        lead_with_two_lengths(self.batches, self._length)

    def _length(self, idx):
        """The padded length of the batch of sentences `idx`."""
        m = self.pad_to_multiple
        return int(math.ceil(self.lengths[idx].max() / m) * m)

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        idx = self.batches[index]
        length = self._length(idx)
        x = {
            name: _pad([self.inputs[j][name] for j in idx], length)
            for name in self.inputs[idx[0]]
        }
        if len(x) == 1:
            x = x["token_ids"]
        if not self.with_targets:
            return (x,)
        if self.targets == "tags":
            y = np.zeros((len(idx), length), "int32")
            for row, j in enumerate(idx):
                y[row] = spans_to_tag_ids(self.spans[j], length)
        else:
            y = encode_batch([self.spans[j] for j in idx], self.num_types, length)
        if self.sample_weights is not None:
            return x, y, self.sample_weights[idx]
        return x, y

    def on_epoch_end(self):
        if self.shuffle:
            self._make_batches()
