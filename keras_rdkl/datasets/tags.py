"""Tag schemes for sequence labelling: tags to entity spans and back.

A span is a `(type, start, end)` tuple over token positions with `end`
inclusive, the form every reader of `keras_rdkl.datasets` returns and
`keras_rdkl.spans` encodes for GlobalPointer heads. The schemes:

| scheme (alias) | single-token entity | longer entity |
|---|---|---|
| `"bio"` (`"iob2"`) | `B-X` | `B-X I-X ... I-X` |
| `"iob1"` | `I-X` | `I-X I-X ... I-X` |
| `"bioes"` (`"iobes"`) | `S-X` | `B-X I-X ... E-X` |
| `"bmes"` | `S-X` | `B-X M-X ... E-X` |

IOB1 (the original CoNLL-2003 files) writes `B-X` only on the first token of
an entity that directly follows another entity of type `X`.

Every scheme uses `O` outside entities. Ill-formed sequences (an `I-X` after
`O`, a `B-X` never closed by `E-X` in BIOES) are read the way the CoNLL
evaluation script `conlleval` reads them: an inside or end tag that does not
continue an open entity of its type starts a new one, and an entity that is
not closed ends at its last token. `repair_tags` returns the well-formed
sequence with the same entities and the number of tags it changed.
"""

SCHEMES = ("bio", "bioes", "bmes", "iob1", "iob2", "iobes")

_PREFIXES = {
    "bio": ("B", "I"),
    "iob1": ("B", "I"),
    "iob2": ("B", "I"),
    "bioes": ("B", "I", "E", "S"),
    "iobes": ("B", "I", "E", "S"),
    "bmes": ("B", "M", "E", "S"),
}

__all__ = [
    "SCHEMES",
    "check_scheme",
    "repair_tags",
    "spans_to_tags",
    "tag_vocabulary",
    "tags_to_spans",
]


def check_scheme(scheme):
    """Returns the lower-cased name of a tag scheme, or raises ValueError.

    Args:
        scheme: A scheme name, case-insensitive: one of `SCHEMES`
            (`"bio"`, `"bioes"`, `"bmes"`, `"iob1"` and the aliases `"iob2"`
            of `"bio"`, `"iobes"` of `"bioes"`).

    Returns:
        The lower-cased name.

    Example:

    >>> check_scheme("BIOES")
    'bioes'
    """
    key = scheme.lower() if isinstance(scheme, str) else scheme
    if key not in _PREFIXES:
        raise ValueError(
            f"`scheme` must be one of {list(SCHEMES)} (case-insensitive). "
            f"Received: scheme={scheme!r}"
        )
    return key


def _parse_tag(tag, scheme):
    """Splits `"B-PER"` into `("B", "PER")`; `"O"` gives `("O", None)`.

    Raises ValueError without a location (callers add file and line).
    """
    if tag == "O":
        return "O", None
    prefix, sep, label = tag.partition("-") if isinstance(tag, str) else ("", "", "")
    if not sep or not label or prefix not in _PREFIXES[scheme]:
        allowed = ", ".join(f"{p}-TYPE" for p in _PREFIXES[scheme])
        raise ValueError(
            f"tag {tag!r} is not valid in scheme {scheme!r} (allowed: O, {allowed})"
        )
    return prefix, label


def _where(where, i, n):
    i = min(i, n - 1)
    return where[i] if where is not None else f"tag {i}"


def _decode(tags, scheme, where=None):
    """Spans read from `tags` as conlleval reads them; tags parsed strictly."""
    spans = []
    open_type, open_start = None, None

    def close(i):
        nonlocal open_type, open_start
        if open_type is not None:
            spans.append((open_type, open_start, i - 1))
        open_type, open_start = None, None

    for i, tag in enumerate(tags):
        try:
            prefix, label = _parse_tag(tag, scheme)
        except ValueError as e:
            raise ValueError(f"{_where(where, i, len(tags))}: {e}") from None
        if prefix == "O":
            close(i)
        elif prefix == "B":
            close(i)
            open_type, open_start = label, i
        elif prefix in ("I", "M"):
            if open_type != label:
                close(i)
                open_type, open_start = label, i
        elif prefix == "E":
            if open_type != label:
                close(i)
                open_start = i
            spans.append((label, open_start, i))
            open_type, open_start = None, None
        else:  # "S"
            close(i)
            spans.append((label, i, i))
    close(len(tags))
    return sorted(spans, key=_span_key)


def _read_tags(tags, scheme, strict, where):
    """Spans of one sentence and the locations of the tags repaired to read them.

    With `strict=True` an ill-formed sequence raises, so nothing is repaired.
    """
    if strict:
        return tags_to_spans(tags, scheme, strict=True, where=where), []
    spans = _decode(tags, scheme, where)
    fixed = spans_to_tags(spans, len(tags), scheme)
    return spans, [w for t, f, w in zip(tags, fixed, where, strict=True) if t != f]


def _span_key(span):
    """Sort key of spans: by start, then end, then type."""
    t, s, e = span
    return (s, e, t)


def tags_to_spans(tags, scheme="bio", strict=False, where=None):
    """Decodes one sentence of tags into `(type, start, end)` spans.

    Args:
        tags: Sequence of tag strings such as `"B-PER"`, `"I-PER"`, `"O"`.
        scheme: One of `SCHEMES`: `"bio"` (alias `"iob2"`), `"bioes"`
            (alias `"iobes"`), `"bmes"` or `"iob1"`.
        strict: When False (default), ill-formed sequences are read as
            `conlleval` reads them: an inside or end tag that does not
            continue an open entity of its type starts a new entity, and an
            entity left open ends at its last token. When True, the first
            ill-formed tag raises ValueError.
        where: Optional list with one location string per tag (such as
            `"train.conll:12"`), used at the start of error messages.

    Returns:
        Sorted list of `(type, start, end)` tuples, `end` inclusive, sorted
        by start, then end, then type.

    Raises:
        ValueError: On an unknown scheme, a tag that is not `O` or
            `<prefix>-<type>` with a prefix of the scheme, or (with
            `strict=True`) an ill-formed sequence; the message starts with the
            tag's location.

    Example:

    >>> tags_to_spans(["B-PER", "I-PER", "O", "B-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    >>> tags_to_spans(["O", "I-PER", "I-PER"])  # repaired as conlleval does
    [('PER', 1, 2)]
    >>> tags_to_spans(["S-LOC", "B-ORG", "I-ORG", "E-ORG"], scheme="bioes")
    [('LOC', 0, 0), ('ORG', 1, 3)]
    """
    scheme = check_scheme(scheme)
    tags = list(tags)
    if where is not None and len(where) != len(tags):
        raise ValueError(
            "`where` must hold one location per tag. Received: "
            f"len(where)={len(where)} for {len(tags)} tags"
        )
    spans = _decode(tags, scheme, where)
    if strict:
        fixed = spans_to_tags(spans, len(tags), scheme)
        for i, (old, new) in enumerate(zip(tags, fixed, strict=True)):
            if old != new:
                previous = repr(tags[i - 1]) if i else "the sentence start"
                raise ValueError(
                    f"{_where(where, i, len(tags))}: tag {old!r} after {previous} is "
                    f"ill-formed in scheme {scheme!r} (a well-formed sequence with "
                    f"the same entities has {new!r} here)"
                )
    return spans


def spans_to_tags(spans, length, scheme="bio"):
    """Encodes `(type, start, end)` spans as one tag per token.

    Args:
        spans: Iterable of `(type, start, end)` tuples, `end` inclusive, with
            `0 <= start <= end < length`. Spans must not overlap: a tag
            sequence holds one entity per token (nested corpora such as
            GermEval need one sequence per level).
        length: Number of tokens.
        scheme: One of `SCHEMES`.

    Returns:
        A list of `length` tags; `tags_to_spans(spans_to_tags(spans, n, s),
        s)` gives the sorted spans back. In IOB1 an entity starts with `B-X`
        only when the token before it ends another `X` entity.

    Raises:
        ValueError: On an unknown scheme, a malformed span, a span outside
            `[0, length)` or two overlapping spans.

    Example:

    >>> spans_to_tags([("PER", 0, 1), ("LOC", 3, 3)], 5)
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'O']
    >>> spans_to_tags([("PER", 0, 1), ("LOC", 3, 3)], 5, scheme="bioes")
    ['B-PER', 'E-PER', 'O', 'S-LOC', 'O']
    >>> spans_to_tags([("name", 0, 2)], 3, scheme="bmes")
    ['B-name', 'M-name', 'E-name']
    """
    scheme = check_scheme(scheme)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(
            f"`length` must be an integer >= 0. Received: length={length!r}"
        )
    prefixes = _PREFIXES[scheme]
    inside = prefixes[1]
    single = "S" if len(prefixes) == 4 else "B"
    last = "E" if len(prefixes) == 4 else inside
    tags = ["O"] * length
    owner = [None] * length
    spans = list(spans)
    for span in spans:
        ok = isinstance(span, (tuple, list)) and len(span) == 3
        if ok:
            etype, start, end = span
            ok = (
                isinstance(etype, str)
                and etype != ""
                and all(
                    isinstance(p, int) and not isinstance(p, bool) for p in (start, end)
                )
            )
        if not ok:
            raise ValueError(
                "`spans` must hold (type, start, end) tuples with a non-empty string "
                f"type and integer positions. Received: {span!r}"
            )
        if not 0 <= start <= end < length:
            raise ValueError(
                f"span {tuple(span)!r} must have 0 <= start <= end < length={length}"
            )
        for i in range(start, end + 1):
            if owner[i] is not None:
                raise ValueError(
                    f"spans {owner[i]!r} and {tuple(span)!r} overlap at token {i}: "
                    "a tag sequence holds one entity per token"
                )
            owner[i] = tuple(span)
        if start == end:
            tags[start] = f"{single}-{etype}"
            continue
        tags[start] = f"B-{etype}"
        for i in range(start + 1, end):
            tags[i] = f"{inside}-{etype}"
        tags[end] = f"{last}-{etype}"
    if scheme == "iob1":
        for etype, start, end in spans:
            before = owner[start - 1] if start > 0 else None
            first = "B" if before is not None and before[0] == etype else "I"
            tags[start] = f"{first}-{etype}"
            for i in range(start + 1, end + 1):
                tags[i] = f"I-{etype}"
    return tags


def repair_tags(tags, scheme="bio"):
    """Returns a well-formed tag sequence with the entities conlleval reads.

    Args:
        tags: Sequence of tag strings.
        scheme: One of `SCHEMES`.

    Returns:
        `(repaired, changed)`: the list of well-formed tags (the form a
        constrained CRF needs) and the number of tags that differ from the
        input. `changed == 0` when the input was well-formed.

    Example:

    >>> repair_tags(["O", "I-PER", "I-PER"])
    (['O', 'B-PER', 'I-PER'], 1)
    >>> repair_tags(["B-ORG", "I-ORG", "O"], scheme="bioes")
    (['B-ORG', 'E-ORG', 'O'], 1)
    """
    scheme = check_scheme(scheme)
    tags = list(tags)
    fixed = spans_to_tags(_decode(tags, scheme), len(tags), scheme)
    changed = sum(a != b for a, b in zip(tags, fixed, strict=True))
    return fixed, changed


def tag_vocabulary(labels, scheme="bio"):
    """All tags of `scheme` over entity types `labels`, `"O"` first.

    Args:
        labels: Iterable of entity type names.
        scheme: One of `SCHEMES`.

    Returns:
        A list: `"O"`, then for each type in the given order its tags in the
        order of the scheme's prefixes (`B, I` / `B, I, E, S` / `B, M, E, S`).

    Example:

    >>> tag_vocabulary(["LOC", "PER"])
    ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """
    scheme = check_scheme(scheme)
    labels = list(labels)
    for label in labels:
        if not isinstance(label, str) or not label:
            raise ValueError(
                f"`labels` must hold non-empty strings. Received: {label!r}"
            )
    if len(set(labels)) != len(labels):
        raise ValueError(f"`labels` must not repeat a type. Received: {labels!r}")
    return ["O"] + [f"{p}-{label}" for label in labels for p in _PREFIXES[scheme]]
