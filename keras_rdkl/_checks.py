"""Argument checks shared by every public entry point (private).

Each raises `ValueError` naming the argument, the value received and what is
allowed, before any backend op runs.
"""

import numbers


def check_positive_int(value, name):
    """Returns `int(value)`; ValueError unless `value` is an integer > 0.

    NumPy integers (`np.int64(3)`) are integers; bools and floats are not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


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

def check_threshold(value, name="threshold"):
    """Returns `float(value)`; ValueError unless a finite real > MASK_THRESHOLD.

    A decision threshold on span or label scores: scores at or below
    `keras_rdkl.MASK_THRESHOLD` are masked and never predicted, so a lower
    threshold could not mean what it says. NumPy floats and ints are real
    numbers; bools, strings and NaN are not.
    """
    from keras_rdkl.masking import MASK_THRESHOLD

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be a real number. Received: {name}={value!r}"
        )
    if not MASK_THRESHOLD < float(value) < float("inf"):
        raise ValueError(
            f"`{name}` must be finite and > MASK_THRESHOLD={MASK_THRESHOLD}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def outside_unit_interval(t):
    """Boolean tensor: True where `t` is not in [0, 1] (NaN included)."""
    from keras import ops

    return ops.logical_not(
        ops.logical_and(ops.greater_equal(t, 0.0), ops.less_equal(t, 1.0))
    )


def check_positive_number(value, name):
    """Returns `float(value)`; ValueError unless it is a finite number > 0.

    NumPy scalars count as numbers; bools, strings and tensors do not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value!r}"
        )
    check_positive(value, name)
    return float(value)


def check_single_axis(axis, rank, arg_name="axis"):
    """Returns the non-negative class axis named by the int `axis`."""
    if isinstance(axis, (tuple, list)):
        raise ValueError(
            f"`{arg_name}` must be a single int here. Received: {arg_name}={axis!r}"
        )
    return normalize_axes(axis, rank, arg_name)[0]
