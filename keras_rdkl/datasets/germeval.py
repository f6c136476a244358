"""GermEval 2014: German NER with two tag levels (outer and embedded entities)."""

import pathlib

from keras_rdkl.datasets._io import ReadStats
from keras_rdkl.datasets._io import read_lines
from keras_rdkl.datasets._paths import check_split
from keras_rdkl.datasets._paths import resolve_file
from keras_rdkl.datasets.tags import _read_tags
from keras_rdkl.datasets.tags import _span_key

_BASE_TYPES = ("LOC", "ORG", "OTH", "PER")
GERMEVAL_LABELS = sorted(t + s for t in _BASE_TYPES for s in ("", "deriv", "part"))
_SUBTYPES = ("keep", "fold", "drop")
_FOLDER = "germeval2014_nested_ner"
_BASE_URL = (
    "https://raw.githubusercontent.com/UKPLab/deeplearning4nlp-tutorial/"
    "2a36ecc39f13b683752483546441468fd7d734b3/2015-10_Lecture/Lecture3/code/data/"
)
_FILES = {
    "train": "NER-de-train.tsv",
    "dev": "NER-de-dev.tsv",
    "test": "NER-de-test.tsv",
}
_SHA256 = {
    "NER-de-dev.tsv": "d69d1347847e3ac0d1bfd14d7e5c0713dcb82899624301ced6df807dbb070056",
    "NER-de-test.tsv": "9405e49532379f3aee048851d116b35823d31c04e9521b87a9c4e6572c269097",
}


def _base_type(label):
    for suffix in ("deriv", "part"):
        if label.endswith(suffix) and len(label) > len(suffix):
            return label[: -len(suffix)], True
    return label, False


def read_germeval_tsv(
    path,
    nested=True,
    subtypes="keep",
    strict=False,
    encoding="utf-8",
    return_stats=False,
):
    """Reads a GermEval 2014 TSV file into `(tokens, spans)` examples.

    Each sentence starts with a `#` comment line and ends with a blank line;
    token lines hold `index, token, outer BIO tag, embedded BIO tag`. The
    outer and embedded entities are merged into one span set, so nested
    spans (`[ORG FC Kickers [LOC Darmstadt]]`) are both kept. A UTF-8
    byte-order mark and CRLF line endings are accepted. Ill-formed BIO
    sequences are read as `conlleval` reads them and counted in the stats.

    Args:
        path: The file to read.
        nested: Include the embedded (column 4) entities. With False only the
            outer level is read.
        subtypes: What to do with the `*deriv` / `*part` types such as
            `PERderiv` or `LOCpart`: `"keep"` them as their own types (12
            types, the official scoring), `"fold"` them into their base type
            (4 types), or `"drop"` those spans.
        strict: Raise on an `I-` tag that continues no span instead of
            starting a new span there.
        encoding: Text encoding of the file.
        return_stats: Also return the dict of counts `read_conll` returns
            (repairs counted over both tag levels; `"entities"` counts the
            spans kept).

    Returns:
        `(examples, labels)`, or `(examples, labels, stats)` with
        `return_stats=True`: `examples` is a list of `(tokens, spans)` with
        word tokens and sorted `(type, start, end)` spans (end inclusive);
        `labels` is the sorted list of entity types seen.

    Raises:
        ValueError: On a bad argument or a malformed file: bytes that are not
            valid in `encoding`, a line without 4 tab-separated columns, a
            bad tag. The message starts with `<file>:<line>:`.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "NER-de-dev.tsv"
    >>> _ = path.write_text(
    ...     "#\\tsource\\n1\\tFC\\tB-ORG\\tO\\n2\\tDarmstadt\\tI-ORG\\tB-LOC\\n\\n",
    ...     encoding="utf-8",
    ... )
    >>> examples, labels = read_germeval_tsv(path)
    >>> examples
    [(['FC', 'Darmstadt'], [('ORG', 0, 1), ('LOC', 1, 1)])]
    """
    if subtypes not in _SUBTYPES:
        raise ValueError(
            f"`subtypes` must be one of {list(_SUBTYPES)}. Received: subtypes={subtypes!r}"
        )
    path = pathlib.Path(path)
    examples, labels = [], set()
    stats = ReadStats()
    tokens, outer, inner, where = [], [], [], []

    def flush():
        if tokens:
            outer_spans, repaired = _read_tags(outer, "bio", strict, where)
            spans = set(outer_spans)
            if nested:
                inner_spans, inner_repaired = _read_tags(inner, "bio", strict, where)
                spans.update(inner_spans)
                repaired = repaired + inner_repaired
            kept = set()
            for t, s, e in spans:
                base, is_sub = _base_type(t)
                if is_sub and subtypes == "drop":
                    continue
                kept.add((base if subtypes == "fold" else t, s, e))
            labels.update(t for t, _, _ in kept)
            examples.append((list(tokens), sorted(kept, key=_span_key)))
            stats.add(len(tokens), len(kept), repaired)
        for buf in (tokens, outer, inner, where):
            buf.clear()

    for lineno, line in read_lines(path, encoding):
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):
            flush()
            continue
        cols = line.rstrip(" \t").split("\t")
        if len(cols) != 4 or not cols[0].strip().isdigit():
            raise ValueError(
                f"{path}:{lineno}: expected 4 tab-separated columns "
                f"(index, token, outer tag, embedded tag); got {line!r}"
            )
        tokens.append(cols[1])
        outer.append(cols[2].strip())
        inner.append(cols[3].strip())
        where.append(f"{path}:{lineno}")
    flush()
    if return_stats:
        return examples, sorted(labels), stats.counts
    return examples, sorted(labels)


def load_germeval(split="train", path=None, nested=True, subtypes="keep"):
    """Loads a split of GermEval 2014 NER (German, two-level nested).

    Files are searched as in `load_cluener` (folder `germeval2014_nested_ner`)
    and otherwise downloaded from the UKPLab tutorial repository that
    redistributes them. This project's own data folder has no train split
    (train on `"dev"` and evaluate on `"test"` offline); `"train"` downloads
    `NER-de-train.tsv` (24,000 sentences) when it is not found locally.

    Args:
        split: `"train"` (the default, as for every loader; 24,000
            sentences), `"dev"` (2,200) or `"test"` (5,100).
        path: Optional file or folder to read instead of searching.
        nested: Include embedded entities (see `read_germeval_tsv`).
        subtypes: `"keep"`, `"fold"` or `"drop"` for `*deriv`/`*part` types.

    Returns:
        `(examples, labels)` as in `read_germeval_tsv`, with `labels` the full
        type list of the corpus (12 types, or 4 when folded or dropped).

    References:
        - Benikova, Biemann, Reznicek, "NoSta-D Named Entity Annotation for
          German: Guidelines and Dataset", LREC 2014.
    """
    check_split(split, tuple(_FILES))
    fname = _FILES[split]
    local = resolve_file(
        _FOLDER,
        fname,
        path=path,
        origin=_BASE_URL + fname,
        file_hash=_SHA256.get(fname),
    )
    examples, _ = read_germeval_tsv(local, nested=nested, subtypes=subtypes)
    labels = list(GERMEVAL_LABELS) if subtypes == "keep" else list(_BASE_TYPES)
    return examples, labels
