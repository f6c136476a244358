"""The masking contract of keras-rdkl.

* Layers write :func:`mask_value` (a large, finite negative chosen per dtype)
  at masked positions, so outputs stay finite under ``mixed_float16``.
* Losses, divergences and metrics treat any score ``<= MASK_THRESHOLD``
  (including ``-inf``) as excluded: it drops out of every sum, with no NaN in
  value or gradient. ``MASK_THRESHOLD`` sits above the float16 mask value and
  far below any logit a real model produces, so ordinary logits of magnitude
  up to ``1e4`` are never mistaken for masks.

>>> from keras_rdkl.masking import mask_value, MASK_THRESHOLD
>>> mask_value("float32"), mask_value("float16"), MASK_THRESHOLD
(-1000000000000.0, -30000.0, -20000.0)
"""

import keras
from keras import ops

__all__ = ["MASK_THRESHOLD", "is_masked", "mask_value"]

# Finite masking constants. float16 cannot hold 1e12 (it overflows to -inf,
# and -inf - -inf is NaN), so it gets a value well inside its range.
_MASK_VALUES = {"float16": -3.0e4}
_DEFAULT_MASK_VALUE = -1.0e12
MASK_THRESHOLD = -2.0e4


def mask_value(dtype):
    """The large negative written at masked positions for `dtype`."""
    dtype = keras.backend.standardize_dtype(dtype)
    return _MASK_VALUES.get(dtype, _DEFAULT_MASK_VALUE)


def is_masked(x):
    """Boolean tensor: True where a score counts as masked."""
    return ops.less_equal(x, MASK_THRESHOLD)
