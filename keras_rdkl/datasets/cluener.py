"""CLUENER2020: Chinese fine-grained NER, JSON lines with character spans."""

import json
import pathlib

from keras_rdkl.datasets._io import read_lines
from keras_rdkl.datasets._paths import check_split
from keras_rdkl.datasets._paths import resolve_file
from keras_rdkl.datasets.tags import _span_key

CLUENER_LABELS = [
    "address",
    "book",
    "company",
    "game",
    "government",
    "movie",
    "name",
    "organization",
    "position",
    "scene",
]
_FOLDER = "cluener2020"
# An unmodified mirror of cluener_public.zip (see PROVENANCE.md of the data).
_BASE_URL = (
    "https://raw.githubusercontent.com/DSXiangLi/ChineseNER/"
    "4c0280487206d8c21a6a7dbf8269009cbc1f25a3/data/cluener/"
)
_SHA256 = {
    "train.json": "60299d202779dc84f3c3bd81f4dc08f5323d0dbf762cb50cd62dd51aa9a871f8",
    "dev.json": "90036b59832e007c45d11eafe5ed80549f58a18a29aaa7fe8b1229622c69ec38",
    "test.json": "5ca36f6fbe29230a6e3244110fcd9487fc2f5a672f5bfeba82a30f0ece72aa69",
}


def read_cluener_json(path, check_mentions=True, encoding="utf-8"):
    """Reads a CLUENER-style JSON-lines file into `(tokens, spans)` examples.

    Each line is `{"text": str, "label": {type: {mention: [[start, end],
    ...]}}}` with character offsets, end inclusive. Lines without `"label"`
    (CLUENER's unlabeled test split) give an empty span list; blank lines are
    skipped. A UTF-8 byte-order mark and CRLF line endings are accepted.

    Args:
        path: The file to read.
        check_mentions: Check that `text[start:end + 1]` equals the mention
            string of every span.
        encoding: Text encoding of the file.

    Returns:
        `(examples, labels)`: `examples` is a list of `(tokens, spans)` where
        `tokens` is the list of characters of the text and `spans` a sorted
        list of `(type, start, end)` tuples (end inclusive); `labels` is the
        sorted list of entity types seen.

    Raises:
        ValueError: On bytes that are not valid in `encoding` or a malformed
            line (bad JSON, a span outside the text, `end < start`, a mention
            that does not match the text); the message starts with
            `<file>:<line>:`.

    Example:

    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dev.json"
    >>> record = {"text": "叶老桂在浙商银行", "label": {"name": {"叶老桂": [[0, 2]]}}}
    >>> _ = path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    >>> examples, labels = read_cluener_json(path)
    >>> examples[0][1], labels
    ([('name', 0, 2)], ['name'])
    """
    path = pathlib.Path(path)
    examples, labels = [], set()
    for lineno, line in read_lines(path, encoding):
        if not line.strip():
            continue

        def fail(msg, lineno=lineno):
            raise ValueError(f"{path}:{lineno}: {msg}")

        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            fail(f"invalid JSON ({e.msg} at column {e.colno})")
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            fail('expected an object with a string "text" field')
        text = record["text"]
        spans = set()
        label = record.get("label") or {}
        if not isinstance(label, dict):
            fail('"label" must map entity types to {mention: [[start, end], ...]}')
        for etype, mentions in label.items():
            if not isinstance(mentions, dict):
                fail(f'"label"[{etype!r}] must map mentions to [[start, end], ...]')
            for mention, positions in mentions.items():
                if not isinstance(positions, list):
                    fail(f"positions of {mention!r} must be [[start, end], ...]")
                for pos in positions:
                    ok = (
                        isinstance(pos, (list, tuple))
                        and len(pos) == 2
                        and all(type(p) is int for p in pos)
                    )
                    if not ok:
                        fail(f"span of {mention!r} must be [start, end]; got {pos!r}")
                    start, end = pos
                    if not 0 <= start <= end < len(text):
                        fail(
                            f"span [{start}, {end}] of {mention!r} is outside the "
                            f"text of length {len(text)} or has end < start"
                        )
                    if check_mentions and text[start : end + 1] != mention:
                        fail(
                            f"span [{start}, {end}] reads "
                            f"{text[start : end + 1]!r}, not the mention {mention!r}"
                        )
                    spans.add((etype, start, end))
        labels.update(t for t, _, _ in spans)
        examples.append((list(text), sorted(spans, key=_span_key)))
    return examples, sorted(labels)


def load_cluener(split="train", path=None):
    """Loads a split of CLUENER2020 (10 Chinese entity types, character level).

    The file is looked up in `path` (a file or folder), else in
    `$KERAS_RDKL_DATA/cluener2020/`, then in the Keras cache
    (`~/.keras/datasets/keras_rdkl/cluener2020/`, `$KERAS_HOME` respected),
    and otherwise downloaded there from a public mirror of
    `cluener_public.zip` (sha256 checked).

    Args:
        split: `"train"` (10,748 sentences), `"dev"` (1,343) or `"test"`
            (1,345, unlabeled: every span list is empty).
        path: Optional file or folder to read instead of searching.

    Returns:
        `(examples, labels)` as in `read_cluener_json`, with `labels` the 10
        CLUENER types whatever the split holds.

    Example:

    >>> dev, labels = keras_rdkl.datasets.load_cluener("dev")  # doctest: +SKIP

    References:
        - Xu et al., "CLUENER2020: Fine-grained Named Entity Recognition
          Dataset and Benchmark for Chinese", arXiv:2001.04351.
    """
    check_split(split, ("train", "dev", "test"))
    fname = f"{split}.json"
    local = resolve_file(
        _FOLDER, fname, path=path, origin=_BASE_URL + fname, file_hash=_SHA256[fname]
    )
    examples, _ = read_cluener_json(local)
    return examples, list(CLUENER_LABELS)
