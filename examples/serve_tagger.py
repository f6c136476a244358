"""Raw text -> entities from an exported tagger, without keras-rdkl or Keras.

Reads a folder written by `keras_rdkl.ner.export_tagger` (or `python -m
keras_rdkl.ner.serving`): the artifact (`model.onnx` or `saved_model/`) and
`serving.json` (vocabulary, type names, input and output names). Needs NumPy
and onnxruntime (ONNX) or TensorFlow (SavedModel) only, and for a tagger on a
pretrained backbone the `tokenizers` library (or `sentencepiece`) to split
words into the pieces its `tokenizer/` folder defines; copy this file next to
your server.

    python examples/serve_tagger.py runs/demo/serving-onnx "我在北京大学读书"

Gives the entities `keras_rdkl.ner.predict_entities` gives for the same text
(each sentence in one window), or `predict_subword_entities` with the
exported `max_length` (long sentences in windows of whole words): dicts of
`type`, `start`, `end` (character offsets, end exclusive), `text` and `score`.
"""

import json
import pathlib
import re
import sys

import numpy as np

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text, level):
    """Tokens and their `(start, end)` character offsets, as the tagger was trained."""
    if level == "char":
        pairs = [(c, (i, i + 1)) for i, c in enumerate(text) if not c.isspace()]
    else:
        pairs = [(m.group(), m.span()) for m in _WORD.finditer(text)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


class Tagger:
    """An exported tagger: `Tagger(folder).entities(texts)`."""

    def __init__(self, folder):
        folder = pathlib.Path(folder)
        self.settings = json.loads((folder / "serving.json").read_text("utf-8"))
        self.labels = self.settings["labels"]
        self.pieces = None
        if "tokenizer" in self.settings:  # a pretrained backbone's sub-word pieces
            config = self.settings["tokenizer"]
            self.pieces = Pieces(folder / config["folder"], config)
            self.level = config["level"]
        else:
            vocab = self.settings["vocabulary"]
            self.level = vocab["level"]
            self.lowercase = vocab["lowercase"]
            self.token_ids = {t: i for i, t in enumerate(vocab["tokens"])}
            self.unk = self.token_ids.get(vocab["unk_token"] or "[UNK]", 1)
            self.char_ids = vocab["chars"] and {
                c: i for i, c in enumerate(vocab["chars"])
            }
            self.bigram_ids = vocab["bigrams"] and {
                b: i for i, b in enumerate(vocab["bigrams"])
            }
            self.shape_ids = vocab["shapes"] and {
                name: i for i, name in enumerate(self.settings["word_shapes"])
            }
            self.gazetteer = vocab["gazetteer"] and Gazetteer(vocab["gazetteer"])
        artifact = str(folder / self.settings["artifact"])
        if self.settings["format"] == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(artifact)
            names = [o.name for o in session.get_outputs()]
            self._run = lambda feed: dict(
                zip(names, session.run(None, feed), strict=True)
            )
        else:
            import tensorflow as tf

            serve = tf.saved_model.load(artifact).signatures["serving_default"]
            self._run = lambda feed: {
                k: v.numpy()
                for k, v in serve(
                    **{n: tf.constant(x) for n, x in feed.items()}
                ).items()
            }

    def _features(self, tokens):
        keys = [t.lower() for t in tokens] if self.lowercase else tokens
        out = {"token_ids": [self.token_ids.get(t, self.unk) for t in keys]}
        if self.char_ids:
            width = self.settings["max_chars"]
            chars = np.zeros((len(tokens), width), "int32")
            for i, t in enumerate(tokens):
                ids = [self.char_ids.get(c, 1) for c in t[:width]]
                chars[i, : len(ids)] = ids
            out["char_ids"] = chars
        if self.bigram_ids:
            pairs = zip(keys, keys[1:] + ["[END]"], strict=True)
            out["bigram_ids"] = [self.bigram_ids.get(f"{a} {b}", 1) for a, b in pairs]
        if self.shape_ids:
            out["shape_ids"] = [self.shape_ids[word_shape(t)] for t in tokens]
        if self.gazetteer:
            out["gazetteer"] = self.gazetteer.features(tokens)
        return out

    def _batch(self, token_lists):
        length = max(1, max(len(t) for t in token_lists))
        features = [self._features(t) for t in token_lists]  # once per sentence
        feed = {}
        for name in self.settings["inputs"]:
            rows = [np.asarray(f[name]) for f in features]
            width = {
                "char_ids": (self.settings["max_chars"],),
                "gazetteer": (self.gazetteer.num_features if self.gazetteer else 0,),
            }.get(name, ())
            dtype = "float32" if name == "gazetteer" else "int32"
            x = np.zeros((len(rows), length) + width, dtype)
            for i, row in enumerate(rows):
                if len(row):
                    x[i, : len(row)] = row
            feed[name] = x
        return feed

    def spans(self, token_lists):
        """`(type id, start token, end token inclusive, score)` per sentence, by position."""
        if self.pieces is not None:
            return self._subword_spans(token_lists)
        out = self._run(self._batch(token_lists))
        return [
            sorted(self._row_spans(out, i, np.arange(len(tokens))), key=_by_position)
            for i, tokens in enumerate(token_lists)
        ]

    def _row_spans(self, out, i, positions):
        """Spans of row `i` of the outputs; a CRF reads its tags at `positions`
        only (and numbers the spans by them), a span head takes every position."""
        head = self.settings["head"]
        if head == "spans":
            n = int(out["count"][i])
            return [
                (int(t), int(s), int(e), float(v))
                for t, s, e, v in zip(
                    out["types"][i][:n],
                    out["starts"][i][:n],
                    out["ends"][i][:n],
                    out["scores"][i][:n],
                    strict=True,
                )
            ]
        if head == "crf":
            tags = out["tags"][i][positions]
            scores = out["tag_scores"][i][positions]
        else:  # "crf_emissions": decode here
            emissions = out["emissions"][i][positions]
            tags = viterbi(emissions, self.settings)
            scores = emissions[np.arange(len(tags)), tags]
        return [
            (t, s, e, float(np.sum(scores[s : e + 1], dtype="float32")))
            for t, s, e in bio_spans(tags)
        ]

    def _subword_spans(self, word_lists):
        """Word spans of each sentence, through windows of whole words' pieces."""
        budget = self.settings["max_length"] - 2  # [CLS] and [SEP] are added
        windows = []  # (sentence, its first word, WindowPieces)
        for n, per_word in enumerate(self.pieces.of(word_lists)):
            counts = [min(len(p), budget) for p in per_word]
            for start, end in word_windows(counts, budget):
                pieces = WindowPieces([p[:budget] for p in per_word[start:end]])
                if len(pieces.ids):
                    windows.append((n, start, pieces))
        found = [set() for _ in word_lists]
        if windows:
            out = self._run(self._piece_batch([w[2] for w in windows]))
        for i, (n, start, pieces) in enumerate(windows):
            if (
                self.settings["head"] == "spans"
            ):  # piece spans -> the words holding them
                spans = [
                    (t, pieces.word_index[a], pieces.word_index[b], v)
                    for t, a, b, v in self._row_spans(out, i, None)
                ]
            else:  # a CRF tags each word's first piece
                words = pieces.word_index[pieces.starts]
                spans = [
                    (t, words[a], words[b], v)
                    for t, a, b, v in self._row_spans(out, i, pieces.starts)
                ]
            best = {}
            for t, a, b, v in spans:
                if (t, a, b) not in best or v > best[t, a, b]:
                    best[t, a, b] = v
            found[n].update(
                (t, int(a) + start, int(b) + start, v) for (t, a, b), v in best.items()
            )
        return [sorted(f, key=_by_position) for f in found]

    def _piece_batch(self, windows):
        length = max(len(w.ids) for w in windows)
        pad = self.settings["tokenizer"]["pad_id"]
        feed = {
            "token_ids": np.full((len(windows), length), pad, "int32"),
            "padding_mask": np.zeros((len(windows), length), "int32"),
            "word_starts": np.zeros((len(windows), length), "int32"),
        }
        for i, w in enumerate(windows):
            feed["token_ids"][i, : len(w.ids)] = w.ids
            feed["padding_mask"][i, : len(w.ids)] = 1
            feed["word_starts"][i, w.starts] = 1
        return {name: feed[name] for name in self.settings["inputs"]}

    def entities(self, texts, batch_size=32):
        """Entities of each text: dicts of type, start, end, text, score."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        out = []
        for b in range(0, len(texts), batch_size):
            chunk = texts[b : b + batch_size]
            tokenized = [tokenize(t, self.level) for t in chunk]
            for text, (_, offsets), spans in zip(
                chunk, tokenized, self.spans([t for t, _ in tokenized]), strict=True
            ):
                out.append(
                    [
                        {
                            "type": self.labels[t],
                            "start": offsets[s][0],
                            "end": offsets[e][1],
                            "text": text[offsets[s][0] : offsets[e][1]],
                            "score": float(np.round(score, 4)),
                        }
                        for t, s, e, score in spans
                    ]
                )
        return out[0] if single else out


_URL = re.compile(r"^(https?://|www\.)|\.(com|org|net|co|ly|io)(/|$)", re.IGNORECASE)


def word_shape(token):
    """A word's orthographic class, as `keras_rdkl.ner.word_shape` gives it."""
    if not token:
        return "other"
    if len(token) > 1 and token[0] in "@#":
        return "mention" if token[0] == "@" else "hashtag"
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
    return "upper" if all(c.isupper() for c in letters) else "mixed"


class Gazetteer:
    """Begin / inside marks of listed phrases, as `keras_rdkl.ner.Gazetteer` gives them."""

    def __init__(self, config):
        self.lowercase = config["lowercase"]
        self.phrases = [
            {tuple(p) for p in phrases} for phrases in config["lists"].values()
        ]
        self.max_words = max((len(p) for s in self.phrases for p in s), default=0)
        self.num_features = 2 * len(self.phrases)

    def features(self, tokens):
        words = [t.lower() for t in tokens] if self.lowercase else list(tokens)
        out = np.zeros((len(words), self.num_features), "float32")
        for k, phrases in enumerate(self.phrases):
            for start in range(len(words)):
                for n in range(1, min(self.max_words, len(words) - start) + 1):
                    if tuple(words[start : start + n]) in phrases:
                        out[start, 2 * k] = 1.0
                        out[start + 1 : start + n, 2 * k + 1] = 1.0
        return out


def _by_position(span):
    return span[1], span[2], span[0]


class Pieces:
    """Each word's sub-word piece ids, as `keras_rdkl.ner.SubwordTokenizer` gives them.

    Every word is tokenized on its own (no piece straddles two words); a
    byte-level BPE word gets the leading space it has inside running text;
    blank words get no piece.
    """

    def __init__(self, folder, config):
        self.byte_level = config["byte_level"]
        self.fairseq_ids = config["fairseq_ids"]
        if config["backend"] == "tokenizers":
            from tokenizers import Tokenizer

            self.hf = Tokenizer.from_file(str(folder / config["file"]))
            self.hf.no_truncation()
            self.hf.no_padding()
        else:
            import sentencepiece

            self.hf = None
            self.sp = sentencepiece.SentencePieceProcessor(
                model_proto=(folder / config["file"]).read_bytes()
            )

    def of(self, sentences):
        """`[sentence][word] -> list of piece ids`."""
        kept = [[i for i, w in enumerate(ws) if w.strip()] for ws in sentences]
        out = [[[] for _ in ws] for ws in sentences]
        texts = [[ws[i] for i in k] for ws, k in zip(sentences, kept, strict=True)]
        if self.hf is None:
            flat = [w for ws in texts for w in ws]
            pieces = iter(self.sp.encode(flat, out_type=int) if flat else [])
            unk = self.sp.unk_id()
            for row, k in zip(out, kept, strict=True):
                for i in k:
                    ids = next(pieces)
                    # fairseq's layout (XLM-RoBERTa): four specials first.
                    row[i] = (
                        [3 if p == unk else p + 1 for p in ids]
                        if (self.fairseq_ids)
                        else list(ids)
                    )
            return out
        if self.byte_level:
            texts = [[" " + w for w in ws] for ws in texts]
        rows = [j for j, ws in enumerate(texts) if ws]
        encodings = (
            self.hf.encode_batch(
                [texts[j] for j in rows], is_pretokenized=True, add_special_tokens=False
            )
            if rows
            else []
        )
        for j, encoding in zip(rows, encodings, strict=True):
            for piece, w in zip(encoding.ids, encoding.word_ids, strict=True):
                out[j][kept[j][w]].append(piece)
        return out


class WindowPieces:
    """The pieces of a window of words: `ids`, `word_index` (each piece's word)
    and `starts` (the position of each word's first piece, words without
    pieces left out)."""

    def __init__(self, per_word):
        self.ids = np.array([p for pieces in per_word for p in pieces], "int32")
        self.word_index = np.array(
            [w for w, pieces in enumerate(per_word) for _ in pieces], "int64"
        )
        sizes = np.array([len(p) for p in per_word], "int64")
        self.starts = (np.cumsum(sizes) - sizes)[sizes > 0]


def word_windows(counts, budget):
    """`(start, end exclusive)` word windows of at most `budget` pieces, filled in order."""
    if sum(counts) <= budget:
        return [(0, len(counts))]
    out, start = [], 0
    while start < len(counts):
        end, total = start, 0
        while end < len(counts) and total + counts[end] <= budget:
            total += counts[end]
            end += 1
        out.append((start, end))
        start = end
    return out


def bio_spans(tags):
    """`(type, start, end)` of BIO tag ids (0 = O, 1 + 2t = B-t, 2 + 2t = I-t), as conlleval reads them."""
    spans, current = [], None
    for i, tag in enumerate(int(t) for t in tags):
        kind, inside = (tag - 1) // 2, tag > 0 and (tag - 1) % 2 == 1
        if current and (tag == 0 or not inside or kind != current[0]):
            spans.append(tuple(current))
            current = None
        if tag and current is None:
            current = [kind, i, i]
        elif current:
            current[2] = i
    if current:
        spans.append(tuple(current))
    return spans


def viterbi(emissions, settings):
    """The best tag path of one sentence under the CRF's transitions and constraints."""
    if not len(emissions):
        return np.zeros((0,), "int64")
    blocked = -1e12
    trans = np.where(settings["allowed_transitions"], settings["transitions"], blocked)
    delta = np.where(settings["start_tags"], emissions[0], blocked)
    backs = []
    for t in range(1, len(emissions)):
        scores = delta[:, None] + trans
        backs.append(scores.argmax(axis=0))
        delta = scores.max(axis=0) + emissions[t]
    path = [int(np.where(settings["end_tags"], delta, blocked).argmax())]
    for back in reversed(backs):
        path.append(int(back[path[-1]]))
    return np.array(path[::-1])


if __name__ == "__main__":
    tagger = Tagger(sys.argv[1])
    for text in sys.argv[2:]:
        print(json.dumps(tagger.entities(text), ensure_ascii=False))
