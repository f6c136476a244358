"""Viterbi decoding for linear-chain CRFs, and tag-scheme constraints.

* `viterbi_decode`: batched, in `keras.ops` (runs inside a compiled graph),
  with masks and optional allowed start tags, end tags and transitions.
* `viterbi_decode_numpy`: one unpadded sequence in NumPy (what bert4keras'
  `ViterbiDecoder.decode` does).
* `tag_scheme_constraints`: the allowed starts, ends and transitions of a
  BIO, BIOES or BMES tag set.

Ties go to the lowest tag index, as NumPy's `argmax` breaks them.
"""

import numpy as np
from keras import ops

from keras_rdkl import _kernels
from keras_rdkl.losses.crf import prepare_emissions
from keras_rdkl.losses.crf import split_step
from keras_rdkl.losses.crf import time_major_steps
from keras_rdkl.masking import mask_value

__all__ = [
    "tag_names",
    "tag_scheme_constraints",
    "viterbi_decode",
    "viterbi_decode_numpy",
]

SCHEMES = ("BIO", "BIOES", "BMES")
# The spellings of keras_rdkl.datasets (lower case, IOB2 / IOBES aliases).
_ALIASES = {"IOB2": "BIO", "IOBES": "BIOES"}


def _scheme(scheme):
    name = str(scheme).upper()
    name = _ALIASES.get(name, name)
    if name not in SCHEMES:
        raise ValueError(
            f"`scheme` must be one of {SCHEMES} (any case; 'iob2' and 'iobes' are "
            f"aliases). Received: scheme={scheme!r}"
        )
    return name


def tag_names(types, scheme="BIO"):
    """Tag list of a scheme for entity types: `"O"` first, then each type's tags.

    Args:
        types: entity type names, in order.
        scheme: `"BIO"`, `"BIOES"` or `"BMES"` (any case; `"iob2"`, `"iobes"`).

    Returns:
        List of tag strings; a tag's position is its index in the CRF.

    Example:

    >>> tag_names(["PER", "LOC"])
    ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']
    """
    prefixes = {"BIO": "BI", "BIOES": "BIES", "BMES": "BMES"}[_scheme(scheme)]
    return ["O"] + [f"{p}-{t}" for t in types for p in prefixes]


def _tag_vector(tags, num_tags, name):
    """Additive penalty `[num_tags]`: 0 for allowed tags, a large negative otherwise."""
    if tags is None:
        return None
    index = np.asarray(tags).reshape(-1)
    if index.dtype == bool and index.size == num_tags:
        allowed = index
    else:
        if index.size and (
            not np.issubdtype(index.dtype, np.integer)
            or index.min() < 0
            or index.max() >= num_tags
        ):
            raise ValueError(
                f"`{name}` must hold tag indices in [0, {num_tags}) (or a boolean "
                f"vector of length {num_tags}). Received: {name}={tags!r}"
            )
        allowed = np.zeros(num_tags, bool)
        allowed[index.astype(int)] = True
    return allowed


def _check_allowed_transitions(allowed, num_tags):
    if allowed is None:
        return None
    allowed = np.asarray(allowed)
    if allowed.shape != (num_tags, num_tags):
        raise ValueError(
            "`allowed_transitions` must be a boolean matrix of shape "
            f"[{num_tags}, {num_tags}]. Received shape: {allowed.shape}"
        )
    return allowed.astype(bool)


def viterbi_decode(
    emissions,
    transitions,
    mask=None,
    start_tags=None,
    end_tags=None,
    allowed_transitions=None,
):
    """Best tag path of each sequence in a batch (in-graph Viterbi).

    Args:
        emissions: float `[batch, length, num_tags]`; padded steps are those
            masked by `mask` or where every score is `<= MASK_THRESHOLD`.
        transitions: float `[num_tags, num_tags]`.
        mask: optional `[batch, length]` (True / 1 = token).
        start_tags: optional tag indices (or a boolean vector) allowed at the
            first unmasked step.
        end_tags: optional tag indices allowed at the last unmasked step.
        allowed_transitions: optional boolean `[num_tags, num_tags]`;
            `False` at `[i, j]` forbids tag `j` right after tag `i`.

    Returns:
        `(tags, scores)`: int32 `[batch, length]` best paths (0 at masked
        steps) and float `[batch]` their scores (emissions plus transitions;
        0 for a fully masked sequence).

    Example:

    >>> import numpy as np
    >>> e = np.array([[[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]], "float32")
    >>> trans = np.array([[0.0, -5.0], [0.0, 0.0]], "float32")
    >>> tags, scores = viterbi_decode(e, trans)
    >>> ops.convert_to_numpy(tags).tolist(), float(scores[0])
    ([[0, 0, 0]], 5.0)
    """
    e, a, valid = prepare_emissions(emissions, transitions, mask)
    num_tags = e.shape[-1]
    neg = ops.cast(mask_value(e.dtype), e.dtype)
    allowed = _check_allowed_transitions(allowed_transitions, num_tags)
    if allowed is not None:
        a = ops.where(ops.convert_to_tensor(allowed), a, neg)
    zeros = ops.zeros((num_tags,), e.dtype)
    starts = _tag_vector(start_tags, num_tags, "start_tags")
    start_pen = zeros if starts is None else ops.where(starts, zeros, neg)
    ends = _tag_vector(end_tags, num_tags, "end_tags")
    end_pen = zeros if ends is None else ops.where(ends, zeros, neg)
    return _kernels.crf_viterbi(e, a, valid, start_pen, end_pen, _viterbi_ops)


def _viterbi_ops(e, a, valid, start_pen, end_pen):
    # The `keras.ops` form (what XLA compiles on TensorFlow and JAX).
    identity = ops.arange(ops.shape(e)[-1], dtype="int32")[None]

    # Keras' TensorFlow `scan` stacks outputs with the carry's structure and
    # dtypes, so the back-pointers ride in the carry and the whole carry is
    # the per-step output.
    def forward(carry, x):
        delta, started, _ = carry
        e_t, v_t = split_step(x)
        scores = delta[:, :, None] + a[None]
        best = ops.max(scores, axis=1)
        back = ops.cast(ops.argmax(scores, axis=1), "int32")
        new = ops.where(started[:, None], best, start_pen[None]) + e_t
        link = ops.logical_and(started, v_t)[:, None]
        back = ops.where(link, back, identity)
        delta = ops.where(v_t[:, None], new, delta)
        carry = (delta, ops.logical_or(started, v_t), back)
        return carry, carry

    init = (ops.zeros_like(e[:, 0]), ops.zeros_like(valid[:, 0]))
    init = init + (ops.zeros(ops.shape(e[:, 0]), "int32"),)
    (delta, started, _), (_, _, backs) = ops.scan(
        forward, init, time_major_steps(e, valid)
    )
    final = delta + end_pen[None]
    last = ops.cast(ops.argmax(final, axis=-1), "int32")
    score = ops.max(final, axis=-1)
    score = ops.where(started, score, ops.zeros_like(score))

    # Back-pointers of step t lead to step t - 1 (identity at padded steps
    # and at the first valid one); step 0's are never followed.
    def backward(tag, back):
        prev = ops.take_along_axis(back, tag[:, None], axis=1)[:, 0]
        return prev, tag

    _, tags = ops.scan(backward, last, backs, reverse=True)
    tags = ops.moveaxis(tags, 0, 1)
    tags = ops.where(valid, tags, ops.zeros_like(tags))
    return tags, score


def viterbi_decode_numpy(nodes, transitions, starts=None, ends=None):
    """Best tag path of one unpadded sequence, in NumPy.

    Same paths as bert4keras 0.11.5's `ViterbiDecoder(trans, starts,
    ends).decode(nodes)`, without changing `nodes` in place.

    Args:
        nodes: float `[length, num_tags]` emissions of one sequence.
        transitions: float `[num_tags, num_tags]`.
        starts: optional tag indices allowed at step 0.
        ends: optional tag indices allowed at the last step.

    Returns:
        int array `[length]`: the best path.

    Example:

    >>> nodes = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> viterbi_decode_numpy(nodes, np.zeros((2, 2)), ends=[0]).tolist()
    [0, 0]
    """
    nodes = np.array(nodes, dtype="float64")
    trans = np.asarray(transitions, dtype="float64")
    if nodes.ndim != 2 or trans.shape != (nodes.shape[1], nodes.shape[1]):
        raise ValueError(
            "`nodes` must be [length, num_tags] and `transitions` [num_tags, "
            f"num_tags]. Received shapes: nodes={nodes.shape}, "
            f"transitions={trans.shape}"
        )
    num_tags = nodes.shape[1]
    if len(nodes) == 0:
        return np.zeros((0,), "int64")
    for tags, row in ((starts, 0), (ends, -1)):
        allowed = _tag_vector(tags, num_tags, "starts" if row == 0 else "ends")
        if allowed is not None:
            nodes[row, ~allowed] = -np.inf
    delta = nodes[0]
    backs = []
    for t in range(1, len(nodes)):
        scores = delta[:, None] + trans
        backs.append(scores.argmax(axis=0))
        delta = scores.max(axis=0) + nodes[t]
    path = [int(delta.argmax())]
    for back in reversed(backs):
        path.append(int(back[path[-1]]))
    return np.array(path[::-1], dtype="int64")


def _split_tag(tag):
    for sep in ("-", "_"):
        if sep in tag:
            prefix, _, kind = tag.partition(sep)
            return prefix.upper(), kind
    return tag.upper(), ""


def tag_scheme_constraints(tags, scheme="BIO"):
    """Allowed start tags, end tags and transitions of a tagging scheme.

    Tags are spelled `"O"` and `"<prefix>-<type>"` (`"B-PER"`; `"_"` works as
    the separator too, and a bare `"B"` has the empty type, as in BMES word
    segmentation). Rules, for an entity type X:

    * BIO: `I-X` only after `B-X` or `I-X`; a sequence cannot start with `I-`.
    * BIOES: after `B-X` or `I-X` only `I-X` or `E-X`; `I-X` and `E-X` only
      after `B-X` or `I-X`; start with `O`, `B-` or `S-`; end with `O`, `E-`
      or `S-`.
    * BMES: as BIOES with `M` for `I`.

    Args:
        tags: list of tag names, in tag-index order.
        scheme: `"BIO"`, `"BIOES"` or `"BMES"` (any case; `"iob2"` and
            `"iobes"` are aliases, as in `keras_rdkl.datasets`).

    Returns:
        `(start_tags, end_tags, allowed_transitions)`: two lists of tag
        indices and a boolean NumPy matrix `[num_tags, num_tags]`, ready for
        `viterbi_decode` (or the layer's constructor).

    Example:

    >>> starts, ends, allowed = tag_scheme_constraints(["O", "B-PER", "I-PER"])
    >>> starts, ends, allowed.astype(int).tolist()
    ([0, 1], [0, 1, 2], [[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    """
    scheme = _scheme(scheme)
    inside = "M" if scheme == "BMES" else "I"
    prefixes = set({"BIO": "BIO", "BIOES": "BIOES", "BMES": "BMESO"}[scheme])
    parsed = []
    for tag in tags:
        prefix, kind = _split_tag(str(tag))
        if prefix not in prefixes or (prefix == "O" and kind):
            raise ValueError(
                f"Tag {tag!r} does not belong to the {scheme} scheme (prefixes "
                f"{sorted(set(prefixes))}). Received: tags={list(tags)!r}"
            )
        parsed.append((prefix, kind))
    n = len(parsed)
    allowed = np.ones((n, n), bool)
    inner = {"B", inside}  # prefixes after which the entity goes on
    continues = {inside} if scheme == "BIO" else {inside, "E"}
    for i, (p_prev, k_prev) in enumerate(parsed):
        for j, (p_next, k_next) in enumerate(parsed):
            if p_next in continues:
                allowed[i, j] = p_prev in inner and k_prev == k_next
            elif scheme != "BIO":
                # BIOES / BMES: an entity opened by B- or I-/M- must be closed.
                allowed[i, j] = p_prev not in inner
    if scheme == "BIO":
        starts = [i for i, (p, _) in enumerate(parsed) if p != inside]
        ends = list(range(n))
    else:
        starts = [i for i, (p, _) in enumerate(parsed) if p in ("O", "B", "S")]
        ends = [i for i, (p, _) in enumerate(parsed) if p in ("O", "E", "S")]
    return starts, ends, allowed
