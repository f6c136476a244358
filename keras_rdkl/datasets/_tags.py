"""Tag schemes (BIO/IOB2, BIOES/IOBES, BMES) to entity spans, end inclusive."""

SCHEMES = {
    "bio": ("B", "I"),
    "iob2": ("B", "I"),
    "bioes": ("B", "I", "E", "S"),
    "iobes": ("B", "I", "E", "S"),
    "bmes": ("B", "M", "E", "S"),
}


def check_scheme(scheme):
    """Returns the lower-cased scheme name, or raises ValueError."""
    key = scheme.lower() if isinstance(scheme, str) else scheme
    if key not in SCHEMES:
        raise ValueError(
            f"`scheme` must be one of {sorted(SCHEMES)}. Received: scheme={scheme!r}"
        )
    return key


def parse_tag(tag, scheme):
    """Splits `"B-PER"` into `("B", "PER")`; `"O"` gives `("O", None)`.

    Raises ValueError (without location; callers add file and line) when the
    tag does not belong to `scheme`.
    """
    if tag == "O":
        return "O", None
    prefix, sep, label = tag.partition("-")
    if not sep or not label or prefix not in SCHEMES[scheme]:
        allowed = ", ".join(f"{p}-TYPE" for p in SCHEMES[scheme])
        raise ValueError(
            f"tag {tag!r} is not valid in scheme {scheme!r} (allowed: O, {allowed})"
        )
    return prefix, label


def tags_to_spans(tags, scheme="bio", strict=False, where=None):
    """Decodes one sentence of tags into `(type, start, end)` spans.

    Args:
        tags: Sequence of tag strings such as `"B-PER"`, `"I-PER"`, `"O"`.
        scheme: One of `"bio"` (alias `"iob2"`), `"bioes"` (alias
            `"iobes"`) or `"bmes"`.
        strict: When False (default, as `conlleval` does), an inside/end tag
            that does not continue an open span of its type starts a new span,
            and an unclosed BIOES/BMES span ends at its last token. When True,
            both raise ValueError.
        where: Optional list, one location string per tag (e.g.
            `"file.conll:12"`), used in error messages.

    Returns:
        Sorted list of `(type, start, end)` tuples, `end` inclusive.
    """
    scheme = check_scheme(scheme)
    closing = len(SCHEMES[scheme]) == 4  # schemes with explicit E/S tags
    spans = []
    open_type, open_start = None, None

    def fail(i, msg):
        i = min(i, len(tags) - 1)
        loc = where[i] if where is not None else f"tag {i}"
        raise ValueError(f"{loc}: {msg}")

    def close(i):
        nonlocal open_type, open_start
        if open_type is not None:
            if strict and closing:
                fail(i, f"span {open_type!r} opened with B- is not closed by E-")
            spans.append((open_type, open_start, i - 1))
        open_type, open_start = None, None

    for i, tag in enumerate(tags):
        try:
            prefix, label = parse_tag(tag, scheme)
        except ValueError as e:
            fail(i, str(e))
        if prefix == "O":
            close(i)
        elif prefix == "B":
            close(i)
            open_type, open_start = label, i
        elif prefix in ("I", "M"):
            if open_type != label:
                if strict:
                    fail(i, f"tag {tag!r} does not continue a span of type {label!r}")
                close(i)
                open_type, open_start = label, i
        elif prefix == "E":
            if open_type != label:
                if strict:
                    fail(i, f"tag {tag!r} does not close a span of type {label!r}")
                close(i)
                open_start = i
            spans.append((label, open_start, i))
            open_type, open_start = None, None
        else:  # "S"
            close(i)
            spans.append((label, i, i))
    close(len(tags))
    return sorted(set(spans), key=span_key)


def span_key(span):
    """Sort key: by start, then end, then type."""
    t, s, e = span
    return (s, e, t)
