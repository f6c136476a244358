"""Linear-chain CRF: log-partition, gold path score and negative log-likelihood.

The score of a tag path `y` over emissions `e` `[L, T]` and transitions `A`
`[T, T]` is `sum_t e[t, y_t] + sum_t A[y_t, y_{t+1}]` (no start or end
vectors, as bert4keras has it). Masked time steps drop out: the path runs
over the unmasked steps only, and the transition between two unmasked steps
separated by masked ones is scored as if they were adjacent.
"""

import keras
from keras import ops

from keras_rdkl import _kernels
from keras_rdkl import _numerics as num
from keras_rdkl.masking import is_masked
from keras_rdkl.masking import mask_value

# "log 0" in the log-semiring products of the parallel form (finite, so no
# inf - inf anywhere; float32 holds sums of a few hundred of them).
_LOG_ZERO = -1e30
_METHODS = ("auto", "sequential", "parallel")


def _check_rank(x, rank, name, what):
    if len(x.shape) != rank:
        raise ValueError(
            f"`{name}` must be {what} (rank {rank}). "
            f"Received: {name}.shape={tuple(x.shape)}"
        )


def prepare_emissions(emissions, transitions, mask=None):
    """Emissions and transitions in the compute dtype, plus the step mask.

    A step is valid when `mask` (if given) is true there and not every tag
    score is at or below `MASK_THRESHOLD` (the CRF layer writes
    `mask_value` over padded steps). Excluded single scores become the
    compute dtype's finite `mask_value`; masked steps hold 0.

    Returns:
        `(emissions [B, L, T], transitions [T, T], valid [B, L] bool)`.
    """
    e = num.to_compute(emissions)
    _check_rank(e, 3, "emissions", "[batch, length, num_tags]")
    a = ops.cast(ops.convert_to_tensor(transitions), e.dtype)
    _check_rank(a, 2, "transitions", "[num_tags, num_tags]")
    tags = e.shape[-1]
    if tags is not None and (a.shape[0] != tags or a.shape[1] != tags):
        raise ValueError(
            "`transitions` must be [num_tags, num_tags] with num_tags = "
            f"emissions.shape[-1] = {tags}. Received: transitions.shape="
            f"{tuple(a.shape)}"
        )
    excluded = is_masked(e)
    valid = ops.logical_not(ops.all(excluded, axis=-1))
    if mask is not None:
        mask = ops.convert_to_tensor(mask)
        _check_rank(mask, 2, "mask", "[batch, length]")
        valid = ops.logical_and(valid, ops.cast(mask, "bool"))
    e = ops.where(excluded, ops.cast(mask_value(e.dtype), e.dtype), e)
    e = ops.where(valid[..., None], e, ops.zeros_like(e))
    return e, a, valid


def time_major_steps(e, valid):
    """Every step as one time-major tensor `[L, B, T+1]` (the mask last).

    One tensor, not a tuple: Keras' TensorFlow `scan` fails on several
    inputs whose length is unknown (dynamic length under `tf.function`).
    """
    x = ops.concatenate([e, ops.cast(valid, e.dtype)[..., None]], axis=-1)
    return ops.moveaxis(x, 1, 0)


def split_step(x):
    """Inverse of `time_major_steps` for one step: `(e_t [B, T], valid_t [B])`."""
    return x[:, :-1], ops.greater(x[:, -1], 0.5)


def _log_norm_sequential(e, a, valid):
    # alpha_t = logsumexp_i(alpha_{t-1, i} + A[i, :]) + e_t on valid steps,
    # carried unchanged over masked ones; the first valid step starts the
    # chain with alpha = e_t (no transition into it).
    steps = time_major_steps(e, valid)

    def body(t, carry):
        alpha, started = carry
        e_t, v_t = split_step(ops.take(steps, t, axis=0))
        prev = ops.logsumexp(alpha[:, :, None] + a[None], axis=1)
        new = ops.where(started[:, None], prev, ops.zeros_like(prev)) + e_t
        alpha = ops.where(v_t[:, None], new, alpha)
        return alpha, ops.logical_or(started, v_t)

    init = (ops.zeros_like(e[:, 0]), ops.zeros_like(valid[:, 0]))
    alpha, started = _kernels.time_loop(body, init, ops.shape(e)[1])
    log_z = ops.logsumexp(alpha, axis=-1)
    return ops.where(started, log_z, ops.zeros_like(log_z))


def _log_matmul(x, y):
    """Log-semiring product: out[..., i, j] = logsumexp_k(x[..., i, k] + y[..., k, j])."""
    return ops.logsumexp(x[..., :, :, None] + y[..., None, :, :], axis=-2)


def _step_matrices(e, a, valid):
    """One log-semiring matrix per step 1 .. L-1: `[B, L-1, T, T]`."""
    tags = ops.shape(e)[-1]
    eye = ops.eye(tags, dtype=e.dtype)
    identity = ops.where(ops.cast(eye, "bool"), 0.0, _LOG_ZERO)
    counts = ops.cumsum(ops.cast(valid, "int32"), axis=1)
    started_before = ops.greater(counts - ops.cast(valid, "int32"), 0)[:, 1:]
    e_t = e[:, 1:, None, :]
    step = ops.where(started_before[..., None, None], a[None, None] + e_t, e_t)
    return ops.where(valid[:, 1:, None, None], step, identity[None, None])


def _log_norm_parallel(e, a, valid):
    # The same recursion as products of per-step matrices in the
    # (logsumexp, +) semiring, reduced pairwise: log2(L) levels of batched
    # [T, T] x [T, T] products instead of L sequential steps. Needs a static L.
    tags = ops.shape(e)[-1]
    length = e.shape[1]
    unit = ops.where(ops.arange(tags) == 0, 0.0, _LOG_ZERO)
    alpha0 = ops.where(valid[:, :1], e[:, 0], ops.cast(unit, e.dtype)[None])
    if length > 1:
        m = _step_matrices(e, a, valid)
        eye = ops.eye(tags, dtype=e.dtype)
        identity = ops.where(ops.cast(eye, "bool"), 0.0, _LOG_ZERO)
        n = length - 1
        while n > 1:
            if n % 2:
                pad = ops.broadcast_to(identity, (ops.shape(m)[0], 1, tags, tags))
                m = ops.concatenate([m, ops.cast(pad, m.dtype)], axis=1)
                n += 1
            m = _log_matmul(m[:, 0::2], m[:, 1::2])
            n //= 2
        alpha = ops.logsumexp(alpha0[:, :, None] + m[:, 0], axis=1)
    else:
        alpha = alpha0
    log_z = ops.logsumexp(alpha, axis=-1)
    return ops.where(ops.any(valid, axis=1), log_z, ops.zeros_like(log_z))


def _pick_method(method, e):
    if method not in _METHODS:
        raise ValueError(
            f"`method` must be one of {_METHODS}. Received: method={method!r}"
        )
    static = e.shape[1] is not None
    if method == "parallel" and not static:
        raise ValueError(
            "`method='parallel'` needs a static sequence length. Received "
            f"emissions.shape={tuple(e.shape)}"
        )
    if method != "auto":
        return method
    return _kernels.crf_auto_method(e.shape[1], e.shape[-1])


def crf_log_norm(emissions, transitions, mask=None, method="auto"):
    """Log-partition `log Z` of a linear-chain CRF (forward algorithm, log space).

    Formula:

    ```
    log Z = logsumexp over every tag path y of
            sum_t emissions[t, y_t] + sum_t transitions[y_t, y_{t+1}]
    ```

    Args:
        emissions: float `[batch, length, num_tags]`; computed in float32.
        transitions: float `[num_tags, num_tags]`, `transitions[i, j]` scores
            tag `i` followed by tag `j`.
        mask: optional `[batch, length]` (True / 1 = token). Steps where every
            tag score is `<= keras_rdkl.MASK_THRESHOLD` count as masked too.
        method: `"sequential"` (a loop over time; on PyTorch a kernel with
            a hand-written backward), `"parallel"` (pairwise log-semiring
            matrix products, static length only) or `"auto"`: the form
            measured fastest for the backend, tag count and length
            (`keras_rdkl._kernels.crf_auto_method`; today the sequential
            form at every measured size, BENCHMARKS.md).

    Returns:
        `[batch]` float: `log Z` per sequence; 0 for a sequence with no
        unmasked step.

    Example:

    >>> import numpy as np
    >>> e = np.zeros((1, 3, 2), "float32")
    >>> round(float(crf_log_norm(e, np.zeros((2, 2), "float32"))[0]), 4)  # log 2**3
    2.0794
    """
    e, a, valid = prepare_emissions(emissions, transitions, mask)
    if _pick_method(method, e) == "parallel":
        return _log_norm_parallel(e, a, valid)
    return _kernels.crf_log_norm_sequential(e, a, valid, _log_norm_sequential)


def _tags_one_hot(tags, num_tags, dtype):
    tags = ops.convert_to_tensor(tags)
    if len(tags.shape) == 3 and tags.shape[-1] == 1 and num_tags != 1:
        tags = ops.squeeze(tags, axis=-1)  # integer tags [batch, length, 1]
    if len(tags.shape) == 3:
        return ops.cast(tags, dtype)
    if len(tags.shape) != 2:
        raise ValueError(
            "`y_true` must be integer tags [batch, length] or one-hot tags "
            f"[batch, length, num_tags]. Received: y_true.shape={tuple(tags.shape)}"
        )
    return ops.one_hot(ops.cast(tags, "int32"), num_tags, dtype=dtype)


def _compact(x, valid):
    """Moves the valid steps of each row to the front, in order (axis 1)."""
    length = ops.shape(valid)[1]
    t = ops.arange(length, dtype="int32")[None]
    key = ops.where(valid, t, t + length)
    order = ops.argsort(key, axis=1)
    index = order
    while len(index.shape) < len(x.shape):
        index = index[..., None]
    return ops.take_along_axis(x, ops.broadcast_to(index, ops.shape(x)), axis=1)


def crf_path_score(y_true, emissions, transitions, mask=None):
    """Score of the given tag path: emissions at its tags plus its transitions.

    Args:
        y_true: integer tags `[batch, length]` or one-hot `[batch, length,
            num_tags]`.
        emissions: float `[batch, length, num_tags]`.
        transitions: float `[num_tags, num_tags]`.
        mask: optional `[batch, length]`; see `crf_log_norm`.

    Returns:
        `[batch]` float path scores (0 for a sequence with no unmasked step).

    Example:

    >>> import numpy as np
    >>> e = np.array([[[1.0, 0.0], [0.0, 2.0]]], "float32")
    >>> trans = np.array([[0.0, 0.5], [0.0, 0.0]], "float32")
    >>> float(crf_path_score([[0, 1]], e, trans)[0])  # 1 + 2 + 0.5
    3.5
    """
    e, a, valid = prepare_emissions(emissions, transitions, mask)
    y = _tags_one_hot(y_true, ops.shape(e)[-1], e.dtype)
    y = y * ops.cast(valid, e.dtype)[..., None]
    unary = ops.sum(y * e, axis=(1, 2))
    # Transitions between consecutive valid steps: compact the valid steps to
    # the front, then every adjacent pair of compacted steps counts.
    y = _compact(y, valid)
    pair = ops.einsum("bli,ij,blj->b", y[:, :-1], a, y[:, 1:])
    return unary + pair


def crf_negative_log_likelihood(y_true, y_pred, transitions, mask=None, method="auto"):
    """Linear-chain CRF loss: `log Z - score(gold path)` per sequence.

    Args:
        y_true: integer tags `[batch, length]` or one-hot tags `[batch,
            length, num_tags]`.
        y_pred: emissions `[batch, length, num_tags]` (the output of
            `keras_rdkl.layers.ConditionalRandomField`, whose padded steps
            hold `mask_value`); any float dtype, computed in float32.
        transitions: `[num_tags, num_tags]` (the layer's `transitions`).
        mask: optional `[batch, length]`; steps where every score is
            `<= keras_rdkl.MASK_THRESHOLD` are masked as well.
        method: see `crf_log_norm`.

    Returns:
        `[batch]` negative log-likelihood, summed over the steps of each
        sequence; 0 (with zero gradient) for a fully masked sequence.

    Example:

    >>> import numpy as np
    >>> e = np.zeros((1, 2, 2), "float32")
    >>> loss = crf_negative_log_likelihood([[0, 1]], e, np.zeros((2, 2), "float32"))
    >>> round(float(loss[0]), 4)  # log 4: four equally likely paths
    1.3863
    """
    e, a, valid = prepare_emissions(y_pred, transitions, mask)
    log_z = crf_log_norm(e, a, valid, method=method)
    return log_z - crf_path_score(y_true, e, a, valid)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class CRFLoss(keras.losses.Loss):
    """Negative log-likelihood of a `ConditionalRandomField` layer's transitions.

    Bound to one layer: it reads the layer's current (learned) transitions
    at every call. Takes integer tags `[batch, length]` or one-hot tags
    `[batch, length, num_tags]`; padded steps are found in the emissions
    (the layer writes `mask_value` there), so the Keras mask need not
    reach the loss.

    Args:
        crf: the `keras_rdkl.layers.ConditionalRandomField` layer (anything
            with a `transitions` tensor). After `keras.saving.load_model`, the
            loss is unbound: recompile with `CRFLoss(model.get_layer(...))`.
        reduction: Keras loss reduction over the per-sequence losses.
        name: loss name.
        dtype: loss dtype.

    Example:

    >>> import keras
    >>> from keras_rdkl.layers import ConditionalRandomField
    >>> crf = ConditionalRandomField()
    >>> inputs = keras.Input((None, 8))
    >>> model = keras.Model(inputs, crf(keras.layers.Dense(4)(inputs)))
    >>> model.compile("adam", loss=CRFLoss(crf))
    """

    def __init__(
        self, crf=None, reduction="sum_over_batch_size", name="crf_loss", dtype=None
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.crf = crf

    def call(self, y_true, y_pred):
        if self.crf is None:
            raise ValueError(
                "`CRFLoss` is not bound to a ConditionalRandomField layer (it was "
                "loaded from a config). Recompile with `CRFLoss(crf_layer)`. "
                "Received: crf=None"
            )
        return crf_negative_log_likelihood(y_true, y_pred, self.crf.transitions)
