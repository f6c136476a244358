"""Spans <-> BIO tag ids for the CRF head of `build_span_tagger`.

The CRF head tags each token with one of `1 + 2 * num_types` BIO tags in the
order of `keras_rdkl.viterbi.tag_names`: id 0 is `O`, type `t` has `B` at
`1 + 2t` and `I` at `2 + 2t`. A tag sequence holds one entity per token, so
nested spans (GermEval) are flattened first: `flatten_spans` keeps the
outermost ones and counts what it drops.
"""

import numpy as np

from keras_rdkl import _checks as checks
from keras_rdkl.datasets.tags import spans_to_tags
from keras_rdkl.datasets.tags import tags_to_spans
from keras_rdkl.viterbi import tag_names
from keras_rdkl.viterbi import tag_scheme_constraints

__all__ = [
    "crf_constraints",
    "flatten_spans",
    "num_crf_tags",
    "spans_to_tag_ids",
    "tag_ids_to_spans",
]


def _names(num_types):
    return [str(t) for t in range(num_types)]


def num_crf_tags(num_types):
    """Number of BIO tags over `num_types` entity types: `1 + 2 * num_types`."""
    return 1 + 2 * checks.check_int(num_types, "num_types", minimum=1)


def crf_constraints(num_types):
    """`(start_tags, end_tags, allowed_transitions)` of well-formed BIO tag ids."""
    starts, ends, allowed = tag_scheme_constraints(
        tag_names(_names(num_types), "BIO"), "BIO"
    )
    return starts, ends, allowed.tolist()


def flatten_spans(spans):
    """Non-overlapping spans: the longest first (outer before inner), then by start.

    Args:
        spans: iterable of `(type, start, end)` (`end` inclusive).

    Returns:
        `(kept, dropped)`: the kept spans sorted by position, and the number
        of spans dropped because they overlap a kept one.

    Example:

    >>> flatten_spans([(0, 0, 3), (1, 1, 1), (1, 5, 6)])
    ([(0, 0, 3), (1, 5, 6)], 1)
    """
    spans = [tuple(s[:3]) for s in spans]
    kept, used = [], set()
    for span in sorted(spans, key=lambda s: (s[1] - s[2], s[1], s[0])):
        cells = set(range(span[1], span[2] + 1))
        if cells & used:
            continue
        used |= cells
        kept.append(span)
    kept.sort(key=lambda s: (s[1], s[2], s[0]))
    return kept, len(spans) - len(kept)


def spans_to_tag_ids(spans, length):
    """BIO tag ids `[length]` (int32) of non-overlapping `(type id, start, end)` spans.

    Example:

    >>> spans_to_tag_ids([(1, 0, 1), (0, 3, 3)], 5).tolist()
    [3, 4, 0, 1, 0]
    """
    tags = spans_to_tags([(str(t), s, e) for t, s, e in spans], int(length), "bio")
    ids = np.zeros(len(tags), "int32")
    for i, tag in enumerate(tags):
        if tag != "O":
            prefix, kind = tag.split("-", 1)
            ids[i] = 1 + 2 * int(kind) + (prefix == "I")
    return ids


def tag_ids_to_spans(ids):
    """`(type id, start, end)` spans of one BIO tag-id sequence (read as conlleval does).

    Example:

    >>> tag_ids_to_spans([3, 4, 0, 1, 0])
    [(1, 0, 1), (0, 3, 3)]
    """
    tags = [
        "O" if i == 0 else f"{'BI'[(i - 1) % 2]}-{(i - 1) // 2}"
        for i in np.asarray(ids).tolist()
    ]
    spans = tags_to_spans(tags, "bio")
    return [(int(t), s, e) for t, s, e in spans]
