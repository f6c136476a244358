"""Numeric kernels shared by keras_rdkl losses, layers and metrics.

Compute dtypes and class-axis flattening. The stable `log(1 + sum(w e^x))`
sums live in `keras_rdkl._kernels` with the other numerics of the loss
family; the masking contract lives in `keras_rdkl.masking`; argument checks
in `keras_rdkl._checks`.
"""

import keras
from keras import ops

from keras_rdkl import _kernels
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


def log1p_sum_exp(x, weights, axis=-1):
    """log(1 + sum(weights * exp(x))) over `axis`, stable for any finite `x`.

    Entries whose weight is 0 drop out exactly; see `keras_rdkl._kernels`.
    """
    return _kernels.log1p_sum_exp(x, weights, axis=axis)
