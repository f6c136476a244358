"""Corpus-level (micro) span F1 for GlobalPointer logits."""

import numbers

import keras
from keras import ops

from keras_rdkl import masking


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SpanF1(keras.metrics.Metric):
    """Micro F1 over predicted spans, accumulated over a whole evaluation.

    Each `(sample, type, start, end)` is one decision: predicted when its
    logit is `> threshold`, gold when `y_true` is 1 there. The metric keeps
    three running counts (true positives, predicted, gold) and computes F1,
    precision and recall from the totals, so the result is the corpus F1,
    not an average of per-batch F1 values, and a batch without entities
    adds nothing instead of producing 0/0.

    Formula:

    ```
    precision = tp / predicted   recall = tp / actual
    f1 = 2 * tp / (predicted + actual)        (each 0 when its denominator is 0)
    ```

    Masked logits (`<= keras_rdkl.MASK_THRESHOLD`, as GlobalPointer writes
    at padding and below the diagonal) are never predicted and their gold
    labels are not counted; neither are spans with start > end. Counts are
    float32 (exact up to 2**24 spans).

    Args:
        threshold: float, decision threshold on the logits (0 for ZLPR).
        mask_zero: bool, for sparse `y_true` only: index 0 is padding (the
            bert4keras convention). Indices outside `[0, L * L)` (e.g. -1)
            are always padding.
        name: metric name.
        **kwargs: base metric keyword arguments (`dtype`).

    Call arguments (`update_state`):
        y_true: dense 0/1 targets `[B, heads, L, L]`, or sparse flat indices
            `start * L + end` of shape `[B, heads, K]`.
        y_pred: logits `[B, heads, L, L]`.
        sample_weight: optional `[B]` per-sample weights applied to the
            counts (0 drops a sample).

    Returns:
        `result()` is the F1; `precision()`, `recall()` and `result_dict()`
        give the rest.

    Example:

    >>> import numpy as np
    >>> m = SpanF1()
    >>> y_true = np.zeros((1, 1, 3, 3)); y_true[0, 0, 0, 1] = 1
    >>> y_pred = np.full((1, 1, 3, 3), -1.0); y_pred[0, 0, 0, 1] = 2.0
    >>> y_pred[0, 0, 1, 2] = 0.5
    >>> m.update_state(y_true, y_pred)
    >>> round(float(m.result()), 4)
    0.6667

    References:
        - Su Jianlin, "GlobalPointer: 用统一的方式处理嵌套和非嵌套NER" (2021),
          entity-level F1 of the NER scripts.
    """

    def __init__(self, threshold=0.0, mask_zero=False, name="span_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise ValueError(
                f"`threshold` must be a real number. Received: threshold={threshold!r}"
            )
        if not masking.MASK_THRESHOLD < float(threshold) < float("inf"):
            raise ValueError(
                f"`threshold` must be finite and > MASK_THRESHOLD={masking.MASK_THRESHOLD}. "
                f"Received: threshold={threshold}"
            )
        self.threshold = float(threshold)
        self.mask_zero = bool(mask_zero)
        self.true_positives = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="true_positives"
        )
        self.predicted = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="predicted"
        )
        self.actual = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="actual"
        )

    def _dense_true(self, y_true, y_pred):
        rank = len(y_pred.shape)
        if len(y_true.shape) == rank:
            return ops.cast(ops.greater(ops.cast(y_true, "float32"), 0.5), "float32")
        if len(y_true.shape) != rank - 1:
            raise ValueError(
                "`y_true` must be dense [B, heads, L, L] or sparse [B, heads, K]. "
                f"Received: y_true.shape={tuple(y_true.shape)}, "
                f"y_pred.shape={tuple(y_pred.shape)}"
            )
        length = ops.shape(y_pred)[-1]
        n = length * length
        idx = ops.cast(y_true, "int32")
        valid = ops.logical_and(ops.greater_equal(idx, 0), ops.less(idx, n))
        if self.mask_zero:
            valid = ops.logical_and(valid, ops.not_equal(idx, 0))
        hot = ops.one_hot(ops.where(valid, idx, 0), n, dtype="float32")
        hot = hot * ops.cast(valid, "float32")[..., None]
        dense = ops.max(hot, axis=-2)
        return ops.reshape(dense, ops.shape(y_pred))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        y_true = ops.convert_to_tensor(y_true)
        if len(y_pred.shape) < 2:
            raise ValueError(
                f"`y_pred` must be logits [B, heads, L, L]. Received shape: {tuple(y_pred.shape)}"
            )
        t = self._dense_true(y_true, y_pred)
        length = ops.shape(y_pred)[-1]
        index = ops.arange(length)
        upper = ops.greater_equal(index[None, :], index[:, None])
        valid = ops.logical_and(ops.logical_not(masking.is_masked(y_pred)), upper)
        valid = ops.cast(valid, "float32")
        p = ops.cast(ops.greater(y_pred, self.threshold), "float32") * valid
        t = t * valid
        tp = t * p
        if sample_weight is not None:
            w = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            w = ops.reshape(w, (-1,) + (1,) * (len(y_pred.shape) - 1))
            tp, p, t = tp * w, p * w, t * w
        self.true_positives.assign_add(ops.sum(tp))
        self.predicted.assign_add(ops.sum(p))
        self.actual.assign_add(ops.sum(t))

    @staticmethod
    def _ratio(a, b):
        a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
        safe = ops.where(ops.greater(b, 0.0), b, 1.0)
        return ops.where(ops.greater(b, 0.0), a / safe, 0.0)

    def precision(self):
        """tp / predicted, 0 when nothing was predicted."""
        return self._ratio(self.true_positives, self.predicted)

    def recall(self):
        """tp / actual, 0 when there is no gold span."""
        return self._ratio(self.true_positives, self.actual)

    def result(self):
        tp = ops.convert_to_tensor(self.true_positives)
        total = ops.convert_to_tensor(self.predicted) + ops.convert_to_tensor(
            self.actual
        )
        return self._ratio(2.0 * tp, total)

    def result_dict(self):
        """`{"f1", "precision", "recall"}` as scalar tensors."""
        return {
            "f1": self.result(),
            "precision": self.precision(),
            "recall": self.recall(),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "mask_zero": self.mask_zero,
        }
