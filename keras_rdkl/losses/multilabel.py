"""Multi-label "softmax + cross-entropy" (ZLPR), dense and sparse forms."""

import warnings

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _kernels
from keras_rdkl import _numerics as num
from keras_rdkl import masking
from keras_rdkl.losses._base import PerSampleLoss


@keras.saving.register_keras_serializable(package="keras_rdkl")
def multilabel_categorical_crossentropy(y_true, y_pred, axis=-1):
    """Multi-label categorical cross-entropy (ZLPR) on scores.

    A class is predicted positive when its score is > 0. With hard labels the
    loss pushes every positive score above 0 and every negative one below 0;
    soft targets in [0, 1] are accepted too.

    Formula:

    ```
    loss = log(1 + sum_i t_i * exp(-s_i)) + log(1 + sum_i (1 - t_i) * exp(s_i))
    ```

    which for t in {0, 1} is `log(1 + sum_neg exp(s)) + log(1 + sum_pos exp(-s))`.
    Targets must lie in [0, 1]; below `keras.config.epsilon()` they count as
    exactly 0 and above `1 - epsilon` as exactly 1. Values are checked only
    where they are already on the host: targets outside [0, 1] or NaN given
    as NumPy arrays or Python lists raise `ValueError`; backend tensors
    (eager or traced, and so everything inside `fit`) are never read, and
    there targets outside [0, 1] are clipped to it and a NaN target gives
    its row a NaN loss, the same on every backend. Masked scores (`-inf`, or anything at or below
    `keras_rdkl.MASK_THRESHOLD`, such as the value GlobalPointer writes at padded
    spans) drop out of both sums.

    Args:
        y_true: Multi-hot or soft targets, same shape as `y_pred`.
        y_pred: Scores (logits), any float dtype; computed in float32.
        axis: The class axis, or a tuple of axes that together form the class
            axis: `axis=(-2, -1)` treats a GlobalPointer's L x L grid of one head
            as the classes, so `[B, heads, L, L]` gives a `[B, heads]` loss.

    Returns:
        Per-sample loss: `y_pred`'s shape without the class axes.

    Example:

    >>> y_true = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    >>> y_pred = [[-3.0, 2.0, 4.0], [5.0, -2.0, -1.0]]
    >>> loss = multilabel_categorical_crossentropy(y_true, y_pred)
    >>> [round(float(v), 4) for v in loss]
    [0.1915, 0.4143]

    References:
        - Su Jianlin, "将'softmax+交叉熵'推广到多标签分类问题" (2020).
        - "ZLPR: A Novel Loss for Multi-label Classification" (2022).
    """
    checks.check_values(
        y_true, "y_true", checks.outside_unit_interval, "targets in [0, 1]"
    )
    y_pred = num.to_compute(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    checks.check_same_shape(y_true, y_pred)
    s = num.flatten_class_axes(y_pred, axis)
    t = num.flatten_class_axes(y_true, axis)
    return _kernels.zlpr(s, t, keras.config.epsilon())


@keras.saving.register_keras_serializable(package="keras_rdkl")
def sparse_multilabel_categorical_crossentropy(
    y_true, y_pred, mask_zero=False, axis=-1
):
    """ZLPR with the positives given as class indices (for huge label spaces).

    Equal to `multilabel_categorical_crossentropy` on the multi-hot targets the
    indices describe, but the labels take O(K) memory instead of O(N): a
    GlobalPointer's labels are `[B, heads, K]` flat `start * L + end` indices
    instead of a dense `[B, heads, L, L]` grid.

    Formula:

    ```
    loss = log(1 + sum_{j in pos} exp(-s_j)) + log(1 + sum_{i not in pos} exp(s_i))
    ```

    The negative term is summed directly over the scores with the positives
    removed (never as the difference `log(1 - exp(B - A))` of two log-sum-exps,
    which cancels catastrophically when positive scores are confident), so the
    loss is never negative and never NaN. A repeated index counts once.
    Indices outside `[0, N)` are ignored (use them as padding, e.g. `-1`).
    Positives whose score is masked are ignored. Indices keep their integer
    dtype end to end (the loss class does not cast them to its dtype).
    Fractional indices given as NumPy arrays or Python lists raise
    `ValueError`; float tensors are not read (see
    `multilabel_categorical_crossentropy`) and are truncated to integers.

    `mask_zero=True` follows bert4keras 0.11.5: class 0 is reserved for
    padding and never counts at all. Index 0 in `y_true` is padding, **and**
    class 0's score is left out of the negative sum, so the loss does not
    depend on `y_pred[..., 0]`:

    ```
    loss = log(1 + sum_{j in pos, j != 0} exp(-s_j))
         + log(1 + sum_{i not in pos, i != 0} exp(s_i))
    ```

    With a GlobalPointer grid and flat indices `start * L + end`, class 0 is
    the span (0, 0), usually `[CLS]`.

    Args:
        y_true: Integer indices of the positive classes, `[..., K]`; with a
            tuple `axis`, flat (row-major) indices into the merged class axes.
        y_pred: Scores `[..., N]` (or `[..., L, L]` with `axis=(-2, -1)`).
        mask_zero: If True, class 0 never counts (bert4keras' meaning): index
            0 is padding and class 0's score is no negative either.
        axis: The class axis or a tuple of axes, as in the dense form.

    Returns:
        Per-sample loss: `y_pred`'s shape without the class axes.

    Example:

    >>> y_pred = [[-3.0, 2.0, 4.0], [5.0, -2.0, -1.0]]
    >>> y_true = [[1, 2], [0, 0]]  # the second row's repeated 0 counts once
    >>> loss = sparse_multilabel_categorical_crossentropy(y_true, y_pred)
    >>> [round(float(v), 4) for v in loss]
    [0.1915, 0.4143]

    With `mask_zero=True` the 0s are padding and class 0 (scores -3 and 5)
    is no negative either:

    >>> loss = sparse_multilabel_categorical_crossentropy(y_true, y_pred, mask_zero=True)
    >>> [round(float(v), 4) for v in loss]
    [0.1429, 0.4076]

    References:
        - Su Jianlin, "多标签'Softmax+交叉熵'的软标签版本" and
          "GlobalPointer" articles (2021-2022), sparse version.
    """
    mask_zero = checks.check_bool(mask_zero, "mask_zero")
    checks.check_values(
        y_true,
        "y_true",
        checks.not_integer,
        "integer class indices (indices outside [0, N) are padding)",
    )
    y_pred = num.to_compute(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    s = num.flatten_class_axes(y_pred, axis)
    if len(y_true.shape) != len(s.shape) or any(
        i is not None and j is not None and i != j
        for i, j in zip(y_true.shape[:-1], s.shape[:-1], strict=True)
    ):
        raise ValueError(
            "`y_true` must hold class indices of shape [..., K] whose leading "
            "dimensions match `y_pred` without its class axes. Received: "
            f"y_true.shape={tuple(y_true.shape)}, y_pred.shape="
            f"{tuple(y_pred.shape)}, axis={axis}"
        )
    idx = ops.cast(y_true, "int32")  # exact for every index an int32 can hold
    n = ops.shape(s)[-1]
    valid = ops.logical_and(ops.greater_equal(idx, 0), ops.less(idx, n))
    if mask_zero:
        valid = ops.logical_and(valid, ops.not_equal(idx, 0))
    safe_idx = ops.where(valid, idx, 0)
    valid = ops.logical_and(
        valid,
        ops.logical_not(masking.is_masked(ops.take_along_axis(s, safe_idx, axis=-1))),
    )

    # Positive term: sort the kept indices and count each distinct one once.
    keys = ops.sort(ops.where(valid, idx, -1), axis=-1)
    repeated = ops.concatenate(
        [
            ops.zeros_like(keys[..., :1], dtype="bool"),
            ops.equal(keys[..., 1:], keys[..., :-1]),
        ],
        axis=-1,
    )
    first = ops.logical_and(ops.greater_equal(keys, 0), ops.logical_not(repeated))
    s_pos = ops.take_along_axis(s, ops.where(first, keys, 0), axis=-1)
    pos_w = ops.cast(first, s.dtype)
    pos_term = num.log1p_sum_exp(-ops.where(first, s_pos, 0.0), pos_w)

    # Negative term: the scores with the positives knocked out. The scores get
    # one extra always-excluded column that absorbs writes of padding indices,
    # so every write is the same -inf and duplicates cannot conflict.
    lead_shape = ops.shape(s)[:-1]
    k = ops.shape(idx)[-1]
    rows = 1
    for d in lead_shape:
        rows = rows * d
    s2 = ops.reshape(s, (rows, n))
    neg_inf = ops.cast(float("-inf"), s.dtype)
    if mask_zero:
        # bert4keras' mask_zero: class 0 is no negative either.
        s2 = ops.concatenate(
            [ops.full((rows, 1), neg_inf, dtype=s.dtype), s2[:, 1:]], axis=-1
        )
    s_ext = ops.concatenate([s2, ops.full((rows, 1), neg_inf, dtype=s.dtype)], axis=-1)
    target = ops.reshape(ops.where(valid, idx, n), (rows, k))
    flat = ops.reshape(
        ops.arange(rows, dtype="int32")[:, None] * (n + 1) + target, (-1, 1)
    )
    s_flat = ops.scatter_update(
        ops.reshape(s_ext, (-1,)), flat, ops.full((rows * k,), neg_inf, dtype=s.dtype)
    )
    s_neg = ops.reshape(s_flat, (rows, n + 1))
    neg_valid = ops.logical_not(masking.is_masked(s_neg))
    neg_term = num.log1p_sum_exp(
        ops.where(neg_valid, s_neg, 0.0), ops.cast(neg_valid, s.dtype)
    )
    return pos_term + ops.reshape(neg_term, lead_shape)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class MultilabelCategoricalCrossentropy(PerSampleLoss):
    """Multi-label categorical cross-entropy (ZLPR) on scores.

    See `keras_rdkl.losses.multilabel_categorical_crossentropy` for the formula.
    With GlobalPointer logits `[B, heads, L, L]` and `axis=(-2, -1)` the default
    reduction averages over batch x heads, as the reference NER scripts do.
    With the default `axis=-1`, scores shaped like a GlobalPointer grid (rank
    4, square or unknown last two axes) give a `UserWarning` once per loss:
    each start row would be a problem of its own (pass `axis=3` to mean that).

    `sample_weight` weights samples: a `[B]` (or `[B, 1]`) weight multiplies
    every head of its sample, a `[B, heads]` weight applies as it is, and any
    other shape raises `ValueError` (Keras alone would line a `[B]` weight up
    with the heads axis).

    Args:
        axis: Class axis, or a tuple of axes merged into one class axis.
        reduction: As for every `keras.losses.Loss`.
        name: Optional name.
        dtype: Computation dtype (default `keras.backend.floatx()`).

    Example:

    >>> loss = MultilabelCategoricalCrossentropy(axis=(-2, -1))
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self,
        axis=-1,
        reduction="sum_over_batch_size",
        name="multilabel_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.axis = _config_axis(axis)

    def call(self, y_true, y_pred):
        _warn_span_grid_axis(self, y_pred)
        return multilabel_categorical_crossentropy(y_true, y_pred, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SparseMultilabelCategoricalCrossentropy(PerSampleLoss):
    """ZLPR with index labels; see `sparse_multilabel_categorical_crossentropy`.

    Args:
        mask_zero: If True, class 0 never counts, as in bert4keras: label
            index 0 is padding and class 0's score is no negative.
        axis: Class axis, or a tuple of axes merged into one class axis.
        reduction: As for every `keras.losses.Loss`.
        name: Optional name.
        dtype: Computation dtype.

    Example:

    >>> loss = SparseMultilabelCategoricalCrossentropy(mask_zero=True, axis=(-2, -1))
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self,
        mask_zero=False,
        axis=-1,
        reduction="sum_over_batch_size",
        name="sparse_multilabel_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.mask_zero = checks.check_bool(mask_zero, "mask_zero")
        self.axis = _config_axis(axis)

    def call(self, y_true, y_pred):
        _warn_span_grid_axis(self, y_pred)
        return sparse_multilabel_categorical_crossentropy(
            y_true, y_pred, mask_zero=self.mask_zero, axis=self.axis
        )

    def get_config(self):
        return {**super().get_config(), "mask_zero": self.mask_zero, "axis": self.axis}


def _warn_span_grid_axis(loss, y_pred):
    """Warns once per loss when the default `axis=-1` meets a GlobalPointer grid.

    Scores `[B, heads, L, L]` with `axis=-1` are a valid call (each start row
    is its own multi-label problem) that gives a plausible, wrong number for
    span extraction, whose class axis is the whole `L x L` grid. The check
    reads the static shape only.
    """
    shape = tuple(y_pred.shape)
    if (
        loss.axis != -1
        or len(shape) != 4
        or (None not in shape[-2:] and shape[-1] != shape[-2])
        or getattr(loss, "_warned_span_grid", False)
    ):
        return
    loss._warned_span_grid = True
    warnings.warn(
        f"`{type(loss).__name__}` received scores of shape {shape}, a "
        "GlobalPointer span grid `[batch, heads, L, L]`, with axis=-1: each start "
        "row is then a multi-label problem of its own. For span extraction pass "
        "axis=(-2, -1) (one problem per head over the L x L grid); to mean rows "
        "on purpose, pass axis=3. (Warned once per loss.)",
        stacklevel=3,
    )


def _config_axis(axis):
    return checks.check_axis_arg(axis)


def zlpr_probability(scores):
    """Maps ZLPR (multi-label cross-entropy) scores to probabilities.

    A model trained with `multilabel_categorical_crossentropy` outputs scores,
    not probabilities: class i is positive when `s_i > 0`. The matching
    probability is `sigmoid(2 * s)`, not `sigmoid(s)`.

    Formula:

    ```
    p = sigmoid(2 * s)        (p = 0 at masked scores)
    ```

    Why 2s: with a single class and a soft target t, the soft-label ZLPR loss
    is `log(1 + t exp(-s)) + log(1 + (1 - t) exp(s))`; its derivative in s
    vanishes where `(1 - t) exp(s) = t exp(-s)`, i.e. exactly at
    `t = sigmoid(2 s)`. The same choice `t_i = sigmoid(2 s_i)` makes every
    `t_i exp(-s_i)` equal `(1 - t_i) exp(s_i)`, so the two sums of the
    many-class soft loss are equal and its gradient vanishes there too (the
    loss is convex in s, so that is its minimum). That is a statement about
    the loss, not about a trained model: with many classes the label sets
    couple the scores, and a model trained on hard multi-hot labels is not
    guaranteed to output `s = logit(P(y_i = 1 | x)) / 2` (for one class and
    hard labels ZLPR is binary cross-entropy, whose optimum is
    `sigmoid(s) = P`). Treat `sigmoid(2 s)` as an approximation and check its
    calibration on held-out data (e.g. with
    `keras_rdkl.metrics.multilabel_calibration`) before reading the numbers
    as probabilities. The decision threshold is unchanged: `s > 0` iff
    `p > 0.5`.

    Masked scores (`-inf`, or at or below `keras_rdkl.MASK_THRESHOLD`, as
    GlobalPointer writes at padded or lower-triangle spans) map to exactly 0.

    Args:
        scores: ZLPR scores (logits) of any shape and float dtype.

    Returns:
        Probabilities in [0, 1], same shape, in float32 (float64 stays float64).

    Example:

    >>> p = zlpr_probability([[0.0, 1.0, -1e12]])
    >>> [round(float(v), 4) for v in p[0]]
    [0.5, 0.8808, 0.0]

    References:
        - Su Jianlin, "多标签'Softmax+交叉熵'的软标签版本" (2022).
    """
    s = num.to_compute(scores)
    valid = ops.logical_not(masking.is_masked(s))
    return ops.where(valid, ops.sigmoid(2.0 * ops.where(valid, s, 0.0)), 0.0)
