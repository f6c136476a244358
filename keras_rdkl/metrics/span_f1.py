"""Corpus-level (micro) span F1 for GlobalPointer logits."""

import keras
from keras import ops

from keras_rdkl import _checks as checks
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

    Sparse labels stay sparse: the metric gathers the `K` scores at the
    label indices from the flattened `L * L` grid (memory O(B * heads * K)
    beyond the logits themselves; no `[B, heads, K, L * L]` one-hot), and
    counts the predicted spans over the grid as in the dense form. A label
    index repeated within one `(sample, type)` row is one span and counts
    once (the gold set is a set, as in the dense form).

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
        sample_weight: optional `[B]` (or `[B, 1]`) per-sample or
            `[B, heads]` per-(sample, type) weights applied to the counts (0 drops them).

    Raises:
        ValueError: (on every backend, before any backend op) when `y_pred`
            is not `[B, heads, L, L]`, dense `y_true` does not have its
            shape, sparse `y_true` is not `[B, heads, K]` for the same `B`
            and `heads`, or `sample_weight` is not `[B]`, `[B, 1]` or
            `[B, heads]`.

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
        self.threshold = checks.check_threshold(threshold)
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

    def _check_shapes(self, y_true, y_pred, sample_weight):
        pred_shape = tuple(y_pred.shape)
        if len(pred_shape) != 4 or (
            None not in pred_shape[-2:] and pred_shape[-1] != pred_shape[-2]
        ):
            raise ValueError(
                "`y_pred` must be GlobalPointer logits of shape [B, heads, L, L]. "
                f"Received: y_pred.shape={pred_shape}"
            )
        true_shape = tuple(y_true.shape)
        if len(true_shape) == 4:
            checks.check_same_shape(y_true, y_pred)
        elif len(true_shape) != 3 or not _compatible(true_shape[:2], pred_shape[:2]):
            raise ValueError(
                "`y_true` must be dense 0/1 targets of y_pred's shape [B, heads, L, L] "
                "or sparse flat indices [B, heads, K]. Received: "
                f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
            )
        if sample_weight is not None:
            w_shape = tuple(sample_weight.shape)
            if len(w_shape) == 2 and w_shape[1] == 1:
                w_shape = w_shape[:1]  # [B, 1]: per sample
            if len(w_shape) not in (1, 2) or not _compatible(
                w_shape, pred_shape[: len(w_shape)]
            ):
                raise ValueError(
                    "`sample_weight` must have shape [B], [B, 1] or [B, heads]. "
                    "Received: "
                    f"sample_weight.shape={w_shape}, y_pred.shape={pred_shape}"
                )

    def _sparse_counts(self, y_true, y_pred):
        """(true positives, gold) per [B, heads] from sparse flat indices.

        O(B * heads * K) memory: the scores at the label indices are gathered
        from the flattened grid; no [.., K, L * L] tensor is built. A
        repeated index counts once: the valid indices of a row are sorted
        and only the first of each run of equal values is kept.
        """
        length = ops.shape(y_pred)[-1]
        n = length * length
        shape = ops.shape(y_pred)
        flat = ops.reshape(y_pred, (shape[0], shape[1], n))
        idx = ops.cast(y_true, "int32")
        valid = ops.logical_and(ops.greater_equal(idx, 0), ops.less(idx, n))
        if self.mask_zero:
            valid = ops.logical_and(valid, ops.not_equal(idx, 0))
        safe = ops.where(valid, idx, 0)
        # Spans with start > end never count (as in the dense form).
        valid = ops.logical_and(valid, ops.less_equal(safe // length, safe % length))
        # -1 sorts before every valid index; a valid index equal to its left
        # neighbour after sorting is a repeat.
        key = ops.sort(ops.where(valid, idx, -1), axis=-1)
        prev = ops.concatenate([ops.full_like(key[..., :1], -1), key[..., :-1]], -1)
        first = ops.logical_and(ops.greater_equal(key, 0), ops.not_equal(key, prev))
        score = ops.take_along_axis(flat, ops.maximum(key, 0), axis=-1)
        gold = ops.logical_and(first, ops.logical_not(masking.is_masked(score)))
        hit = ops.logical_and(gold, ops.greater(score, self.threshold))
        return (
            ops.sum(ops.cast(hit, "float32"), axis=-1),
            ops.sum(ops.cast(gold, "float32"), axis=-1),
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        raw_true = y_true  # values checked only as given (NumPy, lists)
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        y_true = ops.convert_to_tensor(y_true)
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        self._check_shapes(y_true, y_pred, sample_weight)
        length = ops.shape(y_pred)[-1]
        index = ops.arange(length)
        upper = ops.greater_equal(index[None, :], index[:, None])
        valid = ops.logical_and(ops.logical_not(masking.is_masked(y_pred)), upper)
        predicted = ops.logical_and(ops.greater(y_pred, self.threshold), valid)
        p = ops.sum(ops.cast(predicted, "float32"), axis=(-2, -1))  # [B, heads]
        if len(y_true.shape) == 4:
            gold = ops.logical_and(ops.greater(ops.cast(y_true, "float32"), 0.5), valid)
            t = ops.sum(ops.cast(gold, "float32"), axis=(-2, -1))
            tp = ops.sum(
                ops.cast(ops.logical_and(gold, predicted), "float32"), axis=(-2, -1)
            )
        else:
            checks.check_values(
                raw_true,
                "y_true",
                checks.not_integer,
                "integer flat indices start * L + end (sparse labels)",
            )
            tp, t = self._sparse_counts(y_true, y_pred)
        if sample_weight is not None:
            w = sample_weight
            if len(w.shape) == 1:
                w = w[:, None]
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


def _compatible(a, b):
    """True when two static shapes can match (None matches anything)."""
    return len(a) == len(b) and all(
        i is None or j is None or i == j for i, j in zip(a, b, strict=True)
    )
