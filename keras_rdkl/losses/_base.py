"""The base of keras-rdkl's loss classes: per-sample `sample_weight` (private).

Keras lines a `sample_weight` up with the loss values from the right (NumPy
broadcasting). That is right for a `[B]` loss, but a loss with more than one
per-sample axis, such as the `[B, heads]` of a GlobalPointer loss or the
`[B, T]` of a token loss, would multiply a `[B]` weight along its *last*
axis. `PerSampleLoss` lines the weight up from the left instead: a `[B]` (or
`[B, 1]`) weight weights every value of each sample, a weight with the loss'
own shape applies as it is, and any other shape raises `ValueError`.
"""

import keras
from keras import ops

from keras_rdkl import _keras_internals as internals


def _dims(shape):
    return tuple(None if d is None else int(d) for d in shape)


def align_sample_weight(sample_weight, loss_shape, dynamic_shape=None):
    """Returns `sample_weight` lined up with the loss values sample by sample.

    Args:
        sample_weight: Weights: a scalar, `[B]`, `[B, 1]`, or any leading part
            of the loss' shape (each dimension equal or 1).
        loss_shape: The static shape of the per-sample loss values.
        dynamic_shape: The same shape as `ops.shape` gives it (may hold
            tensors where the static shape has None); defaults to
            `loss_shape`.

    Returns:
        The weights broadcast to the loss' shape (Keras multiplies them by a
        loss mask in place, which needs the full shape on PyTorch).
    """
    sample_weight = ops.convert_to_tensor(sample_weight)
    loss_shape = _dims(loss_shape)
    target = loss_shape if dynamic_shape is None else dynamic_shape
    if getattr(sample_weight.shape, "rank", 0) is None:
        return _align_unknown_rank(sample_weight, loss_shape, target)
    weight_shape = _dims(sample_weight.shape)
    if len(weight_shape) == 0:
        return sample_weight
    shape = weight_shape
    if len(shape) == len(loss_shape) + 1 and shape[-1] == 1:
        shape = shape[:-1]  # Keras' [B, 1] for a [B] loss
    compatible = len(shape) <= len(loss_shape) and all(
        w is None or d is None or w == d or w == 1
        for w, d in zip(shape, loss_shape[: len(shape)], strict=True)
    )
    if not compatible:
        raise ValueError(
            "`sample_weight` must have shape [B] or [B, 1] (one weight per "
            f"sample) or the shape of the per-sample loss, {list(loss_shape)} "
            f"(one weight per value). Received: sample_weight.shape="
            f"{list(weight_shape)}"
        )
    if shape != weight_shape:
        sample_weight = ops.squeeze(sample_weight, axis=-1)
    if len(shape) < len(loss_shape):
        for _ in range(len(loss_shape) - len(shape)):
            sample_weight = ops.expand_dims(sample_weight, axis=-1)
        # A materialised tensor, not a broadcast view (written to in place).
        sample_weight = sample_weight * ops.ones(target, dtype=sample_weight.dtype)
    return sample_weight


def _align_unknown_rank(sample_weight, loss_shape, target):
    """Weights of unknown rank (a retraced `tf.function`): aligned at run time.

    Read as `[B, m]`: m = 1 weights whole samples, m = the number of values
    per sample weights each value; any other size fails in `broadcast_to`.
    """
    if len(loss_shape) <= 1:
        return ops.reshape(sample_weight, (-1,))
    per_sample = 1
    for d in target[1:]:
        per_sample = per_sample * d
    batch = target[0]
    weight = ops.reshape(sample_weight, (batch, -1))
    weight = ops.broadcast_to(weight, (batch, per_sample))
    return ops.reshape(weight, target)


class _Reduction(keras.losses.Loss):
    """Keras' own weighting, masking and reduction of given per-sample values."""

    def call(self, y_true, y_pred):
        return y_pred


class PerSampleLoss(keras.losses.Loss):
    """A `keras.losses.Loss` whose `sample_weight` weights whole samples.

    Subclasses say how many trailing axes of `y_pred` the loss consumes
    (`_num_class_axes`); the remaining axes are the per-sample loss shape.

    `y_true` reaches `call` as it was given: Keras' `Loss.__call__` would
    convert it to the loss' dtype first, which moves integer class indices to
    other classes in float16 or bfloat16 (index 253 becomes 252) and rounds
    them above 2**24 in float32, and turns NumPy targets into tensors whose
    values are no longer checked (see `keras_rdkl._checks.check_values`).
    The loss functions convert `y_true` themselves: dense targets to the
    scores' compute dtype, indices to an integer dtype. `y_pred` is converted
    to the loss' dtype (after `_check_y_pred_values` has seen it as given),
    and the weighting, masking and reduction are Keras' own.
    """

    def _num_class_axes(self):
        axis = getattr(self, "axis", -1)
        return len(axis) if isinstance(axis, (tuple, list)) else 1

    def _check_y_pred_values(self, y_pred):
        """Checks a host `y_pred` (NumPy, lists) before it becomes a tensor."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = internals.get_keras_mask(y_pred)
        self._check_y_pred_values(y_pred)
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            if sample_weight is not None:
                rank = max(len(y_pred.shape) - self._num_class_axes(), 0)
                sample_weight = align_sample_weight(
                    sample_weight,
                    tuple(y_pred.shape)[:rank],
                    tuple(ops.shape(y_pred))[:rank],
                )
            losses = self.call(y_true, y_pred)
            out_mask = internals.get_keras_mask(losses)
            if in_mask is not None:
                mask = in_mask if out_mask is None else in_mask & out_mask
                internals.set_keras_mask(losses, mask)
        reduce = _Reduction(reduction=self.reduction, name=self.name, dtype=self.dtype)
        return reduce(losses, losses, sample_weight=sample_weight)
