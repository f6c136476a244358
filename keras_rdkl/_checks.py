"""Argument checks shared by every public entry point (private).

Each raises `ValueError` naming the argument, the value received and what is
allowed, before any backend op runs. Tensor values are checked only where
they are already on the host (see `check_values`): never for backend
tensors, so no check reads a value back inside a training step.
"""

import numbers

import numpy as np


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
        if (
            isinstance(a, bool)
            or not isinstance(a, numbers.Integral)
            or not -rank <= a < rank
        ):
            raise ValueError(
                f"`{arg_name}` must hold integers in [-{rank}, {rank}) for an input "
                f"of rank {rank}. Received: {arg_name}={axis}"
            )
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise ValueError(
            f"`{arg_name}` names an axis twice. Received: {arg_name}={axis}"
        )
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
    if isinstance(value, numbers.Real) and not (0.0 <= float(value) <= 1.0):
        raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={value}")


def check_positive(value, name):
    """ValueError unless the Python number `value` is finite and > 0."""
    if isinstance(value, numbers.Real) and not (
        float(value) > 0.0 and float(value) != float("inf")
    ):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value}"
        )


def check_axis_arg(axis, name="axis", allow_tuple=True):
    """Returns `axis` as an int (or a tuple of ints); ValueError otherwise.

    For constructors, where the input rank is not known yet: NumPy integers
    count as integers, bools do not; a tuple must be non-empty and name each
    axis once (the range is checked against the input at call time).
    """

    def is_int(a):
        return isinstance(a, numbers.Integral) and not isinstance(a, bool)

    allowed = (
        "an int or a non-empty tuple of distinct ints" if allow_tuple else "an int"
    )
    if is_int(axis):
        return int(axis)
    if (
        allow_tuple
        and isinstance(axis, (tuple, list))
        and axis
        and all(is_int(a) for a in axis)
        and len({int(a) for a in axis}) == len(axis)
    ):
        return tuple(int(a) for a in axis)
    raise ValueError(f"`{name}` must be {allowed}. Received: {name}={axis!r}")


def check_bool(value, name):
    """Returns `bool(value)`; ValueError unless `value` is a bool (or NumPy bool)."""
    if isinstance(value, bool) or (
        type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    ):
        return bool(value)
    raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")


def is_host_value(x):
    """True when `x` already lives on the host: a Python number, list or tuple,
    or a NumPy array or scalar.

    Backend tensors (eager or traced, on any device) and `keras.Variable`s are
    not host values: reading them would be a host synchronisation, on every
    step of `fit` on PyTorch, where the loss gets eager tensors.
    """
    return isinstance(x, (numbers.Number, list, tuple)) or type(x).__module__ == "numpy"


def check_values(x, name, bad_fn, allowed):
    """ValueError when the host value `x` holds a value that `bad_fn` flags.

    The value rule of the whole package: values are checked only where they
    are already on the host (Python numbers and lists, NumPy arrays), with
    NumPy; backend tensors, eager or traced, are never read. So nothing is
    read inside a training step (Keras hands tensors to losses and metrics),
    every backend computes the same documented value for out-of-range
    tensors, and a user calling a loss or metric on NumPy data still gets the
    error.

    `bad_fn(a)` maps a NumPy array to a boolean array (True where the value is
    not allowed), written with NumPy.
    """
    if not is_host_value(x):
        return
    a = np.asarray(x)
    if a.dtype == object:
        return  # ragged or mixed: leave it to convert_to_tensor
    bad = np.asarray(bad_fn(a), dtype=bool)
    if not bad.any():
        return
    values = np.broadcast_to(a, bad.shape)[bad]
    raise ValueError(
        f"`{name}` must hold {allowed}. Received: {name} holds {values[0].item()!r} "
        f"({values.size} value(s) outside that)"
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
        raise ValueError(f"`{name}` must be a real number. Received: {name}={value!r}")
    if not MASK_THRESHOLD < float(value) < float("inf"):
        raise ValueError(
            f"`{name}` must be finite and > MASK_THRESHOLD={MASK_THRESHOLD}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def outside_unit_interval(a):
    """Boolean array: True where the NumPy array `a` is not in [0, 1] (NaN too)."""
    with np.errstate(invalid="ignore"):
        return np.logical_not((a >= 0.0) & (a <= 1.0))


def not_integer(a):
    """Boolean array: True where the NumPy array `a` holds a fraction or NaN."""
    if a.dtype.kind in "iub":
        return np.zeros(a.shape, bool)
    with np.errstate(invalid="ignore"):
        return np.logical_not(a == np.floor(a))


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


def check_even_positive_int(value, name):
    """Returns `int(value)`; ValueError unless a positive even integer."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value <= 0
        or value % 2
    ):
        raise ValueError(
            f"`{name}` must be a positive even integer (sine and cosine "
            f"channels come in pairs). Received: {name}={value!r}"
        )
    return int(value)


def check_int(value, name, minimum=None):
    """Returns `int(value)`; ValueError unless an integer (>= `minimum` if given).

    Python and NumPy integers count; bools and floats (even 2.0) do not, so a
    float position is never silently truncated.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"`{name}` must be an integer. Received: {name}={value!r} "
            f"({type(value).__name__})"
        )
    if minimum is not None and value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return int(value)
