"""The gamma-cross-entropy of TaiLr, dense and sparse label forms."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _keras_internals as internals
from keras_rdkl import _numerics as num
from keras_rdkl import masking
from keras_rdkl.losses._base import PerSampleLoss

# Finite stand-in for a masked logit inside the softmax (exp() of it is 0).
_EXCLUDED = -1e30

_GAMMA_DOC = """
    Each target token's negative log-likelihood is reweighted by its own
    probability, which damps the push towards over-confident predictions:

    Formula:

    ```
    w    = clip(p / (gamma + (1 - gamma) * p), threshold, 1)   # no gradient
    loss = -w * log(p)
    ```

    `gamma = 0` is plain cross-entropy (w = 1); `gamma = 1` gives w = p, the
    gradient of -p. With `threshold = 0` the gradient equals that of
    `-log(gamma + (1 - gamma) * p) / (1 - gamma)`; a threshold b > 0 keeps
    every weight at least b. `gamma` and `threshold` lie in [0, 1].
"""


def _check_fraction(value, name):
    """A number in [0, 1] (NumPy scalars too), or a scalar tensor / Variable."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        checks.check_unit_interval(value, name)
    elif not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise ValueError(
            f"`{name}` must be a number in [0, 1] or a scalar tensor. "
            f"Received: {name}={value!r}"
        )


def _validate(gamma, threshold):
    _check_fraction(gamma, "gamma")
    _check_fraction(threshold, "threshold")


def _check_number_in_unit_interval(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be a number in [0, 1]. Received: {name}={value!r}"
        )
    checks.check_unit_interval(value, name)
    return float(value)


def _check_ignore_class(ignore_class):
    if ignore_class is None:
        return None
    if isinstance(ignore_class, bool) or not isinstance(ignore_class, numbers.Integral):
        raise ValueError(
            "`ignore_class` must be None or an integer class id. "
            f"Received: ignore_class={ignore_class!r}"
        )
    return int(ignore_class)


def _check_probabilities(y_pred):
    checks.check_values(
        y_pred,
        "y_pred",
        checks.outside_unit_interval,
        "probabilities in [0, 1] with `from_logits=False` (pass "
        "`from_logits=True` for logits)",
    )


def _log_probs(y_pred, from_logits, axis):
    """log p over `axis`, and the classes that take part (None: all of them).

    With logits, classes at or below `MASK_THRESHOLD` (or -inf) drop out of
    the softmax: they get log p = 0 here and are excluded by the callers,
    with a zero gradient. A fully masked row stays finite (uniform over the
    finite stand-in, then zeroed).
    """
    if from_logits:
        valid = ops.logical_not(masking.is_masked(y_pred))
        log_p = ops.log_softmax(ops.where(valid, y_pred, _EXCLUDED), axis=axis)
        return ops.where(valid, log_p, 0.0), valid
    # Keras' convention for probabilities: renormalise, then clip.
    eps = keras.config.epsilon()
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(p, eps, 1.0 - eps)), None


@keras.saving.register_keras_serializable(package="keras_rdkl")
def gamma_weight(p, gamma, threshold=0.0):
    """The TaiLr weight `clip(p / (gamma + (1 - gamma) p), threshold, 1)`.

    Held constant (stop-gradient). Where `gamma + (1 - gamma) p` is 0 (gamma = 0
    and p underflowed to 0) the weight is its limit, 1.

    Args:
        p: Probabilities of the target tokens.
        gamma: Float in [0, 1] (or a scalar tensor / `keras.Variable`).
        threshold: Minimum weight b in [0, 1].

    Returns:
        The weights, same shape as `p`, with no gradient.

    Example:

    >>> w = gamma_weight(keras.ops.convert_to_tensor([0.0, 0.5, 1.0]), 0.5)
    >>> [round(float(v), 4) for v in w]
    [0.0, 0.6667, 1.0]
    """
    _validate(gamma, threshold)
    p = ops.convert_to_tensor(p)
    gamma = ops.cast(gamma, p.dtype)
    denom = gamma + (1.0 - gamma) * p
    positive = ops.greater(denom, 0.0)
    w = ops.where(positive, p / ops.where(positive, denom, 1.0), 1.0)
    w = ops.clip(w, ops.cast(threshold, p.dtype), 1.0)
    return ops.stop_gradient(w)


@keras.saving.register_keras_serializable(package="keras_rdkl")
def gamma_crossentropy(
    y_true,
    y_pred,
    gamma,
    threshold=0.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    """Gamma-cross-entropy (TaiLr) with one-hot or soft targets.
    {doc}
    With soft targets each class is weighted by its own probability:
    `-sum_i y_i * w_i * log(p_i)`. Label smoothing eps keeps Keras' meaning
    (targets `y * (1 - eps) + eps / C`), and only the `(1 - eps)` NLL part is
    reweighted: `(1 - eps) * sum_i y_i w_i (-log p_i) + eps / C * sum_i (-log p_i)`.

    Masked classes (logits at or below `keras_rdkl.MASK_THRESHOLD`, or `-inf`)
    drop out of the softmax and of the smoothing term: C counts the unmasked
    classes only, a target on a masked class contributes 0, and a fully masked
    row gives 0 with a zero gradient.

    Args:
        y_true: One-hot (or soft) targets in [0, 1], same shape as `y_pred`.
        y_pred: Probabilities, or logits with `from_logits=True`.
        gamma: Float in [0, 1] (or a scalar tensor / `keras.Variable`).
        threshold: Minimum weight b in [0, 1].
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in [0, 1].
        axis: The class axis.

    Returns:
        Per-sample loss: `y_pred`'s shape without `axis`.

    Raises:
        ValueError: for arguments out of range, shapes that cannot match, and
            (for inputs given as NumPy arrays or Python lists; backend
            tensors are never read) targets outside [0, 1] or, with
            `from_logits=False`, predictions outside [0, 1]. Tensor targets
            outside [0, 1] are used as they are.

    Example:

    >>> y_true = [[0.0, 1.0, 0.0]]
    >>> y_pred = [[1.0, 3.0, -1.0]]
    >>> loss = gamma_crossentropy(y_true, y_pred, gamma=0.5, from_logits=True)
    >>> [round(float(v), 4) for v in loss]
    [0.1327]

    References:
        - Ji et al., "Tailoring Language Generation Models under Total
          Variation Distance", ICLR 2023.
    """
    _validate(gamma, threshold)
    label_smoothing = _check_number_in_unit_interval(label_smoothing, "label_smoothing")
    from_logits = checks.check_bool(from_logits, "from_logits")
    checks.check_values(
        y_true, "y_true", checks.outside_unit_interval, "targets in [0, 1]"
    )
    if not from_logits:
        _check_probabilities(y_pred)
    y_pred = num.to_compute(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    checks.check_same_shape(y_true, y_pred)
    axis = checks.check_single_axis(axis, len(y_pred.shape))
    log_p, valid = _log_probs(y_pred, from_logits, axis)
    w = gamma_weight(ops.exp(log_p), gamma, threshold)
    # `0.0 - x` rather than `-x`: an empty (fully masked) row gives +0, not -0.
    nll = 0.0 - ops.sum(y_true * w * log_p, axis=axis)
    if not label_smoothing:
        return nll
    if valid is None:
        n_classes = ops.cast(ops.shape(y_pred)[axis], y_pred.dtype)
    else:
        n_classes = ops.maximum(ops.sum(ops.cast(valid, y_pred.dtype), axis=axis), 1.0)
    smooth = (0.0 - ops.sum(log_p, axis=axis)) / n_classes
    return (1.0 - label_smoothing) * nll + label_smoothing * smooth


def _bad_labels(num_classes, ignore_class):
    """Flags class ids that are not integers in [0, num_classes) nor ignore_class."""

    def bad(t):
        ok = ops.logical_and(ops.greater_equal(t, 0), ops.less(t, num_classes))
        if not _is_int_dtype(t.dtype):
            ok = ops.logical_and(ok, ops.equal(t, ops.floor(t)))
        if ignore_class is not None:
            ok = ops.logical_or(ok, ops.equal(t, ignore_class))
        return ops.logical_not(ok)

    return bad


def _bad_label_values(num_classes, ignore_class):
    """`_bad_labels` for NumPy arrays (the host check)."""

    def bad(a):
        with np.errstate(invalid="ignore"):
            ok = (a >= 0) & (a < num_classes) & (a == np.floor(a))
            if ignore_class is not None:
                ok = ok | (a == ignore_class)
        return np.logical_not(ok)

    return bad


def _is_int_dtype(dtype):
    if not isinstance(dtype, str):
        dtype = keras.backend.standardize_dtype(dtype)
    return "int" in dtype


@keras.saving.register_keras_serializable(package="keras_rdkl")
def sparse_gamma_crossentropy(
    y_true,
    y_pred,
    gamma,
    threshold=0.0,
    from_logits=False,
    ignore_class=None,
    axis=-1,
):
    """Gamma-cross-entropy (TaiLr) with integer targets.
    {doc}
    Masked classes (logits at or below `keras_rdkl.MASK_THRESHOLD`, or `-inf`)
    drop out of the softmax; a target on a masked class contributes 0.

    Class ids must be integers in `[0, C)` (or `ignore_class`); integer-valued
    floats are accepted. `SparseGammaCrossentropy` hands the labels over in
    their own dtype (never cast to its float dtype, where float16 or
    bfloat16 would move an id to another class). Values are checked only
    where they are already on the host: an id outside that range (including
    `-1`, which would otherwise pick the last class) given as a NumPy array
    or Python list raises `ValueError`. Backend tensors (eager or traced, and
    so everything inside `fit`) are never read, since that would be a host
    synchronisation: there such a token's loss is NaN on every backend, never
    a silently chosen class.

    Args:
        y_true: Integer class ids, `y_pred`'s shape without `axis` (a trailing
            axis of size 1 is squeezed, as in Keras).
        y_pred: Probabilities, or logits with `from_logits=True`.
        gamma: Float in [0, 1] (or a scalar tensor / `keras.Variable`).
        threshold: Minimum weight b in [0, 1].
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional id of targets to ignore (padding tokens): their
            loss is 0 and they are masked out of the reduction, as in
            `keras.losses.SparseCategoricalCrossentropy`. It may lie outside
            `[0, C)` (e.g. `-1`).
        axis: The class axis.

    Returns:
        Per-token loss: `y_pred`'s shape without `axis`.

    Example:

    >>> loss = sparse_gamma_crossentropy([1, 0], [[1.0, 3.0], [0.5, 0.1]],
    ...                                  gamma=0.1, from_logits=True)
    >>> [round(float(v), 4) for v in loss]
    [0.1252, 0.4808]

    References:
        - Ji et al., "Tailoring Language Generation Models under Total
          Variation Distance", ICLR 2023.
    """
    _validate(gamma, threshold)
    from_logits = checks.check_bool(from_logits, "from_logits")
    ignore_class = _check_ignore_class(ignore_class)
    if not from_logits:
        _check_probabilities(y_pred)
    if hasattr(y_true, "dtype") and not isinstance(y_true, np.ndarray):
        dtype = keras.backend.standardize_dtype(y_true.dtype)
    else:
        dtype = np.asarray(y_true).dtype.name
    if not (_is_int_dtype(dtype) or "float" in dtype) or dtype == "bool":
        raise ValueError(
            "`y_true` must hold integer class ids (an integer or float dtype). "
            f"Received: y_true.dtype={dtype}"
        )
    raw_true = y_true  # values checked only as given (NumPy, lists)
    y_pred = num.to_compute(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    rank = len(y_pred.shape)
    class_axis = checks.check_single_axis(axis, rank)
    if len(y_true.shape) == rank and y_true.shape[class_axis] == 1:
        y_true = ops.squeeze(y_true, axis=class_axis)
    if class_axis != rank - 1:
        y_pred = ops.moveaxis(y_pred, class_axis, -1)
    expected = tuple(y_pred.shape[:-1])
    if len(y_true.shape) != len(expected) or any(
        i is not None and j is not None and i != j
        for i, j in zip(y_true.shape, expected, strict=True)
    ):
        raise ValueError(
            "`y_true` must hold one class id per sample: the shape of `y_pred` "
            f"without axis {axis}. Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    num_classes = y_pred.shape[-1]
    if num_classes is not None:
        allowed = f"integer class ids in [0, {num_classes})"
        if ignore_class is not None:
            allowed += f" or ignore_class={ignore_class}"
        checks.check_values(
            raw_true, "y_true", _bad_label_values(num_classes, ignore_class), allowed
        )
    # In-graph: an id that is not a valid class gives NaN (identical on every
    # backend), computed before any cast so huge values cannot wrap around.
    if num_classes is None:
        num_classes = ops.shape(y_pred)[-1]
    invalid = _bad_labels(num_classes, None)(y_true)
    ignored = None
    if ignore_class is not None:
        ignored = ops.equal(y_true, ignore_class)
        invalid = ops.logical_and(invalid, ops.logical_not(ignored))
    labels = ops.cast(ops.where(invalid, 0, y_true), "int32")
    if ignored is not None:
        labels = ops.where(ignored, 0, labels)
        y_pred = ops.where(ops.expand_dims(ignored, -1), 1.0, y_pred)
    log_p, _ = _log_probs(y_pred, from_logits, -1)
    log_pt = ops.squeeze(ops.take_along_axis(log_p, labels[..., None], axis=-1), -1)
    w = gamma_weight(ops.exp(log_pt), gamma, threshold)
    loss = ops.where(invalid, float("nan"), w * (0.0 - log_pt))
    if ignored is not None:
        keep = ops.logical_not(ignored)
        loss = ops.where(keep, loss, 0.0)
        internals.set_keras_mask(loss, keep)
    return loss


gamma_crossentropy.__doc__ = gamma_crossentropy.__doc__.replace("{doc}", _GAMMA_DOC)
sparse_gamma_crossentropy.__doc__ = sparse_gamma_crossentropy.__doc__.replace(
    "{doc}", _GAMMA_DOC
)


class _GammaLoss(PerSampleLoss):
    """Holds gamma in a non-trainable variable so it can move during training."""

    def __init__(self, gamma, threshold, from_logits, axis, reduction, name, dtype):
        gamma = _check_number_in_unit_interval(gamma, "gamma")
        threshold = _check_number_in_unit_interval(threshold, "threshold")
        from_logits = checks.check_bool(from_logits, "from_logits")
        axis = checks.check_axis_arg(axis, allow_tuple=False)
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.gamma_variable = keras.Variable(
            gamma, trainable=False, dtype="float32", name="gamma"
        )
        self.threshold = threshold
        self.from_logits = from_logits
        self.axis = axis

    def _check_y_pred_values(self, y_pred):
        if not self.from_logits:
            _check_probabilities(y_pred)

    @property
    def gamma(self):
        """The current gamma (a Python float); assign to change it."""
        return float(ops.convert_to_numpy(self.gamma_variable))

    @gamma.setter
    def gamma(self, value):
        self.gamma_variable.assign(_check_number_in_unit_interval(value, "gamma"))

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "threshold": self.threshold,
            "from_logits": self.from_logits,
            "axis": self.axis,
        }


@keras.saving.register_keras_serializable(package="keras_rdkl")
class GammaCrossentropy(_GammaLoss):
    """Gamma-cross-entropy (TaiLr) with one-hot targets; see `gamma_crossentropy`.

    `gamma` lives in `self.gamma_variable`, so assigning `loss.gamma = x` (or
    using `keras_rdkl.callbacks.GammaScheduler`) changes it mid-training
    without recompiling.

    Args:
        gamma: Float in [0, 1]. 0 is plain cross-entropy.
        threshold: Minimum weight in [0, 1].
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in [0, 1]; only the NLL part is reweighted.
        axis: The class axis.
        reduction, name, dtype: As for every `keras.losses.Loss`.

    Example:

    >>> loss = GammaCrossentropy(gamma=0.1, threshold=0.3, from_logits=True)
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self,
        gamma,
        threshold=0.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="gamma_crossentropy",
        dtype=None,
    ):
        label_smoothing = _check_number_in_unit_interval(
            label_smoothing, "label_smoothing"
        )
        super().__init__(gamma, threshold, from_logits, axis, reduction, name, dtype)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        return gamma_crossentropy(
            y_true,
            y_pred,
            self.gamma_variable,
            threshold=self.threshold,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
            axis=self.axis,
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SparseGammaCrossentropy(_GammaLoss):
    """Gamma-cross-entropy (TaiLr) with integer targets; see `sparse_gamma_crossentropy`.

    Args:
        gamma: Float in [0, 1]. 0 is plain sparse cross-entropy.
        threshold: Minimum weight in [0, 1].
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional target id to ignore (padding).
        axis: The class axis.
        reduction, name, dtype: As for every `keras.losses.Loss`.

    Example:

    >>> loss = SparseGammaCrossentropy(gamma=0.1, threshold=0.3, from_logits=True)
    >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self,
        gamma,
        threshold=0.0,
        from_logits=False,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="sparse_gamma_crossentropy",
        dtype=None,
    ):
        super().__init__(gamma, threshold, from_logits, axis, reduction, name, dtype)
        self.ignore_class = _check_ignore_class(ignore_class)

    def call(self, y_true, y_pred):
        return sparse_gamma_crossentropy(
            y_true,
            y_pred,
            self.gamma_variable,
            threshold=self.threshold,
            from_logits=self.from_logits,
            ignore_class=self.ignore_class,
            axis=self.axis,
        )

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}
