"""Distillation losses for `keras.distillation.Distiller`: GlobalPointer and softmax heads."""

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _numerics as num
from keras_rdkl import masking
from keras_rdkl.losses.divergence import _pair
from keras_rdkl.losses.divergence import _scaled
from keras_rdkl.losses.divergence import sigmoid_kl_divergence
from keras_rdkl.losses.divergence import softmax_kl_divergence

__all__ = [
    "GlobalPointerDistillation",
    "SoftmaxDistillation",
    "softmax_kl_teacher_student",
    "zlpr_teacher_student",
]

_DIVERGENCES = ("kl", "symmetric")
_GP_DIVERGENCES = ("sigmoid", "zlpr")


def _check_temperature(temperature):
    return checks.check_positive_number(temperature, "temperature")


def _sum_over_outputs(fn, teacher_outputs, student_outputs):
    """Applies `fn` to matching teacher/student tensors and sums the scalars."""
    losses = keras.tree.flatten(
        keras.tree.map_structure(fn, teacher_outputs, student_outputs)
    )
    return losses[0] if len(losses) == 1 else ops.sum(ops.stack(losses))


def _check_shapes(teacher_outputs, student_outputs):
    for t, s in zip(
        keras.tree.flatten(teacher_outputs),
        keras.tree.flatten(student_outputs),
        strict=True,
    ):
        checks.check_same_shape(t, s, "teacher_outputs", "student_outputs")


@keras.saving.register_keras_serializable(package="keras_rdkl")
def softmax_kl_teacher_student(
    teacher_logits, student_logits, temperature=1.0, axis=-1
):
    """Forward KL(teacher || student) between softmax distributions of logits.

    `KL(q || p) = sum_i q_i (log q_i - log p_i)` with `q = softmax(teacher / T)`
    and `p = softmax(student / T)`. Classes masked in either tensor (at or
    below `keras_rdkl.MASK_THRESHOLD`, or `-inf`) are left out of both
    distributions; a fully masked row gives 0.

    Args:
        teacher_logits: Teacher logits `[..., C]`.
        student_logits: Student logits, same shape.
        temperature: Float > 0 dividing both.
        axis: The class axis.

    Returns:
        Per-sample KL: the shape without `axis`.

    Example:

    >>> kl = softmax_kl_teacher_student([[2.0, 0.0, -1.0]], [[0.0, 1.0, 0.0]])
    >>> [round(float(v), 4) for v in kl]
    [0.913]
    """
    s, t, valid = _pair(
        teacher_logits,
        student_logits,
        temperature,
        ("teacher_logits", "student_logits"),
    )
    axis = checks.check_single_axis(axis, len(s.shape))
    log_p = ops.log_softmax(_scaled(s, valid, -1e30, temperature), axis=axis)
    log_q = ops.log_softmax(_scaled(t, valid, -1e30, temperature), axis=axis)
    per_class = ops.where(valid, ops.exp(log_q) * (log_q - log_p), 0.0)
    return ops.sum(per_class, axis=axis)


@keras.saving.register_keras_serializable(package="keras_rdkl")
def zlpr_teacher_student(
    teacher_logits, student_logits, temperature=1.0, axis=(-2, -1)
):
    """Soft-label ZLPR of the student against the teacher's `sigmoid(2 t)`, as a divergence.

    The soft-label ZLPR loss with targets `q_i = sigmoid(2 t_i / T)` has a
    zero gradient exactly at `s = t` (`q_i exp(-t_i) = (1 - q_i) exp(t_i)` for
    every class, so both log-sum-exp terms have equal derivatives), whatever
    the number of classes; being convex in `s`, it is smallest there.
    Subtracting that smallest value (a constant: the teacher is fixed) gives
    a divergence that is `>= 0` and `0` when the student matches the teacher
    on every unmasked class. Unlike the sigmoid divergence it keeps the
    scale and the balance of the ZLPR training loss: the gradient pushed onto
    the many negative spans of a GlobalPointer grid is normalized like a
    softmax, instead of `O(1)` per span.

    Formula (per head, sums over unmasked spans):

    ```
    q = sigmoid(2 t / T)
    Z(s) = log(1 + sum q exp(-s / T)) + log(1 + sum (1 - q) exp(s / T))
    D = Z(s) - Z(t)
    ```

    Classes masked in either tensor (at or below `keras_rdkl.MASK_THRESHOLD`,
    or `-inf`) are left out of both sums, and so is a class whose teacher
    logit is NaN (a teacher that gives no target for it): it adds nothing to
    the value and gets a zero gradient. A NaN student logit is not a mask:
    it propagates to the result.

    Args:
        teacher_logits: Teacher scores, e.g. GlobalPointer `[B, heads, L, L]`.
        student_logits: Student scores, same shape.
        temperature: Float > 0 dividing both.
        axis: The class axis or axes (as in
            `keras_rdkl.losses.multilabel_categorical_crossentropy`).

    Returns:
        Per-sample divergence: the shape without `axis`.

    Example:

    >>> d = zlpr_teacher_student([[2.0, -1.0, -3.0]], [[0.5, 0.5, -3.0]], axis=-1)
    >>> [round(float(v), 4) for v in d]
    [0.65]
    """
    checks.check_positive_number(temperature, "temperature")
    s = num.to_compute(student_logits)
    t = ops.cast(ops.convert_to_tensor(teacher_logits), s.dtype)
    checks.check_same_shape(t, s, "teacher_logits", "student_logits")
    s = num.flatten_class_axes(s, axis)
    t = ops.stop_gradient(num.flatten_class_axes(t, axis))
    # A NaN teacher logit is a missing target: left out like a masked class.
    no_target = ops.logical_or(masking.is_masked(t), ops.isnan(t))
    valid = ops.logical_not(ops.logical_or(no_target, masking.is_masked(s)))
    t = ops.where(valid, t, 0.0) / temperature
    s = ops.where(valid, s, 0.0) / temperature
    # Unclipped soft targets: the zero gradient at s = t is exact.
    q = ops.where(valid, ops.sigmoid(2.0 * t), 0.0)
    q_neg = ops.where(valid, ops.sigmoid(-2.0 * t), 0.0)

    def zlpr(x):
        return num.log1p_sum_exp(-x, q) + num.log1p_sum_exp(x, q_neg)

    d = zlpr(s) - ops.stop_gradient(zlpr(t))
    # Convexity makes d >= 0; guard the last ulp of rounding.
    return ops.maximum(d, 0.0)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class GlobalPointerDistillation(keras.distillation.DistillationLoss):
    """Distils GlobalPointer (or any multi-label) logits, masked spans excluded.

    A GlobalPointer scores every (start, end) span of every entity type
    independently, so its outputs are a grid of binary decisions, not one
    softmax. Two divergences between a teacher's and a student's logits fit
    that, both summed over the span grid of each head and averaged over
    batch x heads (the reduction of the ZLPR training loss):

    - `divergence="sigmoid"` (default): the symmetric sigmoid KL
      `keras_rdkl.losses.sigmoid_kl_divergence`, Su Jianlin's divergence for
      GlobalPointer. Each span adds an `O(1)` term, so on an `L x L` grid
      the sum starts tens to hundreds of times the ZLPR label loss and most
      of its gradient goes to the many negative spans: weight it down hard,
      or the student learns to predict no entity (measured on CLUENER,
      docs/distillation.md).
    - `divergence="zlpr"`: the soft-label ZLPR against the teacher's
      `sigmoid(2 t / T)` minus its minimum (`zlpr_teacher_student`). Zero
      exactly when the student matches the teacher, on the scale of the ZLPR
      label loss, with the negatives' gradient normalized like a softmax;
      the one that worked in our CLUENER run.

    Formula:

    ```
    sigmoid: D(s, t) = sum_{spans} (sigmoid(s / T) - sigmoid(t / T)) * (s - t) / T
    zlpr:    D(s, t) = Z_q(s / T) - Z_q(t / T),  q = sigmoid(2 t / T),
             Z_q(x) = log(1 + sum q exp(-x)) + log(1 + sum (1 - q) exp(x))
    loss = T^2 * mean_{batch, heads} D(student, teacher)
    ```

    The `T^2` factor (as in `keras.distillation.LogitsDistillation`) keeps
    the gradient's scale roughly independent of the temperature. Spans masked
    in either tensor (padding, the lower triangle: scores at or below
    `keras_rdkl.MASK_THRESHOLD`, or `-inf`) contribute exactly 0, with no NaN
    in value or gradient; with `divergence="zlpr"` so does a span whose
    teacher logit is NaN (`zlpr_teacher_student`).

    Args:
        temperature: Float > 0 dividing both logits (1 = no softening).
        axis: The axis or axes that form one head's class grid:
            `(-2, -1)` for GlobalPointer logits `[B, heads, L, L]`, `-1` for
            plain multi-label logits `[B, C]`.
        divergence: `"sigmoid"` or `"zlpr"`.

    Example:

    >>> distiller = keras.distillation.Distiller(  # doctest: +SKIP
    ...     teacher=teacher, student=student,
    ...     distillation_losses=GlobalPointerDistillation(divergence="zlpr"),
    ...     student_loss_weight=0.5)
    >>> distiller.compile("adam", loss=keras_rdkl.losses.MultilabelCategoricalCrossentropy(
    ...     axis=(-2, -1)))  # doctest: +SKIP

    References:
        - Su Jianlin, "GlobalPointer下的'KL散度'应该是怎样的？" (2022).
        - Su Jianlin, "多标签'Softmax+交叉熵'的软标签版本" (2022).
        - Hinton et al., "Distilling the Knowledge in a Neural Network" (2015).
    """

    def __init__(self, temperature=1.0, axis=(-2, -1), divergence="sigmoid"):
        self.temperature = _check_temperature(temperature)
        axis = checks.check_axis_arg(axis)
        if divergence not in _GP_DIVERGENCES:
            raise ValueError(
                f"`divergence` must be one of {_GP_DIVERGENCES}. "
                f"Received: divergence={divergence!r}"
            )
        self.axis = axis
        self.divergence = divergence

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        _check_shapes(teacher_outputs, student_outputs)

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        _check_shapes(teacher_outputs, student_outputs)

        def one(t, s):
            t = ops.stop_gradient(ops.convert_to_tensor(t))
            if self.divergence == "zlpr":
                d = zlpr_teacher_student(t, s, self.temperature, self.axis)
            else:
                d = sigmoid_kl_divergence(
                    t, s, temperature=self.temperature, axis=self.axis
                )
            return ops.mean(d) * (self.temperature**2)

        return _sum_over_outputs(one, teacher_outputs, student_outputs)

    def get_config(self):
        return {
            "temperature": self.temperature,
            "axis": self.axis,
            "divergence": self.divergence,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SoftmaxDistillation(keras.distillation.DistillationLoss):
    """Distils single-label (softmax) logits, with masks and a choice of divergence.

    `divergence="kl"` (default) is the classic Hinton loss, the forward
    `KL(teacher || student)`. With the teacher fixed it differs from the
    cross-entropy against the teacher's soft labels only by the teacher's
    entropy, a constant, so both give the same gradient: this is the loss to
    use for plain distillation. `divergence="symmetric"` adds the reverse
    `KL(student || teacher)` (the R-Drop divergence,
    `keras_rdkl.losses.softmax_kl_divergence`); the reverse term is
    mode-seeking and pushes the student to put no mass where the teacher puts
    none, which can help when the student is much smaller, at the price of
    no longer matching the teacher's full distribution.

    Unlike Keras' `LogitsDistillation`, classes masked in either tensor
    (scores at or below `keras_rdkl.MASK_THRESHOLD`, or `-inf`: padded
    vocabulary entries, disallowed classes) are excluded from both
    distributions without NaN.

    Formula:

    ```
    q = softmax(teacher / T),  p = softmax(student / T)
    kl:        loss = T^2 * mean_batch sum_i q_i (log q_i - log p_i)
    symmetric: loss = T^2 * mean_batch sum_i (q_i - p_i) (log q_i - log p_i)
    ```

    Args:
        temperature: Float > 0 dividing both logits.
        divergence: `"kl"` or `"symmetric"`.
        axis: The class axis; every other axis is averaged over.

    Example:

    >>> distiller = keras.distillation.Distiller(  # doctest: +SKIP
    ...     teacher=teacher, student=student,
    ...     distillation_losses=SoftmaxDistillation(temperature=3.0))

    References:
        - Hinton et al., "Distilling the Knowledge in a Neural Network" (2015).
        - Liang et al., "R-Drop: Regularized Dropout for Neural Networks",
          NeurIPS 2021.
    """

    def __init__(self, temperature=3.0, divergence="kl", axis=-1):
        self.temperature = _check_temperature(temperature)
        if divergence not in _DIVERGENCES:
            raise ValueError(
                f"`divergence` must be one of {_DIVERGENCES}. Received: divergence={divergence!r}"
            )
        axis = checks.check_axis_arg(axis, allow_tuple=False)
        self.divergence = divergence
        self.axis = axis

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        _check_shapes(teacher_outputs, student_outputs)

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        _check_shapes(teacher_outputs, student_outputs)

        def one(t, s):
            t = ops.stop_gradient(ops.convert_to_tensor(t))
            if self.divergence == "kl":
                d = softmax_kl_teacher_student(t, s, self.temperature, self.axis)
            else:
                d = softmax_kl_divergence(
                    t, s, from_logits=True, temperature=self.temperature, axis=self.axis
                )
            return ops.mean(d) * (self.temperature**2)

        return _sum_over_outputs(one, teacher_outputs, student_outputs)

    def get_config(self):
        return {
            "temperature": self.temperature,
            "divergence": self.divergence,
            "axis": self.axis,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
