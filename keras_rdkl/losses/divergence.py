"""Symmetric KL divergences between two logits tensors (sigmoid and softmax)."""

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _kernels
from keras_rdkl import _numerics as num
from keras_rdkl import masking
from keras_rdkl.losses._base import PerSampleLoss

_PROBABILITIES = "probabilities in [0, 1] with `from_logits=False`"


def _checked_pair(y_true, y_pred, temperature, names=("y_true", "y_pred")):
    """Both tensors in the compute dtype, after the argument checks."""
    checks.check_positive_number(temperature, "temperature")
    y_pred = num.to_compute(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    checks.check_same_shape(y_true, y_pred, *names)
    return y_pred, y_true


def _pair(y_true, y_pred, temperature, names=("y_true", "y_pred")):
    """Both tensors in the compute dtype, and where neither is masked.

    NaN counts as unmasked (it propagates to the result).
    """
    y_pred, y_true = _checked_pair(y_true, y_pred, temperature, names)
    # Masks are read before the temperature rescales the scores.
    valid = ops.logical_not(
        ops.logical_or(masking.is_masked(y_true), masking.is_masked(y_pred))
    )
    return y_pred, y_true, valid


def _scaled(x, valid, fill, temperature):
    """`x / temperature` where valid, `fill` elsewhere (no division for T = 1)."""
    if float(temperature) != 1.0:
        x = x / temperature
    return ops.where(valid, x, fill)


@keras.saving.register_keras_serializable(package="keras_rdkl")
def sigmoid_kl_divergence(y_true, y_pred, temperature=1.0, axis=-1):
    """Symmetric sigmoid KL divergence between two logits tensors.

    The sum over logits of the Bernoulli symmetric KL between sigmoid(s_i) and
    sigmoid(t_i); the divergence suited to GlobalPointer and multi-label
    logits (R-Drop, distillation).

    Formula:

    ```
    D(s, t) = sum_i (sigmoid(s_i) - sigmoid(t_i)) * (s_i - t_i)
    ```

    Computed as `sigmoid(a) sigmoid(-b) d (1 - exp(-d))` with `a = max(s, t)`,
    `b = min(s, t)`, `d = a - b`, which keeps full relative precision when
    both sigmoids are close to 0 or 1 and never overflows. Logits are divided
    by `temperature` first. Positions masked in either tensor (`-inf`, or at or
    below `keras_rdkl.MASK_THRESHOLD`) contribute exactly 0, with no NaN in
    value or gradient.

    Args:
        y_true: The other logits (the other dropout pass, or a teacher).
        y_pred: Logits, same shape.
        temperature: Float > 0.
        axis: Axis, or tuple of axes, summed over.

    Returns:
        Per-sample divergence: the shape without `axis`.

    Example:

    >>> d = sigmoid_kl_divergence([[0.0, 2.0]], [[1.0, -1.0]])
    >>> [round(float(v), 4) for v in d]
    [2.0666]

    References:
        - Su Jianlin, "GlobalPointer下的'KL散度'应该是怎样的？" (2022).
    """
    s, t = _checked_pair(y_true, y_pred, temperature)
    per_logit = _kernels.sigmoid_kl(t, s, float(temperature))
    return ops.sum(num.flatten_class_axes(per_logit, axis), axis=-1)


@keras.saving.register_keras_serializable(package="keras_rdkl")
def softmax_kl_divergence(y_true, y_pred, from_logits=True, temperature=1.0, axis=-1):
    """Symmetric softmax KL divergence KL(p || q) + KL(q || p).

    Formula:

    ```
    D(p, q) = sum_i (p_i - q_i) * (log p_i - log q_i)
    ```

    with `p = softmax(y_pred / T)` and `q = softmax(y_true / T)` for logits,
    or the given probabilities (clipped to [epsilon, 1], as Keras'
    `KLDivergence` does) when `from_logits=False`; those must lie in [0, 1]
    (`ValueError` otherwise for NumPy arrays and Python lists; backend
    tensors are never read, and there the clipping applies). Masked logits are
    left out of both distributions; a fully masked row gives 0.

    Args:
        y_true: The other logits or probabilities.
        y_pred: Logits or probabilities, same shape.
        from_logits: Whether the inputs are logits.
        temperature: Float > 0, divides logits (ignored for probabilities).
        axis: The class axis (softmax and sum).

    Returns:
        Per-sample divergence: the shape without `axis`.

    Example:

    >>> d = softmax_kl_divergence([[0.0, 2.0, 1.0]], [[1.0, -1.0, 0.0]])
    >>> [round(float(v), 4) for v in d]
    [2.3008]

    References:
        - Liang et al., "R-Drop: Regularized Dropout for Neural Networks",
          NeurIPS 2021.
    """
    from_logits = checks.check_bool(from_logits, "from_logits")
    if not from_logits:
        checks.check_positive_number(temperature, "temperature")
        for x, name in ((y_true, "y_true"), (y_pred, "y_pred")):
            checks.check_values(x, name, checks.outside_unit_interval, _PROBABILITIES)
        eps = keras.config.epsilon()
        p = ops.clip(num.to_compute(y_pred), eps, 1.0)
        q = ops.clip(ops.cast(ops.convert_to_tensor(y_true), p.dtype), eps, 1.0)
        checks.check_same_shape(q, p)
        axis = checks.check_single_axis(axis, len(p.shape))
        return ops.sum((p - q) * (ops.log(p) - ops.log(q)), axis=axis)
    s, t = _checked_pair(y_true, y_pred, temperature)
    axis = checks.check_single_axis(axis, len(s.shape))
    return _kernels.softmax_kl(t, s, float(temperature), axis)


class _Divergence(PerSampleLoss):
    def __init__(self, temperature, axis, reduction, name, dtype, allow_tuple=True):
        temperature = checks.check_positive_number(temperature, "temperature")
        axis = checks.check_axis_arg(axis, allow_tuple=allow_tuple)
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.temperature = temperature
        self.axis = axis

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "axis": self.axis,
        }


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SigmoidKLDivergence(_Divergence):
    """Symmetric sigmoid KL divergence; see `sigmoid_kl_divergence`.

    In `compile(loss=...)` `y_true` is the other logits (e.g. a teacher's),
    which makes it a distillation loss for GlobalPointer / multi-label heads.

    Args:
        temperature: Float > 0 dividing both logits.
        axis: Axis or tuple of axes summed over (`(-2, -1)` for GlobalPointer).
        reduction, name, dtype: As for every `keras.losses.Loss`.

    Example:

    >>> loss = SigmoidKLDivergence(temperature=2.0, axis=(-2, -1))
    >>> float(loss([[[0.0]]], [[[1.0]]])) > 0
    True
    """

    def __init__(
        self,
        temperature=1.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="sigmoid_kl_divergence",
        dtype=None,
    ):
        super().__init__(temperature, axis, reduction, name, dtype)

    def call(self, y_true, y_pred):
        return sigmoid_kl_divergence(
            y_true, y_pred, temperature=self.temperature, axis=self.axis
        )


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SoftmaxKLDivergence(_Divergence):
    """Symmetric softmax KL divergence; see `softmax_kl_divergence`.

    Args:
        from_logits: Whether inputs are logits (default) or probabilities.
        temperature: Float > 0 dividing both logits.
        axis: The class axis.
        reduction, name, dtype: As for every `keras.losses.Loss`.

    Example:

    >>> loss = SoftmaxKLDivergence()
    >>> float(loss([[0.0, 1.0]], [[1.0, 0.0]])) > 0
    True
    """

    def __init__(
        self,
        from_logits=True,
        temperature=1.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="softmax_kl_divergence",
        dtype=None,
    ):
        from_logits = checks.check_bool(from_logits, "from_logits")
        super().__init__(temperature, axis, reduction, name, dtype, allow_tuple=False)
        self.from_logits = from_logits

    def _check_y_pred_values(self, y_pred):
        if not self.from_logits:
            checks.check_values(
                y_pred, "y_pred", checks.outside_unit_interval, _PROBABILITIES
            )

    def call(self, y_true, y_pred):
        return softmax_kl_divergence(
            y_true,
            y_pred,
            from_logits=self.from_logits,
            temperature=self.temperature,
            axis=self.axis,
        )

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
