"""Every private Keras API keras-rdkl relies on, in one place.

Public Keras API is used wherever it exists; what remains is wrapped here so
that a Keras change breaks one module, caught by
tests/test_keras_internals.py.
"""


def set_keras_mask(x, mask):
    """Attaches a Keras mask to a loss tensor so the reduction skips it."""
    try:
        from keras.src.backend import set_keras_mask as _set
    except ImportError:  # pragma: no cover - older Keras
        x._keras_mask = mask
    else:
        _set(x, mask)
