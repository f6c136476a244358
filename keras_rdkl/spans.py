"""Entity spans <-> GlobalPointer tensors, and character <-> token offsets.

A span is a tuple `(type, start, end)` of Python ints with `end` inclusive,
the layout of GlobalPointer logits `[batch, heads(type), L(start), L(end)]`.
Everything here is plain NumPy on the host: encoding builds training
targets, decoding reads predictions (backend tensors are converted with
`keras.ops.convert_to_numpy`).
"""

import numbers

import numpy as np
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl.masking import MASK_THRESHOLD

__all__ = [
    "char_to_token_spans",
    "decode_spans",
    "encode_batch",
    "encode_spans",
    "token_to_char_spans",
]


def _triple(span, name, what):
    """`(a, b, c, rest)` of a span whose first three fields are integers."""
    if isinstance(span, (str, bytes)) or not hasattr(span, "__len__") or len(span) < 3:
        raise ValueError(
            f"`{name}` must hold {what} triples of integers. Received: {span!r}"
        )
    values = []
    for field, v in zip(what.strip("()").split(", "), span[:3], strict=True):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(
                f"`{name}` must hold {what} triples of integers; {field} "
                f"{v!r} ({type(v).__name__}) in {tuple(span)!r} is not one. "
                "Positions are token or character indices: round or cast them "
                "explicitly."
            )
        values.append(int(v))
    return (*values, tuple(span[3:]))


def _check_spans(spans, num_types, length, name="spans"):
    """Validated list of (type, start, end) ints."""
    if isinstance(spans, (str, bytes)):
        raise ValueError(f"`{name}` must be an iterable of spans. Received: {spans!r}")
    out = []
    for span in spans:
        t, s, e, rest = _triple(span, name, "(type, start, end)")
        if rest:
            raise ValueError(
                f"`{name}` must hold (type, start, end) triples. Received: {span!r}"
            )
        if not 0 <= t < num_types:
            raise ValueError(
                f"Span {tuple(span)} in `{name}` has type {t}; types must be in "
                f"[0, num_types={num_types})."
            )
        if not (0 <= s < length and 0 <= e < length):
            raise ValueError(
                f"Span {tuple(span)} in `{name}` lies outside [0, length={length}); "
                "start and end must both be valid token positions."
            )
        if s > e:
            raise ValueError(
                f"Span {tuple(span)} in `{name}` has start {s} > end {e}; end is "
                "inclusive and must be >= start."
            )
        out.append((t, s, e))
    return out


def encode_spans(spans, num_types, length, sparse=False, pad_value=-1, max_spans=None):
    """Encodes one sample's spans as GlobalPointer targets.

    Args:
        spans: iterable of `(type, start, end)` with `end` inclusive; may be
            empty. Duplicates are kept once.
        num_types: int, the number of heads (entity types).
        length: int, the sequence length `L` of the logits.
        sparse: False for dense 0/1 targets; True for flat indices
            `start * L + end` per type, for
            `keras_rdkl.losses.SparseMultilabelCategoricalCrossentropy`.
        pad_value: int, the padding index of the sparse form. The default
            `-1` lies outside `[0, L * L)` and is ignored by the sparse loss
            with `mask_zero=False`, so the span (0, 0) stays a valid label.
            bert4keras scripts pad with 0 and use `mask_zero=True`, which
            makes a span starting and ending at token 0 unrepresentable
            (harmless there, since token 0 is `[CLS]`).
        max_spans: optional int `K` of the sparse form; default: the largest
            number of spans of any type (at least 1).

    Returns:
        Dense: float32 array `[num_types, L, L]` with 1 at
        `[type, start, end]`. Sparse: int32 array `[num_types, K]`, each row
        the sorted flat indices of that type followed by `pad_value`.

    Raises:
        ValueError: for a span that is not three integers (a float position
            such as `2.0` is an error, never truncated), a type outside
            `[0, num_types)`, a start or end outside `[0, length)`,
            start > end, `K` too small, or a `pad_value` that would read as
            a span: inside `[1, L * L)`, or 0 while the span `(type, 0, 0)`
            is present.

    Example:

    >>> encode_spans([(0, 1, 2), (1, 0, 0)], num_types=2, length=4, sparse=True)
    array([[6],
           [0]], dtype=int32)
    """
    num_types = checks.check_positive_int(num_types, "num_types")
    length = checks.check_positive_int(length, "length")
    sparse = checks.check_bool(sparse, "sparse")
    spans = _check_spans(spans, num_types, length)
    if sparse:
        pad_value = _check_pad_value(pad_value, length, spans)
    if not sparse:
        out = np.zeros((num_types, length, length), dtype="float32")
        for t, s, e in spans:
            out[t, s, e] = 1.0
        return out
    per_type = [
        sorted({s * length + e for t, s, e in spans if t == h})
        for h in range(num_types)
    ]
    k = max([1] + [len(p) for p in per_type])
    if max_spans is not None:
        max_spans = checks.check_positive_int(max_spans, "max_spans")
        if max_spans < k:
            raise ValueError(
                f"`max_spans` must be >= the largest number of spans of one type ({k}). "
                f"Received: max_spans={max_spans}"
            )
        k = max_spans
    out = np.full((num_types, k), pad_value, dtype="int32")
    for h, idx in enumerate(per_type):
        out[h, : len(idx)] = idx
    return out


def encode_batch(batch_spans, num_types, length, sparse=False, pad_value=-1):
    """Encodes a batch of span lists; the sparse form pads `K` across the batch.

    Args:
        batch_spans: list (one entry per sample) of span lists.
        num_types, length, sparse, pad_value: as in `encode_spans`.

    Returns:
        Dense float32 `[B, num_types, L, L]`, or sparse int32
        `[B, num_types, K]` with `K` the largest per-type count in the batch.
        Pad token ids to the same `L` with `keras.utils.pad_sequences(...,
        maxlen=length, padding="post")`.

    Example:

    >>> encode_batch([[(0, 0, 1)], []], num_types=1, length=3).shape
    (2, 1, 3, 3)
    """
    num_types = checks.check_positive_int(num_types, "num_types")
    length = checks.check_positive_int(length, "length")
    sparse = checks.check_bool(sparse, "sparse")
    if isinstance(batch_spans, (str, bytes)) or not hasattr(batch_spans, "__len__"):
        raise ValueError(
            "`batch_spans` must be a list with one list of spans per sample. "
            f"Received: {type(batch_spans).__name__}"
        )
    encoded = []
    for i, spans in enumerate(batch_spans):
        try:
            encoded.append(encode_spans(spans, num_types, length, sparse, pad_value))
        except ValueError as error:
            raise ValueError(f"`batch_spans[{i}]`: {error}") from None
    if not sparse:
        out = np.zeros((len(encoded), num_types, length, length), dtype="float32")
        for i, e in enumerate(encoded):
            out[i] = e
        return out
    k = max([1] + [e.shape[1] for e in encoded])
    pad_value = _check_pad_value(pad_value, length, [])
    out = np.full((len(encoded), num_types, k), pad_value, dtype="int32")
    for i, e in enumerate(encoded):
        out[i, :, : e.shape[1]] = e
    return out


def _check_pad_value(pad_value, length, spans):
    pad_value = checks.check_int(pad_value, "pad_value")
    if 0 < pad_value < length * length:
        raise ValueError(
            f"`pad_value` must lie outside [1, L * L) = [1, {length * length}) (it "
            f"would read as the span start={pad_value // length}, "
            f"end={pad_value % length}); use -1, or 0 with mask_zero=True. "
            f"Received: pad_value={pad_value}"
        )
    if pad_value == 0 and any(s == 0 and e == 0 for _, s, e in spans):
        raise ValueError(
            "`pad_value=0` cannot encode the span (start=0, end=0) present in "
            "`spans` (flat index 0 would be padding); use pad_value=-1. "
            "Received: pad_value=0"
        )
    return pad_value


def decode_spans(logits, threshold=0.0, flat=False, mask=None):
    """Reads the predicted spans out of GlobalPointer logits.

    Every `(type, start, end)` whose logit is `> threshold` is a span;
    nested and overlapping spans all come out. Masked logits (`<=
    keras_rdkl.MASK_THRESHOLD`, `-inf` included), NaN, spans with start >
    end, and spans touching a position where `mask` is 0 never decode.

    With `flat=True` spans are taken greedily by descending score and a span
    is kept only if it overlaps no span kept before it (whatever its type),
    giving a non-overlapping (flat NER) answer.

    Args:
        logits: `[batch, heads, L, L]` or one sample `[heads, L, L]`; NumPy
            or backend tensor.
        threshold: float, the decision threshold (0 for ZLPR-trained
            scores); finite and above `keras_rdkl.MASK_THRESHOLD`.
        flat: bool, keep only non-overlapping spans.
        mask: optional `[batch, L]` token mask (`[L]` with one-sample
            logits), 1/True = token.

    Returns:
        For a batch, a list (one per sample) of lists of
        `(type, start, end, score)` sorted by start, then end, then type;
        for one sample, that sample's list.

    Raises:
        ValueError: for logits not of rank 3 or 4 with a square `L x L`
            grid, a threshold that is not a finite real above
            `MASK_THRESHOLD`, a non-bool `flat`, or a mask of another shape
            or with values other than 0/1.

    Example:

    >>> import numpy as np
    >>> logits = np.full((1, 4, 4), -5.0)
    >>> logits[0, 0, 2], logits[0, 1, 1] = 3.0, 1.0
    >>> [s[:3] for s in decode_spans(logits)]
    [(0, 0, 2), (0, 1, 1)]
    >>> [s[:3] for s in decode_spans(logits, flat=True)]
    [(0, 0, 2)]
    """
    threshold = checks.check_threshold(threshold)
    flat = checks.check_bool(flat, "flat")
    x = np.asarray(ops.convert_to_numpy(logits)).astype("float64")
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            "`logits` must have shape [batch, heads, L, L] or [heads, L, L]. "
            f"Received shape: {tuple(np.shape(logits))}"
        )
    length = x.shape[-1]
    keep = (x > threshold) & (x > MASK_THRESHOLD)
    keep &= np.triu(np.ones((length, length), dtype=bool))[None, None]
    if mask is not None:
        m = np.asarray(ops.convert_to_numpy(mask))
        if m.ndim == 1:
            m = m[None]
        if m.shape != (x.shape[0], length):
            expected = (length,) if single else (x.shape[0], length)
            raise ValueError(
                f"`mask` must have shape {expected} ([batch, L], or [L] for one "
                f"sample). Received: mask.shape={np.shape(mask)}"
            )
        if not np.isin(m, (0, 1)).all():
            raise ValueError(
                "`mask` must hold 0/1 or True/False. Received: mask holds "
                f"{m[~np.isin(m, (0, 1))].flat[0]!r}"
            )
        m = m.astype(bool)
        keep &= (m[:, :, None] & m[:, None, :])[:, None]
    results = []
    for b in range(x.shape[0]):
        h, s, e = np.nonzero(keep[b])
        spans = [
            (int(t), int(i), int(j), float(x[b, t, i, j]))
            for t, i, j in zip(h, s, e, strict=True)
        ]
        if flat:
            spans = _greedy_flat(spans)
        spans.sort(key=lambda sp: (sp[1], sp[2], sp[0]))
        results.append(spans)
    return results[0] if single else results


def _greedy_flat(spans):
    # Highest score first; ties: shorter span, then earlier start, then type.
    order = sorted(spans, key=lambda sp: (-sp[3], sp[2] - sp[1], sp[1], sp[0]))
    kept = []
    for sp in order:
        if all(sp[2] < k[1] or sp[1] > k[2] for k in kept):
            kept.append(sp)
    return kept


def _check_offsets(offsets):
    if isinstance(offsets, (str, bytes)):
        raise ValueError(f"`offsets` must be a list of pairs. Received: {offsets!r}")
    out = []
    for i, off in enumerate(offsets):
        if not hasattr(off, "__len__") or len(off) != 2:
            raise ValueError(
                "`offsets` must hold (char_start, char_end_exclusive) pairs. "
                f"Received: offsets[{i}]={off!r}"
            )
        a, b = (checks.check_int(v, f"offsets[{i}]") for v in off)
        if a < 0 or b < a:
            raise ValueError(
                f"`offsets` must hold (char_start, char_end_exclusive) pairs with "
                f"0 <= char_start <= char_end. Received: offsets[{i}]={tuple(off)}"
            )
        out.append((a, b))
    return out


def char_to_token_spans(spans, offsets, inclusive=True):
    """Maps character spans to token spans.

    A character span becomes the smallest token span covering every token
    that shares at least one character with it: a span that starts or ends
    in the middle of a subword is *expanded* to the whole token (e.g. "York"
    inside the token "NewYork" maps to that token). Tokens with an empty
    offset (`char_start == char_end`, such as `[CLS]`, `[SEP]` and padding
    in Hugging Face / keras-hub offsets) never belong to a span. A span that
    overlaps no token (e.g. only whitespace, or text cut off by truncation)
    is dropped.

    Args:
        spans: iterable of `(type, char_start, char_end)`.
        offsets: per token, `(char_start, char_end_exclusive)`.
        inclusive: bool, whether the character spans' `char_end` is
            inclusive (CLUENER-style, the default) or exclusive (Python
            slicing).

    Returns:
        List of `(type, token_start, token_end)`, `token_end` inclusive, in
        the input order (dropped spans left out).

    Raises:
        ValueError: for a span or offset whose fields are not integers (a
            float position is an error, never truncated), a negative type
            or position, an empty span, or offsets that are not
            `(char_start, char_end)` pairs with `char_start <= char_end`.

    Example:

    >>> offsets = [(0, 0), (0, 3), (3, 7), (8, 13), (0, 0)]  # [CLS] New York? ...
    >>> char_to_token_spans([(0, 0, 6)], offsets)
    [(0, 1, 2)]
    """
    offsets = _check_offsets(offsets)
    inclusive = checks.check_bool(inclusive, "inclusive")
    out = []
    for span in spans:
        t, a, b, rest = _triple(span, "spans", "(type, char_start, char_end)")
        if rest:
            raise ValueError(
                "`spans` must hold (type, char_start, char_end) triples. "
                f"Received: {span!r}"
            )
        if t < 0 or a < 0:
            raise ValueError(
                f"Character span {tuple(span)} in `spans` must have type >= 0 and "
                "char_start >= 0."
            )
        stop = b + 1 if inclusive else b
        if stop <= a:
            raise ValueError(
                f"Character span {tuple(span)} is empty or has start > end "
                f"(inclusive={inclusive})."
            )
        hit = [
            i for i, (c0, c1) in enumerate(offsets) if c1 > c0 and c0 < stop and c1 > a
        ]
        if hit:
            out.append((t, hit[0], hit[-1]))
    return out


def token_to_char_spans(spans, offsets, inclusive=True):
    """Maps token spans (e.g. from `decode_spans`) back to character spans.

    The character span runs from the first character of the start token to
    the last character of the end token. Tokens with empty offsets at either
    edge (special tokens) are skipped inwards; a span made only of such
    tokens is dropped. Extra fields after `(type, start, end)` (a decoded
    score) are carried along.

    Args:
        spans: iterable of `(type, token_start, token_end, ...)`, end inclusive.
        offsets: per token, `(char_start, char_end_exclusive)`.
        inclusive: bool, whether the returned `char_end` is inclusive.

    Returns:
        List of `(type, char_start, char_end, ...)`.

    Raises:
        ValueError: a token index outside `[0, len(offsets))`, start > end,
            a negative type, or a field that is not an integer (float
            positions are errors, never truncated).

    Example:

    >>> offsets = [(0, 0), (0, 3), (3, 7), (8, 13), (0, 0)]
    >>> token_to_char_spans([(0, 1, 2, 0.9)], offsets, inclusive=False)
    [(0, 0, 7, 0.9)]
    """
    offsets = _check_offsets(offsets)
    inclusive = checks.check_bool(inclusive, "inclusive")
    n = len(offsets)
    out = []
    for span in spans:
        t, s, e, _ = _triple(span, "spans", "(type, token_start, token_end)")
        if not (0 <= s <= e < n) or t < 0:
            raise ValueError(
                f"Token span {tuple(span)} in `spans` must satisfy type >= 0 and "
                f"0 <= start <= end < len(offsets)={n}."
            )
        real = [i for i in range(s, e + 1) if offsets[i][1] > offsets[i][0]]
        if not real:
            continue
        a, b = offsets[real[0]][0], offsets[real[-1]][1]
        out.append((t, a, b - 1 if inclusive else b) + tuple(span[3:]))
    return out
