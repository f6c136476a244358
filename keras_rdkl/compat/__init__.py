"""keras_rdkl.compat: drop-in names for code written against other libraries."""

from keras_rdkl.compat import bert4keras

__all__ = ["bert4keras"]
