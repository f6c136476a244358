"""Raw text -> entities from an exported tagger, without keras-rdkl or Keras.

Reads a folder written by `keras_rdkl.ner.export_tagger` (or `python -m
keras_rdkl.ner.serving`): the artifact (`model.onnx` or `saved_model/`) and
`serving.json` (vocabulary, type names, input and output names). Needs NumPy
and onnxruntime (ONNX) or TensorFlow (SavedModel) only; copy this file next to
your server.

    python examples/serve_tagger.py runs/demo/serving-onnx "我在北京大学读书"

Gives the entities `keras_rdkl.ner.predict_entities` gives for the same text
(each sentence in one window): dicts of `type`, `start`, `end` (character
offsets, end exclusive), `text` and `score`.
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
        vocab = self.settings["vocabulary"]
        self.labels = self.settings["labels"]
        self.level = vocab["level"]
        self.lowercase = vocab["lowercase"]
        self.token_ids = {t: i for i, t in enumerate(vocab["tokens"])}
        self.unk = self.token_ids.get(vocab["unk_token"] or "[UNK]", 1)
        self.char_ids = vocab["chars"] and {c: i for i, c in enumerate(vocab["chars"])}
        self.bigram_ids = vocab["bigrams"] and {
            b: i for i, b in enumerate(vocab["bigrams"])
        }
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
        return out

    def _batch(self, token_lists):
        length = max(1, max(len(t) for t in token_lists))
        features = [self._features(t) for t in token_lists]  # once per sentence
        feed = {}
        for name in self.settings["inputs"]:
            rows = [f[name] for f in features]
            shape = (len(rows), length) + (
                (self.settings["max_chars"],) if name == "char_ids" else ()
            )
            x = np.zeros(shape, "int32")
            for i, row in enumerate(rows):
                if len(row):
                    x[i, : len(row)] = row
            feed[name] = x
        return feed

    def spans(self, token_lists):
        """`(type id, start token, end token inclusive, score)` per sentence, by position."""
        out = self._run(self._batch(token_lists))
        head = self.settings["head"]
        result = []
        for i, tokens in enumerate(token_lists):
            if head == "spans":
                n = int(out["count"][i])
                spans = [
                    (int(t), int(s), int(e), float(v))
                    for t, s, e, v in zip(
                        out["types"][i][:n],
                        out["starts"][i][:n],
                        out["ends"][i][:n],
                        out["scores"][i][:n],
                        strict=True,
                    )
                ]
            else:
                if head == "crf":
                    tags = out["tags"][i][: len(tokens)]
                    scores = out["tag_scores"][i][: len(tokens)]
                else:  # "crf_emissions": decode here
                    emissions = out["emissions"][i][: len(tokens)]
                    tags = viterbi(emissions, self.settings)
                    scores = emissions[np.arange(len(tags)), tags]
                spans = [
                    (t, s, e, float(np.sum(scores[s : e + 1], dtype="float32")))
                    for t, s, e in bio_spans(tags)
                ]
            result.append(sorted(spans, key=lambda x: (x[1], x[2], x[0])))
        return result

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
