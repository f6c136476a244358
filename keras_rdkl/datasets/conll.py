"""CoNLL-style column files: one token per line, blank lines between sentences."""

import pathlib

from keras_rdkl.datasets._io import ReadStats
from keras_rdkl.datasets._io import read_lines
from keras_rdkl.datasets.tags import _read_tags
from keras_rdkl.datasets.tags import check_scheme


def _check_column(value, name):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")


def read_conll(
    path,
    scheme="bio",
    token_column=0,
    tag_column=-1,
    delimiter=None,
    strict=False,
    docstart="-DOCSTART-",
    encoding="utf-8",
    return_stats=False,
):
    """Reads a CoNLL-style column file into `(tokens, spans)` examples.

    One token per line with its tag in another column; a blank line ends a
    sentence; lines whose first column is `docstart` are skipped. English
    files are word level, Chinese ones usually character level: either way
    spans index tokens (lines). Every token line must have as many columns as
    the first one. A UTF-8 byte-order mark and Windows (CRLF) line endings are
    accepted; whitespace at the end of a line is ignored.

    Ill-formed tag sequences (an `I-X` after `O` or after `B-Y`, a BIOES
    `B-X` never closed by `E-X`) are read as the CoNLL script `conlleval`
    reads them (see `keras_rdkl.datasets.tags`) and counted in the stats, or
    rejected with `strict=True`.

    Args:
        path: The file to read.
        scheme: Tag scheme: `"bio"` (alias `"iob2"`), `"bioes"` (alias
            `"iobes"`) or `"bmes"`, case-insensitive.
        token_column: Index of the token column (negative counts from the
            end). Default: the first column.
        tag_column: Index of the tag column. Default: the last column.
        delimiter: Column separator. `None` (default) splits on tabs when the
            line has one, else on runs of whitespace.
        strict: Raise on ill-formed tag sequences instead of repairing them.
        docstart: First-column value of document-start lines to skip, or
            `None`.
        encoding: Text encoding of the file.
        return_stats: Also return a dict of counts.

    Returns:
        `(examples, labels)`, or `(examples, labels, stats)` when
        `return_stats=True`. `examples` is a list of `(tokens, spans)` with
        `tokens` a list of strings and `spans` a sorted list of
        `(type, start, end)` tuples (end inclusive, token positions);
        `labels` is the sorted list of entity types seen. `stats` has
        `"sentences"`, `"tokens"`, `"entities"`, `"repaired_sequences"`
        (sentences with at least one ill-formed tag), `"repaired_tags"`
        (tags that differ from the well-formed sequence with the same
        entities) and `"repaired_at"` (the `"file:line"` of the first
        20 repaired tags).

    Raises:
        ValueError: On a bad argument, or a malformed file: bytes that are not
            valid in `encoding`, a line with another number of columns than
            the first, a tag that is not `O` or `<prefix>-<type>` of the
            scheme, an ill-formed sequence with `strict=True`. The message
            starts with `<file>:<line>:`.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.conll"
    >>> _ = path.write_text("EU B-ORG\\nrejects O\\n\\nPeter I-PER\\nBlackburn I-PER\\n")
    >>> examples, labels, stats = read_conll(path, return_stats=True)
    >>> examples
    [(['EU', 'rejects'], [('ORG', 0, 0)]), (['Peter', 'Blackburn'], [('PER', 0, 1)])]
    >>> labels
    ['ORG', 'PER']
    >>> stats["repaired_sequences"], stats["repaired_tags"]
    (1, 1)
    """
    scheme = check_scheme(scheme)
    _check_column(token_column, "token_column")
    _check_column(tag_column, "tag_column")
    if delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
        raise ValueError(
            "`delimiter` must be None or a non-empty string. "
            f"Received: delimiter={delimiter!r}"
        )
    path = pathlib.Path(path)
    examples, labels = [], set()
    stats = ReadStats()
    tokens, tags, where = [], [], []
    num_columns = None

    def flush():
        if tokens:
            spans, repaired = _read_tags(tags, scheme, strict, where)
            labels.update(t for t, _, _ in spans)
            examples.append((list(tokens), spans))
            stats.add(len(tokens), len(spans), repaired)
        tokens.clear()
        tags.clear()
        where.clear()

    for lineno, line in read_lines(path, encoding):
        line = line.rstrip(" \t")
        if not line.strip():
            flush()
            continue
        if delimiter is not None:
            cols = line.split(delimiter)
        elif "\t" in line:
            cols = line.split("\t")
        else:
            cols = line.split()
        if docstart is not None and cols[0] == docstart:
            flush()
            continue
        if num_columns is None:
            num_columns = len(cols)
            if num_columns < 2:
                raise ValueError(
                    f"{path}:{lineno}: expected a token and a tag column, found "
                    f"{num_columns} column: {line!r}"
                )
            for name, value in (
                ("token_column", token_column),
                ("tag_column", tag_column),
            ):
                if -num_columns <= value < num_columns:
                    continue
                raise ValueError(
                    f"{path}:{lineno}: `{name}`={value} is out of range for the "
                    f"file's {num_columns} columns (allowed: {-num_columns} to "
                    f"{num_columns - 1})"
                )
            if token_column % num_columns == tag_column % num_columns:
                raise ValueError(
                    f"{path}:{lineno}: `token_column`={token_column} and "
                    f"`tag_column`={tag_column} name the same one of the file's "
                    f"{num_columns} columns"
                )
        elif len(cols) != num_columns:
            raise ValueError(
                f"{path}:{lineno}: found {len(cols)} column(s) where the file's first "
                f"token line has {num_columns}: {line!r}"
            )
        tokens.append(cols[token_column])
        tags.append(cols[tag_column].strip())
        where.append(f"{path}:{lineno}")
    flush()
    examples_labels = (examples, sorted(labels))
    if return_stats:
        return examples_labels + (stats.counts,)
    return examples_labels
