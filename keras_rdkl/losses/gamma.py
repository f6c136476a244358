"""The gamma-cross-entropy of TaiLr, dense and sparse label forms."""

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _keras_internals as internals
from keras_rdkl import _numerics as num

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


def _validate(gamma, threshold):
    checks.check_unit_interval(gamma, "gamma")
    checks.check_unit_interval(threshold, "threshold")


def _log_probs(y_pred, from_logits, axis):
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    # Keras' convention for probabilities: renormalise, then clip.
    eps = keras.config.epsilon()
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(p, eps, 1.0 - eps))


def gamma_weight(p, gamma, threshold=0.0):
    """The TaiLr weight `clip(p / (gamma + (1 - gamma) p), threshold, 1)`.

    Held constant (stop-gradient). Where `gamma + (1 - gamma) p` is 0 (gamma = 0
    and p underflowed to 0) the weight is its limit, 1.
    """
    gamma = ops.cast(gamma, p.dtype)
    denom = gamma + (1.0 - gamma) * p
    positive = ops.greater(denom, 0.0)
    w = ops.where(positive, p / ops.where(positive, denom, 1.0), 1.0)
    w = ops.clip(w, ops.cast(threshold, p.dtype), 1.0)
    return ops.stop_gradient(w)


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

    Args:
        y_true: One-hot (or soft) targets, same shape as `y_pred`.
        y_pred: Probabilities, or logits with `from_logits=True`.
        gamma: Float in [0, 1] (or a scalar tensor / `keras.Variable`).
        threshold: Minimum weight b in [0, 1].
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in [0, 1].
        axis: The class axis.

    Returns:
        Per-sample loss: `y_pred`'s shape without `axis`.

    Example:

    >>> y_true = [[0.0, 1.0, 0.0]]
    >>> y_pred = [[1.0, 3.0, -1.0]]
    >>> loss = gamma_crossentropy(y_true, y_pred, gamma=0.5, from_logits=True)
    >>> tuple(loss.shape)
    (1,)

    References:
        - Ji et al., "Tailoring Language Generation Models under Total
          Variation Distance", ICLR 2023.
    """
    _validate(gamma, threshold)
    checks.check_unit_interval(label_smoothing, "label_smoothing")
    y_pred = num.to_compute(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    checks.check_same_shape(y_true, y_pred)
    log_p = _log_probs(y_pred, from_logits, axis)
    w = gamma_weight(ops.exp(log_p), gamma, threshold)
    nll = -ops.sum(y_true * w * log_p, axis=axis)
    if label_smoothing:
        n_classes = ops.cast(ops.shape(y_pred)[axis], y_pred.dtype)
        smooth = -ops.sum(log_p, axis=axis) / n_classes
        return (1.0 - label_smoothing) * nll + label_smoothing * smooth
    return nll


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
    Args:
        y_true: Integer class ids, `y_pred`'s shape without `axis` (a trailing
            axis of size 1 is squeezed, as in Keras).
        y_pred: Probabilities, or logits with `from_logits=True`.
        gamma: Float in [0, 1] (or a scalar tensor / `keras.Variable`).
        threshold: Minimum weight b in [0, 1].
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional id of targets to ignore (padding tokens): their
            loss is 0 and they are masked out of the reduction, as in
            `keras.losses.SparseCategoricalCrossentropy`.
        axis: The class axis.

    Returns:
        Per-token loss: `y_pred`'s shape without `axis`.

    Example:

    >>> loss = sparse_gamma_crossentropy([1, 0], [[1.0, 3.0], [0.5, 0.1]],
    ...                                  gamma=0.1, from_logits=True)
    >>> tuple(loss.shape)
    (2,)

    References:
        - Ji et al., "Tailoring Language Generation Models under Total
          Variation Distance", ICLR 2023.
    """
    _validate(gamma, threshold)
    y_pred = num.to_compute(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    rank = len(y_pred.shape)
    class_axis = checks.normalize_axes(axis, rank)[0]
    if len(y_true.shape) == rank and y_true.shape[class_axis] == 1:
        y_true = ops.squeeze(y_true, axis=class_axis)
    if class_axis != rank - 1:
        y_pred = ops.moveaxis(y_pred, class_axis, -1)
    expected = tuple(y_pred.shape[:-1])
    if len(y_true.shape) != len(expected) or any(
        i is not None and j is not None and i != j for i, j in zip(y_true.shape, expected, strict=True)
    ):
        raise ValueError(
            "`y_true` must hold one class id per sample: the shape of `y_pred` "
            f"without axis {axis}. Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    labels = ops.cast(y_true, "int32")
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(labels, int(ignore_class))
        labels = ops.where(valid, labels, 0)
        y_pred = ops.where(ops.expand_dims(valid, -1), y_pred, 1.0)
    log_p = _log_probs(y_pred, from_logits, -1)
    log_pt = ops.squeeze(ops.take_along_axis(log_p, labels[..., None], axis=-1), -1)
    w = gamma_weight(ops.exp(log_pt), gamma, threshold)
    loss = -w * log_pt
    if valid is not None:
        loss = ops.where(valid, loss, 0.0)
        internals.set_keras_mask(loss, valid)
    return loss


gamma_crossentropy.__doc__ = gamma_crossentropy.__doc__.replace("{doc}", _GAMMA_DOC)
sparse_gamma_crossentropy.__doc__ = sparse_gamma_crossentropy.__doc__.replace(
    "{doc}", _GAMMA_DOC
)


class _GammaLoss(keras.losses.Loss):
    """Holds gamma in a non-trainable variable so it can move during training."""

    def __init__(self, gamma, threshold, from_logits, axis, reduction, name, dtype):
        if not isinstance(gamma, (int, float)):
            raise ValueError(f"`gamma` must be a float in [0, 1]. Received: gamma={gamma}")
        _validate(gamma, threshold)
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.gamma_variable = keras.Variable(
            float(gamma), trainable=False, dtype="float32", name="gamma"
        )
        self.threshold = float(threshold)
        self.from_logits = bool(from_logits)
        self.axis = axis

    @property
    def gamma(self):
        """The current gamma (a Python float); assign to change it."""
        return float(ops.convert_to_numpy(self.gamma_variable))

    @gamma.setter
    def gamma(self, value):
        checks.check_unit_interval(value, "gamma")
        self.gamma_variable.assign(float(value))

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
        checks.check_unit_interval(label_smoothing, "label_smoothing")
        super().__init__(gamma, threshold, from_logits, axis, reduction, name, dtype)
        self.label_smoothing = float(label_smoothing)

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
        self.ignore_class = None if ignore_class is None else int(ignore_class)

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
