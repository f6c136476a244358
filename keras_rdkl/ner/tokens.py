"""Raw text to tokens with character offsets, as the taggers and gazetteers split it."""

import re

__all__ = ["tokenize"]

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text, level="char"):
    """Tokens of raw text and their character offsets `(start, end)` (end exclusive).

    `"char"`: every non-space character is a token (Chinese). `"word"`: runs
    of letters / digits (with inner `-`, `'`, `.`) and single punctuation
    marks.

    Example:

    >>> tokenize("Hi, Bob!", level="word")
    (['Hi', ',', 'Bob', '!'], [(0, 2), (2, 3), (4, 7), (7, 8)])
    """
    if level == "char":
        pairs = [(c, (i, i + 1)) for i, c in enumerate(text) if not c.isspace()]
    elif level == "word":
        pairs = [(m.group(), m.span()) for m in _WORD.finditer(text)]
    else:
        raise ValueError(f"`level` must be 'char' or 'word'. Received: level={level!r}")
    return [p[0] for p in pairs], [p[1] for p in pairs]
