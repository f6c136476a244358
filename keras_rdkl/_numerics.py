"""Numeric kernels shared by keras_rdkl losses, layers and metrics.

Compute dtypes, class-axis flattening and the stable `log(1 + sum(w e^x))`
kernels. The masking contract lives in `keras_rdkl.masking`; argument
checks in `keras_rdkl._checks`.
"""

import keras
from keras import ops

from keras_rdkl._checks import normalize_axes


def compute_dtype(dtype):
    """float64 stays float64; every other dtype computes in float32."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float64" if dtype == "float64" else "float32"


def to_compute(x):
    """Converts `x` to a tensor in the package's compute dtype."""
    x = ops.convert_to_tensor(x)
    return ops.cast(x, compute_dtype(x.dtype))


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
    # NaN weights count as active, so both forms give NaN for them.
    active = ops.logical_not(ops.less_equal(weights, 0))
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
