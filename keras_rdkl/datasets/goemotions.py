"""GoEmotions: English Reddit comments with 28 emotion labels (multi-label)."""

import csv
import io
import pathlib

from keras_rdkl.datasets._io import read_text
from keras_rdkl.datasets._paths import check_split
from keras_rdkl.datasets._paths import resolve_file

GOEMOTIONS_LABELS = [
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
]
_FOLDER = "goemotions"
# The "simplified" split of google-research/goemotions, byte for byte as
# mirrored (Apache-2.0) by monologg/GoEmotions-pytorch at a fixed commit.
_BASE_URL = (
    "https://raw.githubusercontent.com/monologg/GoEmotions-pytorch/"
    "b75f9d3a8b76bc1060687925b04ca98a1b8ea66b/data/original/"
)
_SHA256 = {
    "train.tsv": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
    "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
    "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
}


def read_goemotions_tsv(path, num_labels=28, encoding="utf-8"):
    """Reads a GoEmotions TSV file into `(text, label_ids)` examples.

    Each row is `text<TAB>comma-separated label ids[<TAB>comment id]`, with no
    header; texts may be CSV-quoted (`"..."` with `""` escapes) and are
    unquoted. A UTF-8 byte-order mark and CRLF line endings are accepted.

    Args:
        path: The file to read.
        num_labels: Number of labels; every id must be in `[0, num_labels)`.
        encoding: Text encoding of the file.

    Returns:
        A list of `(text, label_ids)` with `label_ids` a sorted list of
        distinct integers (at least one per row).

    Raises:
        ValueError: On bytes that are not valid in `encoding`, a row with
            fewer than 2 or more than 3 columns, or label ids that are not
            integers in `[0, num_labels)`; the message starts with
            `<file>:<line>:`.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dev.tsv"
    >>> _ = path.write_text("Thanks a lot!\\t15\\tid1\\nWow, ok\\t26,27\\tid2\\n")
    >>> read_goemotions_tsv(path)
    [('Thanks a lot!', [15]), ('Wow, ok', [26, 27])]
    """
    if (
        isinstance(num_labels, bool)
        or not isinstance(num_labels, int)
        or num_labels < 1
    ):
        raise ValueError(
            f"`num_labels` must be an integer >= 1. Received: num_labels={num_labels!r}"
        )
    path = pathlib.Path(path)
    reader = csv.reader(
        io.StringIO(read_text(path, encoding), newline=""), delimiter="\t"
    )
    examples = []
    while True:
        lineno = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise ValueError(f"{path}:{lineno}: {e}") from None
        if not row or not any(c.strip() for c in row):
            continue
        if not 2 <= len(row) <= 3:
            raise ValueError(
                f"{path}:{lineno}: expected 2 or 3 tab-separated columns (text, "
                f"label ids, optional comment id); found {len(row)}: {row!r}"
            )
        try:
            ids = sorted({int(i) for i in row[1].split(",")})
        except ValueError:
            ids = None
        if not ids or not all(0 <= i < num_labels for i in ids):
            raise ValueError(
                f"{path}:{lineno}: label ids must be comma-separated integers in "
                f"[0, {num_labels}); got {row[1]!r}"
            )
        examples.append((row[0], ids))
    return examples


def load_goemotions(split="train", path=None):
    """Loads a split of GoEmotions (the "simplified" 28-label split).

    Files are searched as in `load_cluener` (folder `goemotions`) and
    otherwise downloaded from a fixed commit of a mirror of the official
    files (sha256 checked).

    Args:
        split: `"train"` (43,410 comments), `"dev"` (5,426) or `"test"`
            (5,427).
        path: Optional file or folder to read instead of searching.

    Returns:
        `(examples, labels)`: `examples` as in `read_goemotions_tsv` (each a
        `(text, label_ids)` pair) and `labels` the 28 label names, indexed by
        the ids (`"neutral"` is id 27).

    Example:

    >>> train, labels = keras_rdkl.datasets.load_goemotions("train")  # doctest: +SKIP
    >>> text, ids = train[0]  # doctest: +SKIP
    >>> [labels[i] for i in ids]  # doctest: +SKIP

    References:
        - Demszky et al., "GoEmotions: A Dataset of Fine-Grained Emotions",
          ACL 2020.
    """
    check_split(split, ("train", "dev", "test"))
    fname = f"{split}.tsv"
    local = resolve_file(
        _FOLDER, fname, path=path, origin=_BASE_URL + fname, file_hash=_SHA256[fname]
    )
    return read_goemotions_tsv(local), list(GOEMOTIONS_LABELS)
