"""CoNLL-style column files: one token per line, blank lines between sentences."""

import pathlib

from keras_rdkl.datasets._tags import check_scheme
from keras_rdkl.datasets._tags import tags_to_spans


def read_conll(
    path,
    scheme="bio",
    token_column=0,
    tag_column=-1,
    delimiter=None,
    strict=False,
    docstart="-DOCSTART-",
    encoding="utf-8",
):
    """Reads a CoNLL-style column file into `(tokens, spans)` examples.

    One token per line with its tag in one of the columns; a blank line ends
    a sentence; lines whose token is `docstart` (and the blank line after
    them) are skipped. English files are word level, Chinese ones usually
    character level: either way spans index tokens (lines).

    Args:
        path: The file to read.
        scheme: Tag scheme: `"bio"` (alias `"iob2"`), `"bioes"` (alias
            `"iobes"`) or `"bmes"`.
        token_column: Index of the token column (negative counts from the end).
        tag_column: Index of the tag column; default the last one.
        delimiter: Column separator. `None` (default) splits on tabs when the
            line has one, else on any whitespace.
        strict: Raise on tag sequences the scheme forbids (an `I-` that
            continues nothing, an unclosed BIOES span) instead of repairing
            them as `conlleval` does.
        docstart: Token that marks a document-start line to skip, or `None`.
        encoding: Text encoding of the file.

    Returns:
        `(examples, labels)`: `examples` is a list of `(tokens, spans)` with
        `tokens` a list of strings and `spans` a sorted list of
        `(type, start, end)` tuples (end inclusive, token positions);
        `labels` is the sorted list of entity types seen.

    Raises:
        ValueError: On a bad argument, or a malformed line (the message names
            the file and the 1-based line number).

    Example:

    >>> examples, labels = read_conll("wnut17train.conll")  # doctest: +SKIP
    >>> examples[0][1]  # doctest: +SKIP
    [('location', 14, 16), ('location', 18, 18)]
    """
    scheme = check_scheme(scheme)
    for name, value in (("token_column", token_column), ("tag_column", tag_column)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    path = pathlib.Path(path)
    examples, labels = [], set()
    tokens, tags, where = [], [], []

    def flush():
        if tokens:
            spans = tags_to_spans(tags, scheme, strict=strict, where=where)
            labels.update(t for t, _, _ in spans)
            examples.append((list(tokens), spans))
        tokens.clear()
        tags.clear()
        where.clear()

    with open(path, encoding=encoding) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                flush()
                continue
            if delimiter is not None:
                cols = line.split(delimiter)
            elif "\t" in line:
                cols = line.split("\t")
            else:
                cols = line.split()
            try:
                token, tag = cols[token_column], cols[tag_column]
            except IndexError:
                token = tag = None
            if len(cols) < 2 or token is None:
                raise ValueError(
                    f"{path}:{lineno}: expected a token column {token_column} and a "
                    f"tag column {tag_column}, found {len(cols)} column(s): {line!r}"
                )
            if docstart is not None and token == docstart:
                flush()
                continue
            tokens.append(token)
            tags.append(tag.strip())
            where.append(f"{path}:{lineno}")
    flush()
    return examples, sorted(labels)
