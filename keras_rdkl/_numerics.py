"""Numeric helpers shared by every keras_rdkl loss, layer and metric.

The masking convention of the whole package lives here:

* Layers write :func:`mask_value` (a large, finite negative chosen per dtype)
  at masked positions, so outputs stay finite under ``mixed_float16``.
* Losses, divergences and metrics treat any score ``<= MASK_THRESHOLD``
  (including ``-inf``) as excluded.  ``MASK_THRESHOLD`` sits above the
  float16 mask value and far below any logit a real model produces, so
  ordinary logits of magnitude up to ``1e4`` are never mistaken for masks.
"""

import keras
from keras import ops

# Finite masking constants. float16 cannot hold 1e12 (it overflows to -inf,
# and -inf - -inf is NaN), so it gets a value well inside its range.
_MASK_VALUES = {"float16": -3.0e4}
_DEFAULT_MASK_VALUE = -1.0e12
MASK_THRESHOLD = -2.0e4


def mask_value(dtype):
    """The large negative written at masked positions for `dtype`."""
    dtype = keras.backend.standardize_dtype(dtype)
    return _MASK_VALUES.get(dtype, _DEFAULT_MASK_VALUE)


def compute_dtype(dtype):
    """float64 stays float64; every other dtype computes in float32."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float64" if dtype == "float64" else "float32"


def to_compute(x):
    """Converts `x` to a tensor in the package's compute dtype."""
    x = ops.convert_to_tensor(x)
    return ops.cast(x, compute_dtype(x.dtype))


def is_masked(x):
    """Boolean tensor: True where a score counts as masked."""
    return ops.less_equal(x, MASK_THRESHOLD)


def normalize_axes(axis, rank, arg_name="axis"):
    """Returns the sorted, non-negative tuple of axes named by `axis`."""
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if not axes:
        raise ValueError(f"`{arg_name}` must name at least one axis. Received: {axis}")
    out = []
    for a in axes:
        if not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(
                f"`{arg_name}` must hold integers in [-{rank}, {rank}) for an input "
                f"of rank {rank}. Received: {arg_name}={axis}"
            )
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"`{arg_name}` names an axis twice. Received: {arg_name}={axis}")
    return tuple(sorted(out))


def flatten_class_axes(x, axis):
    """Moves the class axes named by `axis` to the end and merges them.

    `x` of shape [..., L, L] with `axis=(-2, -1)` becomes [..., L * L]; axes
    that are not trailing are transposed to the end first.
    """
    rank = len(x.shape)
    axes = normalize_axes(axis, rank)
    others = [i for i in range(rank) if i not in axes]
    if list(axes) != list(range(rank - len(axes), rank)):
        x = ops.transpose(x, others + list(axes))
    if len(axes) == 1:
        return x
    shape = ops.shape(x)
    lead = [shape[i] for i in range(len(others))]
    return ops.reshape(x, lead + [-1])


def check_same_shape(y_true, y_pred, y_true_name="y_true", y_pred_name="y_pred"):
    """Raises ValueError when the static shapes of two tensors cannot match."""
    a, b = tuple(y_true.shape), tuple(y_pred.shape)
    if len(a) != len(b) or any(
        i is not None and j is not None and i != j for i, j in zip(a, b, strict=True)
    ):
        raise ValueError(
            f"`{y_true_name}` and `{y_pred_name}` must have the same shape. "
            f"Received: {y_true_name}.shape={a}, {y_pred_name}.shape={b}"
        )


# Finite stand-in for -inf in log-space sums (float32 and float64 hold it).
_EXCLUDED = -1e30


def fused_log_space():
    """True where `log1p_sum_exp_log_space` is the faster form (all but eager torch)."""
    return keras.backend.backend() != "torch"


def log1p_sum_exp_log_space(z, active, axis=-1):
    """log(1 + sum(exp(z))) over the `active` entries of `axis`; 0 for a row with none.

    `z` already holds `x + log(weight)`. Inactive entries are replaced by a
    finite -1e30, so a row with no active entry has a logsumexp near -1e30:
    softplus gives 0 and its gradient sigmoid(-1e30) = 0, never NaN.
    """
    z = ops.where(active, z, _EXCLUDED)
    return ops.softplus(ops.logsumexp(z, axis=axis))


def log1p_sum_exp(x, weights, axis=-1):
    """log(1 + sum(weights * exp(x))) over `axis`, stable for any finite `x`.

    Entries whose weight is 0 drop out exactly, whatever `x` holds there
    (callers pass masked scores through `ops.where` first, so no NaN reaches
    the gradient). The implicit "1 +" is the zero logit of ZLPR.

    Two equivalent forms, picked for speed per backend (measured in
    bench/losses.py): compiled backends (XLA, tf.function) fuse
    `softplus(logsumexp(x + log w))` best; eager PyTorch runs fewer kernels
    with one explicit max-shifted sum of `w * exp(x - m)`.
    """
    active = ops.greater(weights, 0)
    if fused_log_space():
        log_w = ops.log(ops.where(active, weights, 1.0))
        return log1p_sum_exp_log_space(x + log_w, active, axis=axis)
    neg_inf = ops.cast(float("-inf"), x.dtype)
    x_active = ops.where(active, x, neg_inf)
    m = ops.maximum(ops.max(x_active, axis=axis, keepdims=True), 0.0)
    m = ops.stop_gradient(m)
    total = ops.exp(-m) + ops.sum(
        weights * ops.exp(ops.where(active, x - m, neg_inf)), axis=axis, keepdims=True
    )
    out = ops.log(total) + m
    # Mathematically >= 0; guard the last ulp of rounding.
    return ops.maximum(ops.squeeze(out, axis=axis), 0.0)


def set_keras_mask(x, mask):
    """Attaches a Keras mask to a loss tensor so the reduction skips it."""
    try:
        from keras.src.backend import set_keras_mask as _set
    except ImportError:  # pragma: no cover - older Keras
        x._keras_mask = mask
    else:
        _set(x, mask)


def check_unit_interval(value, name):
    """ValueError unless the Python number `value` lies in [0, 1]."""
    if isinstance(value, (int, float)) and not (0.0 <= float(value) <= 1.0):
        raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={value}")


def check_positive(value, name):
    """ValueError unless the Python number `value` is finite and > 0."""
    if isinstance(value, (int, float)) and not (
        float(value) > 0.0 and float(value) != float("inf")
    ):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value}"
        )
