"""Reading dataset text files: encodings, byte-order marks, line endings (private).

Every reader goes through `read_text`, so a file in the wrong encoding, with a
UTF-8 byte-order mark or with Windows line endings behaves the same in all of
them, and a decoding error names the file and the line.
"""

import codecs
import pathlib


def check_encoding(encoding):
    """Returns `encoding`, or raises ValueError if Python does not know it."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(
            "`encoding` must be a text encoding Python knows, such as 'utf-8' or "
            f"'latin-1'. Received: encoding={encoding!r}"
        ) from None
    return encoding


def read_text(path, encoding="utf-8"):
    """Returns the decoded text of `path` without a leading byte-order mark.

    Raises:
        ValueError: When the bytes are not valid in `encoding`; the message
            names the file, the 1-based line and column, and the bad byte.
    """
    check_encoding(encoding)
    path = pathlib.Path(path)
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ValueError(
            f"{path}:{line}: byte 0x{data[e.start]:02x} at column {column} is not "
            f"valid {encoding!r} ({e.reason}); pass the file's encoding, for "
            "example encoding='latin-1'"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_lines(path, encoding="utf-8"):
    """Yields `(line_number, line)` with line endings (LF or CRLF) removed."""
    text = read_text(path, encoding)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        yield lineno, line[:-1] if line.endswith("\r") else line


# How many repair locations a reader's stats list.
MAX_REPAIR_LOCATIONS = 20


class ReadStats:
    """Counts a reader returns with `return_stats=True`."""

    def __init__(self):
        self.counts = {
            "sentences": 0,
            "tokens": 0,
            "entities": 0,
            "repaired_sequences": 0,
            "repaired_tags": 0,
            "repaired_at": [],
        }

    def add(self, num_tokens, num_spans, repaired):
        """One sentence of `num_tokens` tokens; `repaired`: repaired tag locations."""
        c = self.counts
        c["sentences"] += 1
        c["tokens"] += num_tokens
        c["entities"] += num_spans
        if repaired:
            c["repaired_sequences"] += 1
            c["repaired_tags"] += len(repaired)
            room = max(MAX_REPAIR_LOCATIONS - len(c["repaired_at"]), 0)
            c["repaired_at"].extend(repaired[:room])
