"""Sub-word pieces for span taggers on pretrained backbones, aligned with the corpus' words.

A pretrained backbone reads WordPiece (BERT, DistilBERT, ELECTRA), byte-level
BPE (RoBERTa) or SentencePiece (XLM-RoBERTa, ALBERT, DeBERTa-v3) pieces; a
corpus labels words (WNUT-17, GermEval, CoNLL) or characters (CLUENER, one
"word" per character). `SubwordTokenizer` turns a sentence's words into
pieces and keeps, for each piece, the word it came from (`WordPieces`), so:

- a gold word span `(type, start, end)` becomes the piece span from the first
  piece of its start word to the last piece of its end word (GlobalPointer),
  or a BIO tag on each word's first piece (CRF; the other pieces are masked
  out through `word_starts`);
- a predicted piece span becomes the word span of the words holding its
  first and last piece, and then character offsets of the raw text.

Each word is tokenized on its own (pre-tokenized input), so no piece ever
straddles two words. A word that gives no piece at all (a space, a lone
control or zero-width character) is counted; a span edge on such a word
moves inward to the nearest word with pieces, and a span left without any
piece is dropped and counted, never silently. Sentences longer than the
backbone allows are split into windows at word boundaries (as
`ner.split_windows` does for tokens) and merged back (`ner.merge_windows`);
a single word longer than a window is truncated and counted.

Everything here is host-side Python / NumPy on the Hugging Face `tokenizers`
library (or `sentencepiece` for `.spm` / `.model` files): no TensorFlow.
"""

import json
import math
import pathlib

import keras
import numpy as np

from keras_rdkl import _checks as checks
from keras_rdkl._batching import bucketed_batches
from keras_rdkl._batching import lead_with_two_lengths
from keras_rdkl.ner.builder import find_crf
from keras_rdkl.ner.data import merge_windows
from keras_rdkl.ner.tagging import flatten_spans
from keras_rdkl.ner.tagging import spans_to_tag_ids
from keras_rdkl.ner.tagging import tag_ids_to_spans
from keras_rdkl.ner.tokens import tokenize
from keras_rdkl.spans import decode_spans
from keras_rdkl.spans import encode_batch

__all__ = [
    "SubwordBatches",
    "SubwordTokenizer",
    "WordPieces",
    "predict_subword_entities",
    "predict_subword_spans",
]

SETTINGS_FILE = "subword_tokenizer.json"
HF_TOKENIZER_FILE = "tokenizer.json"
SPM_FILE = "vocabulary.spm"
# Special tokens of keras-hub's text tokenizers, by class: (cls, sep, pad).
_KERAS_HUB_SPECIALS = {
    "BertTokenizer": ("[CLS]", "[SEP]", "[PAD]"),
    "DistilBertTokenizer": ("[CLS]", "[SEP]", "[PAD]"),
    "ElectraTokenizer": ("[CLS]", "[SEP]", "[PAD]"),
    "RobertaTokenizer": ("<s>", "</s>", "<pad>"),
    "XLMRobertaTokenizer": ("<s>", "</s>", "<pad>"),
    "AlbertTokenizer": ("[CLS]", "[SEP]", "<pad>"),
    "DebertaV3Tokenizer": ("[CLS]", "[SEP]", "[PAD]"),
}
# Tried in order when nothing names the special tokens.
_SPECIAL_GUESSES = (("[CLS]", "[SEP]", "[PAD]"), ("<s>", "</s>", "<pad>"))
# fairseq's layout (XLM-RoBERTa, CamemBERT): four specials first, then every
# other SentencePiece id shifted by one; SentencePiece's own unknown maps to 3.
_FAIRSEQ_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
_FAIRSEQ_CLASSES = ("XLMRobertaTokenizer", "CamembertTokenizer")


def _is_blank(word):
    """True for words that running text never holds: empty or only whitespace."""
    return not word or word.isspace()


class WordPieces:
    """The pieces of one sentence and how they align with its words.

    Built by `SubwordTokenizer.encode`. Piece positions exclude the special
    tokens (the tagger adds them itself).

    Attributes:
        ids: int32 `[P]` piece ids.
        word_index: int32 `[P]` the word each piece belongs to.
        first, last: int32 `[W]` each word's first / last piece (inclusive),
            -1 for a word of zero pieces.
        zero_piece_words: number of words with no piece.
        truncated_words: number of words cut to `max_pieces` pieces.

    Example:

    >>> wp = WordPieces([[7, 8], [], [9]])
    >>> wp.ids.tolist(), wp.word_index.tolist(), wp.first.tolist(), wp.last.tolist()
    ([7, 8, 9], [0, 0, 2], [0, -1, 2], [1, -1, 2])
    >>> wp.word_starts.tolist()
    [1, 0, 1]
    >>> wp.to_piece_spans([(0, 0, 1), (1, 1, 1)])
    ([(0, 0, 1)], 1)
    >>> wp.to_word_spans([(0, 1, 2, 0.5)])
    [(0, 0, 2, 0.5)]
    """

    def __init__(self, word_pieces, max_pieces=None):
        ids, word_index = [], []
        num_words = len(word_pieces)
        self.first = np.full(num_words, -1, "int32")
        self.last = np.full(num_words, -1, "int32")
        self.truncated_words = 0
        for w, pieces in enumerate(word_pieces):
            if max_pieces is not None and len(pieces) > max_pieces:
                pieces = pieces[:max_pieces]
                self.truncated_words += 1
            if len(pieces):
                self.first[w] = len(ids)
                self.last[w] = len(ids) + len(pieces) - 1
                ids.extend(pieces)
                word_index.extend([w] * len(pieces))
        self.ids = np.asarray(ids, "int32")
        self.word_index = np.asarray(word_index, "int32")
        self.zero_piece_words = int((self.first < 0).sum())

    def __len__(self):
        return len(self.ids)

    @property
    def num_words(self):
        return len(self.first)

    @property
    def word_starts(self):
        """int32 `[P]`: 1 on each word's first piece."""
        out = np.zeros(len(self.ids), "int32")
        out[self.first[self.first >= 0]] = 1
        return out

    def pieces_of_words(self):
        """Per word, its list of piece ids (empty for a word of zero pieces)."""
        return [
            [] if a < 0 else self.ids[a : b + 1].tolist()
            for a, b in zip(self.first, self.last, strict=True)
        ]

    def to_piece_spans(self, spans):
        """Word spans -> piece spans; `(spans, dropped)`.

        `(type, start, end, ...)` becomes `(type, first piece of start,
        last piece of end, ...)`. An edge on a word of zero pieces moves
        inward to the nearest word with pieces; a span with no piece at all
        is left out and counted in `dropped`.
        """
        out, dropped = [], 0
        n = self.num_words
        for span in spans:
            t, s, e = span[0], int(span[1]), int(span[2])
            if not 0 <= s <= e < n:
                raise ValueError(
                    f"Span {tuple(span)} must satisfy 0 <= start <= end < "
                    f"{n} (the number of words)."
                )
            have = np.nonzero(self.first[s : e + 1] >= 0)[0]
            if not len(have):
                dropped += 1
                continue
            a, b = s + int(have[0]), s + int(have[-1])
            out.append((t, int(self.first[a]), int(self.last[b])) + tuple(span[3:]))
        return out, dropped

    def to_word_spans(self, piece_spans):
        """Piece spans -> word spans: the words holding the start and end piece."""
        n = len(self.ids)
        out = []
        for span in piece_spans:
            t, a, b = span[0], int(span[1]), int(span[2])
            if not 0 <= a <= b < n:
                raise ValueError(
                    f"Piece span {tuple(span)} must satisfy 0 <= start <= end < "
                    f"{n} (the number of pieces)."
                )
            out.append(
                (t, int(self.word_index[a]), int(self.word_index[b])) + tuple(span[3:])
            )
        return out

    def tag_positions(self):
        """Piece positions of the words with pieces, in order (where CRF tags sit)."""
        return self.first[self.first >= 0]

    def __repr__(self):
        return (
            f"WordPieces(words={self.num_words}, pieces={len(self.ids)}, "
            f"zero_piece_words={self.zero_piece_words}, "
            f"truncated_words={self.truncated_words})"
        )


class SubwordTokenizer:
    """Sub-word tokenization of word or character corpora for pretrained backbones.

    Wraps a Hugging Face `tokenizers.Tokenizer` (WordPiece, byte-level BPE,
    Unigram...) or a `sentencepiece.SentencePieceProcessor` (keras-hub's
    `vocabulary.spm`, Hugging Face `*.model` files without `tokenizer.json`:
    these are tokenized with `sentencepiece` itself, word by word, which
    gives the pieces of the running text since SentencePiece never joins
    two whitespace-separated words into one piece).

    Each word is tokenized on its own, as it reads inside running text: a
    byte-level BPE word gets its leading space (`"Ġword"`, as transformers'
    `add_prefix_space=True` gives, for every word of the sentence and of a
    window), WordPiece and SentencePiece words their usual form (`"▁word"`
    for SentencePiece). Empty and whitespace-only words (the spaces of a
    character corpus) give zero pieces; what other words give is the
    tokenizer's own answer (WordPiece drops control and zero-width
    characters such as `"\\u200b"`, byte-level BPE keeps their bytes).

    Args:
        tokenizer: a `tokenizers.Tokenizer` or a
            `sentencepiece.SentencePieceProcessor`.
        cls_token, sep_token, pad_token: the special tokens the backbone
            puts first, last and as padding (`"[CLS]"`, `"[SEP]"`, `"[PAD]"`
            for BERT; `"<s>"`, `"</s>"`, `"<pad>"` for RoBERTa).
        labels: optional entity-type names, saved with the tokenizer so a
            reloaded tagger can name its spans.
        level: `"word"` (words joined with spaces) or `"char"` (characters
            joined without), used to split raw text in
            `predict_subword_entities`.
        fairseq_ids: SentencePiece only: ids in fairseq's layout
            (XLM-RoBERTa): `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, every
            other piece's id plus one (as keras-hub and transformers do).

    Example:

    >>> from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "new": 4, "##s": 5}
    >>> hf = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    >>> hf.normalizer = normalizers.BertNormalizer()
    >>> hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    >>> tok = SubwordTokenizer(hf, "[CLS]", "[SEP]", "[PAD]")
    >>> wp = tok.encode(["news", "\\u200b", "new"])
    >>> wp.ids.tolist(), wp.first.tolist(), wp.last.tolist()
    ([4, 5, 4], [0, -1, 2], [1, -1, 2])
    >>> tok.cls_id, tok.sep_id, tok.pad_id
    (2, 3, 0)
    """

    def __init__(
        self,
        tokenizer,
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        labels=None,
        level="word",
        fairseq_ids=False,
    ):
        if level not in ("char", "word"):
            raise ValueError(
                f"`level` must be 'char' or 'word'. Received: level={level!r}"
            )
        self.cls_token, self.sep_token, self.pad_token = cls_token, sep_token, pad_token
        self.labels = None if labels is None else list(labels)
        self.level = level
        self.fairseq_ids = bool(fairseq_ids)
        if _is_sentencepiece(tokenizer):
            self.backend = "sentencepiece"
            self._sp = tokenizer
            self._hf = None
            self.byte_level = False
        elif hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "to_str"):
            if self.fairseq_ids:
                raise ValueError(
                    "`fairseq_ids` applies to SentencePiece models only; a "
                    "`tokenizers.Tokenizer` has its own ids."
                )
            self.backend = "tokenizers"
            self._sp = None
            # A copy without truncation or padding: every piece, no specials.
            self._hf = type(tokenizer).from_str(tokenizer.to_str())
            self._hf.no_truncation()
            self._hf.no_padding()
            self.byte_level = _has_byte_level(self._hf)
        else:
            raise ValueError(
                "`tokenizer` must be a `tokenizers.Tokenizer` or a "
                "`sentencepiece.SentencePieceProcessor`. Received: "
                f"{type(tokenizer).__name__}"
            )
        self.cls_id = self.token_to_id(cls_token, "cls_token")
        self.sep_id = self.token_to_id(sep_token, "sep_token")
        self.pad_id = self.token_to_id(pad_token, "pad_token")

    # Construction and saving.

    @classmethod
    def from_directory(cls, path, labels=None, level="word"):
        """Reads a tokenizer from a Hugging Face or keras-hub directory.

        Understood, in this order:

        - a directory written by `save` (`subword_tokenizer.json`);
        - Hugging Face: `tokenizer.json`, its special tokens from
          `tokenizer_config.json` / `special_tokens_map.json`; without
          `tokenizer.json`, `vocab.txt` (WordPiece, `do_lower_case` from
          `tokenizer_config.json`), `vocab.json` + `merges.txt` (byte-level
          BPE) or a SentencePiece `sentencepiece.bpe.model` (fairseq ids),
          `spiece.model` or `spm.model`;
        - a keras-hub preset (`save_to_preset`): `tokenizer.json` names the
          tokenizer class and `assets/tokenizer/` holds `vocabulary.txt`
          (WordPiece), `vocabulary.json` + `merges.txt` (byte-level BPE) or
          `vocabulary.spm` (SentencePiece; XLM-RoBERTa's in fairseq ids).

        Args:
            path: the directory.
            labels, level: as in the class (a saved tokenizer keeps its own
                unless these are given).

        Returns:
            A `SubwordTokenizer`.
        """
        path = pathlib.Path(path)
        if not path.is_dir():
            raise ValueError(
                f"`path` must be a directory. Received: path={str(path)!r}"
            )
        if (path / SETTINGS_FILE).is_file():
            out = cls.load(path)
            if labels is not None:
                out.labels = list(labels)
            if level != "word":
                out.level = level
            return out
        config = _read_json(path / HF_TOKENIZER_FILE)
        if config is not None and "class_name" in config:
            return _from_keras_hub(cls, path, config, labels, level)
        return _from_hugging_face(cls, path, config, labels, level)

    def get_config(self):
        return {
            "backend": self.backend,
            "cls_token": self.cls_token,
            "sep_token": self.sep_token,
            "pad_token": self.pad_token,
            "labels": self.labels,
            "level": self.level,
            "fairseq_ids": self.fairseq_ids,
        }

    def save(self, path):
        """Writes `tokenizer.json` (or `vocabulary.spm`) and `subword_tokenizer.json` into `path`."""
        path = pathlib.Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.backend == "tokenizers":
            self._hf.save(str(path / HF_TOKENIZER_FILE))
        else:
            (path / SPM_FILE).write_bytes(self._sp.serialized_model_proto())
        (path / SETTINGS_FILE).write_text(
            json.dumps(self.get_config(), ensure_ascii=False, indent=1),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, path):
        """Reads a tokenizer written by `save`."""
        path = pathlib.Path(path)
        config = json.loads((path / SETTINGS_FILE).read_text(encoding="utf-8"))
        backend = config.pop("backend")
        if backend == "tokenizers":
            from tokenizers import Tokenizer

            inner = Tokenizer.from_file(str(path / HF_TOKENIZER_FILE))
        else:
            inner = _sentencepiece_processor((path / SPM_FILE).read_bytes())
        return cls(inner, **config)

    # Vocabulary.

    @property
    def vocab_size(self):
        """Number of ids (added tokens included; fairseq layout: specials and `<mask>`)."""
        if self.backend == "tokenizers":
            return self._hf.get_vocab_size(with_added_tokens=True)
        size = self._sp.get_piece_size()
        return size + 2 if self.fairseq_ids else size

    def token_to_id(self, token, name="token"):
        """The id of one vocabulary entry; ValueError when the vocabulary lacks it."""
        if self.backend == "tokenizers":
            i = self._hf.token_to_id(token)
        elif self.fairseq_ids and token in _FAIRSEQ_SPECIALS:
            i = _FAIRSEQ_SPECIALS[token]
        else:
            i = self._sp.piece_to_id(token)
            if i == self._sp.unk_id() and self._sp.id_to_piece(i) != token:
                i = None
            elif i is not None and self.fairseq_ids:
                i += 1
        if i is None:
            raise ValueError(
                f"`{name}` {token!r} is not in the tokenizer's vocabulary."
            )
        return int(i)

    # Tokenization.

    def word_pieces(self, sentences):
        """Piece ids of each word of each sentence: `[sentence][word] -> list of ids`."""
        sentences = [[str(w) for w in words] for words in sentences]
        kept = [
            [i for i, w in enumerate(words) if not _is_blank(w)] for words in sentences
        ]
        out = [[[] for _ in words] for words in sentences]
        if self.backend == "sentencepiece":
            flat = [
                w
                for words, k in zip(sentences, kept, strict=True)
                for w in (words[i] for i in k)
            ]
            pieces = self._sp.encode(flat, out_type=int) if flat else []
            if self.fairseq_ids:
                unk = self._sp.unk_id()
                pieces = [[3 if p == unk else p + 1 for p in ps] for ps in pieces]
            it = iter(pieces)
            for row, k in zip(out, kept, strict=True):
                for i in k:
                    row[i] = list(next(it))
            return out
        inputs = [
            [(" " + words[i]) if self.byte_level else words[i] for i in k]
            for words, k in zip(sentences, kept, strict=True)
        ]
        rows = [j for j, words in enumerate(inputs) if words]
        encodings = self._hf.encode_batch(
            [inputs[j] for j in rows], is_pretokenized=True, add_special_tokens=False
        )
        for j, enc in zip(rows, encodings, strict=True):
            k = kept[j]
            for piece, w in zip(enc.ids, enc.word_ids, strict=True):
                out[j][k[w]].append(piece)
        return out

    def encode(self, words, max_pieces=None):
        """The pieces of one sentence (a list of words or characters): a `WordPieces`.

        Args:
            words: list of strings.
            max_pieces: optional cap on the pieces of one word (longer words
                are truncated and counted in `truncated_words`).
        """
        return WordPieces(self.word_pieces([words])[0], max_pieces)

    def encode_batch(self, sentences, max_pieces=None):
        """`encode` for a list of sentences (tokenized in one batch)."""
        return [WordPieces(p, max_pieces) for p in self.word_pieces(sentences)]

    def split_windows(self, examples, max_length):
        """Sentences longer than `max_length - 2` pieces -> windows at word boundaries.

        As `ner.split_windows` does for tokens: a window ends before the
        first span that would cross its end (unless that span starts at the
        window's start, and is then cut, counted in `cut_spans`); a word of
        more pieces than a window holds is truncated (`truncated_words`).

        Args:
            examples: list of `(words, spans)` (or word lists).
            max_length: the backbone's sequence length, special tokens
                included (each window has at most `max_length - 2` pieces).

        Returns:
            `(windows, origins, stats)` as `ner.split_windows` gives, plus
            the windows' pieces: `windows` a list of `(words, spans,
            WordPieces)`; `stats` adds `truncated_words` and
            `zero_piece_words`.
        """
        examples = [e if isinstance(e, tuple) else (list(e), []) for e in examples]
        budget = checks.check_int(max_length, "max_length", minimum=3) - 2
        encoded = self.word_pieces([list(words) for words, _ in examples])
        windows, origins = [], []
        stats = dict(
            sentences=len(examples),
            windows=0,
            split_sentences=0,
            cut_spans=0,
            truncated_words=0,
            zero_piece_words=0,
        )
        for n, ((words, spans), per_word) in enumerate(
            zip(examples, encoded, strict=True)
        ):
            words, spans = list(words), [tuple(s) for s in spans]
            cuts, cut = _window_bounds(
                [min(len(p), budget) for p in per_word], spans, budget
            )
            stats["split_sentences"] += len(cuts) > 1
            stats["cut_spans"] += cut
            for start, end, inside in cuts:
                pieces = WordPieces(per_word[start:end], budget)
                stats["truncated_words"] += pieces.truncated_words
                stats["zero_piece_words"] += pieces.zero_piece_words
                windows.append((words[start:end], inside, pieces))
                origins.append((n, start))
        stats["windows"] = len(windows)
        return windows, origins, stats

    def __repr__(self):
        return (
            f"SubwordTokenizer(backend={self.backend!r}, vocab_size={self.vocab_size}, "
            f"cls={self.cls_token!r}, sep={self.sep_token!r}, pad={self.pad_token!r}, "
            f"byte_level={self.byte_level}, level={self.level!r})"
        )


def _window_bounds(counts, spans, budget):
    """`([(start, end exclusive, window spans)], cut)` over words of `counts` pieces."""
    n = len(counts)
    if sum(counts) <= budget:
        return [(0, n, list(spans))], 0
    out, cut, start = [], 0, 0
    while start < n:
        end, total = start, 0
        while end < n and total + counts[end] <= budget:
            total += counts[end]
            end += 1
        if end < n:
            crossing = [sp[1] for sp in spans if start < sp[1] < end <= sp[2]]
            if crossing:
                end = min(crossing)
        inside = []
        for sp in spans:
            t, s, e = sp[0], sp[1], sp[2]
            if start <= s < end:
                if e >= end:
                    cut += 1
                    e = end - 1
                inside.append((t, s - start, e - start) + tuple(sp[3:]))
        out.append((start, end, inside))
        start = end
    return out, cut


# Readers of tokenizer directories.


def _read_json(path):
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _is_sentencepiece(obj):
    return hasattr(obj, "serialized_model_proto") and hasattr(obj, "piece_to_id")


def _sentencepiece_processor(proto):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_proto=proto)


def _has_byte_level(tokenizer):
    """True when the pre-tokenizer (or one inside a Sequence) is ByteLevel."""
    state = json.loads(tokenizer.to_str()).get("pre_tokenizer")

    def walk(node):
        if isinstance(node, dict):
            return node.get("type") == "ByteLevel" or any(
                walk(v) for v in node.values()
            )
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return walk(state)


def _special_name(value):
    if isinstance(value, dict):
        return value.get("content")
    return value


def _guess_specials(inner, fairseq=False):
    """The first of `_SPECIAL_GUESSES` whose three tokens the vocabulary holds."""

    def has(token):
        if not _is_sentencepiece(inner):
            return inner.token_to_id(token) is not None
        if fairseq and token in _FAIRSEQ_SPECIALS:
            return True
        return inner.id_to_piece(inner.piece_to_id(token)) == token

    for triple in _SPECIAL_GUESSES:
        if all(has(t) for t in triple):
            return triple
    raise ValueError(
        "Could not tell the special tokens of this tokenizer: none of "
        f"{list(_SPECIAL_GUESSES)} are all in its vocabulary. Build "
        "`SubwordTokenizer(tokenizer, cls_token=..., sep_token=..., pad_token=...)`."
    )


def _word_piece(vocab, lowercase, strip_accents, unk_token="[UNK]", prefix="##"):
    from tokenizers import Tokenizer
    from tokenizers import decoders
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers

    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(
        models.WordPiece(ids, unk_token=unk_token, continuing_subword_prefix=prefix)
    )
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=strip_accents,
        lowercase=lowercase,
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix=prefix)
    return tok


def _byte_level_bpe(vocab, merges_path):
    from tokenizers import Tokenizer
    from tokenizers import decoders
    from tokenizers import models
    from tokenizers import pre_tokenizers

    merges = []
    for line in merges_path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#version"):
            continue
        a, b = line.split(" ")
        merges.append((a, b))
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def _vocab_lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def _from_keras_hub(cls, path, config, labels, level):
    name = config["class_name"]
    settings = config.get("config", {})
    assets = path / "assets" / "tokenizer"
    fairseq = False
    if (assets / "vocabulary.txt").is_file():
        inner = _word_piece(
            _vocab_lines(assets / "vocabulary.txt"),
            bool(settings.get("lowercase", False)),
            bool(settings.get("strip_accents", False)),
            settings.get("oov_token", "[UNK]"),
            settings.get("suffix_indicator", "##"),
        )
    elif (assets / "vocabulary.json").is_file():
        vocab = json.loads((assets / "vocabulary.json").read_text(encoding="utf-8"))
        inner = _byte_level_bpe(vocab, assets / "merges.txt")
    elif (assets / SPM_FILE).is_file():
        inner = _sentencepiece_processor((assets / SPM_FILE).read_bytes())
        fairseq = name in _FAIRSEQ_CLASSES
    else:
        raise ValueError(
            f"The keras-hub preset {str(path)!r} ({name}) has no tokenizer "
            "vocabulary in assets/tokenizer/ (vocabulary.txt, vocabulary.json + "
            "merges.txt or vocabulary.spm)."
        )
    specials = _KERAS_HUB_SPECIALS.get(name) or _guess_specials(inner, fairseq)
    return cls(inner, *specials, labels=labels, level=level, fairseq_ids=fairseq)


def _from_hugging_face(cls, path, tokenizer_json, labels, level):
    settings = _read_json(path / "tokenizer_config.json") or {}
    specials_map = _read_json(path / "special_tokens_map.json") or {}
    named = {}
    for key in ("cls_token", "sep_token", "pad_token"):
        value = _special_name(settings.get(key)) or _special_name(specials_map.get(key))
        if value:
            named[key] = value
    fairseq = False
    if tokenizer_json is not None:
        from tokenizers import Tokenizer

        inner = Tokenizer.from_file(str(path / HF_TOKENIZER_FILE))
    elif (path / "vocab.txt").is_file():
        lowercase = bool(settings.get("do_lower_case", True))
        strip = settings.get("strip_accents")
        inner = _word_piece(
            _vocab_lines(path / "vocab.txt"),
            lowercase,
            lowercase if strip is None else bool(strip),
            _special_name(settings.get("unk_token")) or "[UNK]",
        )
    elif (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        inner = _byte_level_bpe(vocab, path / "merges.txt")
    else:
        model = next(
            (
                path / f
                for f in ("sentencepiece.bpe.model", "spiece.model", "spm.model")
                if (path / f).is_file()
            ),
            None,
        )
        if model is None:
            raise ValueError(
                f"No tokenizer found in {str(path)!r}: expected tokenizer.json "
                "(Hugging Face), a keras-hub preset, vocab.txt, vocab.json + "
                "merges.txt or a SentencePiece model."
            )
        inner = _sentencepiece_processor(model.read_bytes())
        fairseq = (
            model.name == "sentencepiece.bpe.model"
            or settings.get("tokenizer_class", "").replace("Fast", "")
            in _FAIRSEQ_CLASSES
        )
    if len(named) < 3:
        keys = ("cls_token", "sep_token", "pad_token")
        guess = dict(zip(keys, _guess_specials(inner, fairseq), strict=True))
        named = {**guess, **named}
    return cls(inner, **named, labels=labels, level=level, fairseq_ids=fairseq)


# Batches.


def _pad(rows, length, value):
    out = np.full((len(rows), length), value, "int32")
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _tag_targets(pieces, piece_spans, length):
    """BIO tag ids `[length]` on each word's first piece, 0 elsewhere."""
    positions = pieces.tag_positions()
    rank = {int(p): i for i, p in enumerate(positions)}
    words = pieces.word_index
    # A piece span covers whole words: its start and end words' first pieces.
    compact = [
        (t, rank[int(pieces.first[words[a]])], rank[int(pieces.first[words[b]])])
        for t, a, b in piece_spans
    ]
    y = np.zeros(length, "int32")
    y[positions] = spans_to_tag_ids(compact, len(positions))
    return y


class SubwordBatches(keras.utils.PyDataset):
    """Batches of sub-word pieces and span-tagger targets, bucketed by length.

    As `ner.SpanBatches`, over the pieces of a `SubwordTokenizer`: sentences
    are split into windows of at most `max_length - 2` pieces
    (`SubwordTokenizer.split_windows`; `origins` maps windows back), each
    batch is padded to its longest window rounded up to `pad_to_multiple`
    (never past `max_length - 2`), and with `bucket=True` windows of similar
    length share a batch. Inputs are a dict of int32 `[B, P]` arrays:
    `"token_ids"` (no special tokens, padded with `tokenizer.pad_id`),
    `"padding_mask"` (1 = piece) and `"word_starts"` (1 = a word's first
    piece). Targets: GlobalPointer grids `[B, types, P, P]` over pieces
    (`targets="spans"`: first piece of the start word to last piece of the
    end word), or BIO tag ids `[B, P]` on each word's first piece, 0 on the
    other pieces (`targets="tags"`; the CRF masks them out through
    `word_starts`; nested spans are flattened first).

    Counters (nothing is dropped silently): `dropped_spans` (spans with no
    piece, plus for `targets="tags"` the nested spans that flattening
    leaves out), `zero_piece_words`, `truncated_words` (words longer than a
    window), and `stats` with these and the window counts of
    `split_windows` (`cut_spans`: spans longer than a window, cut).

    Args:
        examples: list of `(words, spans)` with integer span types
            `(type, start word, end word)`, end inclusive (characters as
            words for Chinese).
        tokenizer: a `SubwordTokenizer`.
        num_types: number of entity types.
        max_length: the backbone's longest sequence, special tokens included.
        batch_size: windows per batch.
        shuffle, seed, bucket, pad_to_multiple, with_targets, targets: as in
            `ner.SpanBatches`.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).
    """

    def __init__(
        self,
        examples,
        tokenizer,
        num_types,
        max_length=512,
        batch_size=32,
        shuffle=False,
        seed=0,
        bucket=True,
        pad_to_multiple=8,
        with_targets=True,
        targets="spans",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if targets not in ("spans", "tags"):
            raise ValueError(
                f"`targets` must be 'spans' or 'tags'. Received: targets={targets!r}"
            )
        self.targets = targets
        self.tokenizer = tokenizer
        self.num_types = checks.check_int(num_types, "num_types", minimum=1)
        self.max_length = checks.check_int(max_length, "max_length", minimum=3)
        self.batch_size = checks.check_int(batch_size, "batch_size", minimum=1)
        self.pad_to_multiple = checks.check_int(
            pad_to_multiple, "pad_to_multiple", minimum=1
        )
        self.shuffle = bool(shuffle)
        self.bucket = bool(bucket)
        self.with_targets = bool(with_targets)
        self.rng = np.random.default_rng(seed)
        examples = [e if isinstance(e, tuple) else (list(e), []) for e in examples]
        self.num_sentences = len(examples)
        windows, self.origins, stats = tokenizer.split_windows(examples, max_length)
        self.windows = windows
        self.pieces = [p for _, _, p in windows]
        self.spans = []
        no_piece = nested = 0
        for _, spans, pieces in windows:
            mapped, dropped = pieces.to_piece_spans(spans)
            no_piece += dropped
            if targets == "tags":
                mapped, n = flatten_spans(mapped)
                nested += n
            self.spans.append(mapped)
        stats.update(spans_without_pieces=no_piece, nested_spans_dropped=nested)
        self.stats = stats
        self.dropped_spans = no_piece + nested
        self.zero_piece_words = stats["zero_piece_words"]
        self.truncated_words = stats["truncated_words"]
        self.lengths = np.array([max(1, len(p)) for p in self.pieces])
        self._make_batches()

    def _make_batches(self):
        self.batches = bucketed_batches(
            self.lengths, self.batch_size, self.rng, self.shuffle, self.bucket
        )
        lead_with_two_lengths(self.batches, self._length)

    def _length(self, idx):
        """The padded length of the batch of windows `idx` (at most `max_length - 2`)."""
        m = self.pad_to_multiple
        padded = int(math.ceil(self.lengths[idx].max() / m) * m)
        return min(padded, self.max_length - 2)

    def __len__(self):
        return len(self.batches)

    def inputs(self, idx, length):
        """The model inputs of windows `idx` padded to `length`."""
        rows = [self.pieces[j] for j in idx]
        return {
            "token_ids": _pad([p.ids for p in rows], length, self.tokenizer.pad_id),
            "padding_mask": _pad([np.ones(len(p), "int32") for p in rows], length, 0),
            "word_starts": _pad([p.word_starts for p in rows], length, 0),
        }

    def __getitem__(self, index):
        idx = self.batches[index]
        length = self._length(idx)
        x = self.inputs(idx, length)
        if not self.with_targets:
            return (x,)
        if self.targets == "tags":
            y = np.stack(
                [_tag_targets(self.pieces[j], self.spans[j], length) for j in idx]
            )
            return x, y
        return x, encode_batch([self.spans[j] for j in idx], self.num_types, length)

    def on_epoch_end(self):
        if self.shuffle:
            self._make_batches()


# Prediction.


def _best_per_span(spans):
    """One `(type, start, end, score)` per `(type, start, end)`: the highest score."""
    best = {}
    for sp in spans:
        key = tuple(sp[:3])
        if key not in best or sp[3] > best[key][3]:
            best[key] = sp
    return sorted(best.values(), key=lambda sp: (sp[1], sp[2], sp[0]))


def _flat(spans):
    # Highest score first; ties: shorter span, then earlier start, then type.
    kept = []
    for sp in sorted(spans, key=lambda sp: (-sp[3], sp[2] - sp[1], sp[1], sp[0])):
        if all(sp[2] < k[1] or sp[1] > k[2] for k in kept):
            kept.append(sp)
    return sorted(kept, key=lambda sp: (sp[1], sp[2], sp[0]))


def predict_subword_spans(
    model,
    tokenizer,
    examples,
    num_types=None,
    max_length=512,
    batch_size=32,
    threshold=0.0,
    flat=False,
):
    """Decoded word spans `(type id, start word, end word, score)` of every sentence.

    Sentences are split into windows of at most `max_length - 2` pieces,
    predicted, and their spans mapped from pieces to words (the words
    holding a span's first and last piece; of piece spans landing on the
    same word span the best score is kept) and back to sentence positions.
    A CRF tagger is decoded with its constrained Viterbi over each word's
    first piece (`word_starts`); a span's score is then the sum of the
    emissions of its tags along the best path.

    Args:
        model: a tagger taking `{"token_ids", "padding_mask", "word_starts"}`.
        tokenizer: its `SubwordTokenizer`.
        examples: list of `(words, spans)` (spans ignored) or of word lists.
        num_types: number of entity types (unused; for symmetry with
            `ner.predict_spans`).
        max_length: the backbone's sequence length, special tokens included.
        batch_size: windows per forward pass.
        threshold: decision threshold of `decode_spans` (0 for ZLPR).
        flat: keep only non-overlapping spans (greedy by score).

    Returns:
        A list (one per sentence) of `(type, start, end, score)` lists over
        the sentence's words.
    """
    data = SubwordBatches(
        examples,
        tokenizer,
        num_types or 1,
        max_length=max_length,
        batch_size=batch_size,
        with_targets=False,
    )
    crf = find_crf(model)
    window_spans = [None] * len(data.pieces)
    for i in range(len(data)):
        (x,) = data[i]
        out = model.predict_on_batch(x)
        if crf is None:
            decoded = decode_spans(
                out, threshold=threshold, flat=flat, mask=x["padding_mask"]
            )
        else:
            decoded = _crf_piece_spans(crf, out, x["padding_mask"] * x["word_starts"])
        for j, spans in zip(data.batches[i], decoded, strict=True):
            pieces = data.pieces[j]
            if crf is not None:
                spans = [_crf_span_to_pieces(pieces, sp) for sp in spans]
            words = _best_per_span(pieces.to_word_spans(spans))
            window_spans[j] = _flat(words) if flat and crf is None else words
    return merge_windows(window_spans, data.origins, data.num_sentences)


def _crf_piece_spans(crf, emissions, mask):
    """Spans over the tagged (first-piece) positions of each row, in their own order."""
    paths, _ = crf.decode(emissions, mask=mask)
    paths = keras.ops.convert_to_numpy(paths)
    emissions = np.asarray(keras.ops.convert_to_numpy(emissions), "float32")
    out = []
    for row, (path, valid) in enumerate(zip(paths, np.asarray(mask), strict=True)):
        where = np.nonzero(valid)[0]
        tags = path[where]
        picked = emissions[row, where, tags]
        out.append(
            [
                (t, int(where[s]), int(where[e]), float(picked[s : e + 1].sum()))
                for t, s, e in tag_ids_to_spans(tags)
            ]
        )
    return out


def _crf_span_to_pieces(pieces, span):
    # A CRF span runs from the first piece of one word to the first piece of
    # another: extend its end over the end word's pieces.
    t, a, b, score = span
    return (t, a, int(pieces.last[pieces.word_index[b]]), score)


def _join(words, level):
    """Raw text of a word list and each word's `(start, end)` character offsets."""
    sep = " " if level == "word" else ""
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + len(sep)
    return sep.join(words), offsets


def predict_subword_entities(
    model,
    tokenizer,
    texts,
    labels=None,
    level=None,
    max_length=512,
    batch_size=32,
    threshold=0.0,
    flat=False,
):
    """Raw texts (or word lists) -> entities with word spans and character offsets.

    Raw text is split into words (`level="word"`) or characters
    (`level="char"`) by `ner.tokenize`, then into pieces; a word list is
    taken as it is, its text being the words joined by a space (`"word"`)
    or by nothing (`"char"`).

    Args:
        model: a tagger on `SubwordBatches` inputs (see `predict_subword_spans`).
        tokenizer: its `SubwordTokenizer`.
        texts: a string, a list of strings, or a list of word lists.
        labels: entity-type names (default: `tokenizer.labels`).
        level: `"word"` or `"char"` (default: `tokenizer.level`).
        max_length, batch_size, threshold, flat: as in `predict_subword_spans`.

    Returns:
        For each text, a list of dicts `{"type", "start", "end", "text",
        "score", "first_word", "last_word"}`: `text[start:end]` the entity
        (end exclusive), its words `first_word..last_word` (inclusive);
        a single list when `texts` is one string.

    Example:

    >>> model = load_tagger("runs/roberta")  # doctest: +SKIP
    >>> predict_subword_entities(model, tokenizer, "Anna flew to Paris")  # doctest: +SKIP
    [{'type': 'person', 'start': 0, 'end': 4, 'text': 'Anna', 'score': 6.2, ...}, ...]
    """
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    labels = tokenizer.labels if labels is None else list(labels)
    if labels is None:
        raise ValueError(
            "`labels` is None and the tokenizer carries none: pass the type names."
        )
    level = tokenizer.level if level is None else level
    if level not in ("char", "word"):
        raise ValueError(f"`level` must be 'char' or 'word'. Received: level={level!r}")
    raw, words, offsets = [], [], []
    for t in texts:
        if isinstance(t, str):
            w, o = tokenize(t, level)
        else:
            w = [str(x) for x in t]
            t, o = _join(w, level)
        raw.append(t)
        words.append(w)
        offsets.append(o)
    spans = (
        predict_subword_spans(
            model,
            tokenizer,
            words,
            len(labels),
            max_length,
            batch_size,
            threshold,
            flat,
        )
        if words
        else []
    )
    out = []
    for text, offs, sent in zip(raw, offsets, spans, strict=True):
        ents = []
        for t, s, e, score in sent:
            a, b = offs[s][0], offs[e][1]
            ents.append(
                dict(
                    type=labels[t],
                    start=a,
                    end=b,
                    text=text[a:b],
                    score=float(np.round(score, 4)),
                    first_word=s,
                    last_word=e,
                )
            )
        out.append(ents)
    return out[0] if single else out
