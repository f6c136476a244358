"""Calibration: expected calibration error and reliability-diagram tables."""

import keras
import numpy as np
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _numerics as num
from keras_rdkl.masking import is_masked


def _check_num_bins(num_bins):
    return checks.check_positive_int(num_bins, "num_bins")


def _check_probabilities(x, name):
    """ValueError when host `x` (NumPy, lists) holds values outside [0, 1] or NaN.

    Backend tensors are never read (see `keras_rdkl._checks.check_values`).
    """
    checks.check_values(
        x,
        name,
        checks.outside_unit_interval,
        "probabilities in [0, 1] (logits? pass from_logits=True, or apply "
        "sigmoid / softmax first)",
    )


def _broadcastable(shape, target):
    """Static NumPy broadcasting of `shape` to `target` (None matches all)."""
    if len(shape) > len(target):
        return False
    return all(
        a is None or b is None or a == 1 or a == b
        for a, b in zip(shape[::-1], target[::-1], strict=False)
    )


def _masked_softmax(logits):
    """Softmax over the last axis with masked logits (<= MASK_THRESHOLD) at 0.

    Returns the probabilities and a `[...]` float mask: 0 for a row whose
    logits are all masked (its probabilities are 0, never NaN).
    """
    masked = is_masked(logits)
    row_ok = ops.logical_not(ops.all(masked, axis=-1))
    z = ops.where(masked, -1e30, logits)
    z = ops.where(row_ok[..., None], z, 0.0)
    probs = ops.where(masked, 0.0, ops.softmax(z, axis=-1))
    return probs, ops.cast(row_ok, logits.dtype)


def _bin_index(confidence, num_bins):
    """Equal-width bins (i / n, (i + 1) / n]; a confidence of 0 goes to bin 0."""
    idx = ops.ceil(confidence * num_bins) - 1.0
    return ops.cast(ops.clip(idx, 0.0, num_bins - 1.0), "int32")


def _binned_sums(confidence, correct, weight, num_bins):
    """Per-bin (weight, weight * confidence, weight * correct) sums over axis 0.

    `confidence`, `correct` and `weight` share a shape `[N, ...]`; the result
    has shape `[..., num_bins]` for each of the three sums.
    """
    onehot = ops.one_hot(
        _bin_index(confidence, num_bins), num_bins, dtype=confidence.dtype
    )
    w = ops.expand_dims(weight, -1) * onehot
    return (
        ops.sum(w, axis=0),
        ops.sum(w * ops.expand_dims(confidence, -1), axis=0),
        ops.sum(w * ops.expand_dims(correct, -1), axis=0),
    )


def _ece_from_sums(count, conf_sum, correct_sum, axis=-1):
    """sum_b |conf_sum_b - correct_sum_b| / sum_b count_b (0 when empty)."""
    total = ops.sum(count, axis=axis)
    gap = ops.sum(ops.abs(conf_sum - correct_sum), axis=axis)
    return ops.where(ops.greater(total, 0.0), gap / ops.maximum(total, 1e-12), 0.0)


def _table(count, conf_sum, correct_sum):
    count = np.asarray(count, dtype="float64")
    conf_sum = np.asarray(conf_sum, dtype="float64")
    correct_sum = np.asarray(correct_sum, dtype="float64")
    n = count.shape[-1]
    edges = np.linspace(0.0, 1.0, n + 1)
    safe = np.where(count > 0, count, 1.0)
    return {
        "bin_lower": edges[:-1],
        "bin_upper": edges[1:],
        "count": count,
        "mean_confidence": np.where(count > 0, conf_sum / safe, 0.0),
        "accuracy": np.where(count > 0, correct_sum / safe, 0.0),
    }


@keras.saving.register_keras_serializable(package="keras_rdkl")
class ExpectedCalibrationError(keras.metrics.Metric):
    """Expected calibration error (ECE) of the top-class confidence.

    Every prediction's confidence (its largest class probability) falls in one
    of `num_bins` equal-width bins `(i / n, (i + 1) / n]`. Per bin the metric
    accumulates the (weighted) count, the sum of confidences and the number of
    correct top-1 predictions over the whole evaluation, not per batch, so
    the result is the corpus ECE whatever the batch size.

    Formula:

    ```
    ECE = sum_b (n_b / N) * |accuracy_b - confidence_b|
        = sum_b |sum_{i in b} w_i (conf_i - correct_i)| / sum_i w_i
    ```

    Empty bins contribute 0; with no samples at all the result is 0.
    `keras_rdkl.metrics.reliability_table(metric)` returns the per-bin table
    behind the number, for a reliability diagram.

    Args:
        num_bins: Number of equal-width confidence bins (int >= 1).
        from_logits: If True, `y_pred` holds logits and goes through a softmax
            (in float32) first; otherwise `y_pred` holds probabilities.
        name: Metric name.
        dtype: Dtype of the metric's result.
        **kwargs: Passed to `keras.metrics.Metric`.

    Call arguments (`update_state`):
        y_true: Integer class ids of shape `y_pred.shape[:-1]` (a trailing
            axis of size 1 is allowed), or one-hot targets with the shape of
            `y_pred` (read with argmax).
        y_pred: Probabilities or logits `[..., C]`; leading axes are flattened.
        sample_weight: Optional weights broadcastable to `y_pred.shape[:-1]`;
            a weight of 0 removes a sample (use it for padding).

    Returns:
        The ECE, a scalar in [0, 1].

    Masking: with `from_logits=True`, masked logits (`<=
    keras_rdkl.MASK_THRESHOLD`, `-inf` included) get probability 0, and a
    row whose logits are all masked is left out (weight 0). Otherwise use a
    `sample_weight` of 0.

    Raises:
        ValueError: (the same on every backend) for `num_bins` that is not a
            positive integer (NumPy integers are), a non-bool `from_logits`,
            `y_true` or `sample_weight` shapes that do not fit `y_pred`; and,
            for values given as NumPy arrays or Python lists, probabilities
            outside [0, 1] with `from_logits=False` (logits passed by
            mistake) and class ids outside `[0, C)` or not integers. Backend
            tensors (and so everything inside `fit`) are never read: no host
            synchronisation, and the counts take them as they are.

    Example:

    >>> m = ExpectedCalibrationError(num_bins=10)
    >>> m.update_state([0, 1], [[0.95, 0.05], [0.65, 0.35]])
    >>> round(float(m.result()), 4)  # (|0.95 - 1| + |0.65 - 0|) / 2
    0.35

    References:
        - Naeini et al., "Obtaining Well Calibrated Probabilities Using
          Bayesian Binning", AAAI 2015.
        - Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
    """

    def __init__(
        self,
        num_bins=15,
        from_logits=False,
        name="expected_calibration_error",
        dtype=None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_bins = _check_num_bins(num_bins)
        self.from_logits = checks.check_bool(from_logits, "from_logits")
        shape = (self.num_bins,)
        self.bin_counts = self.add_variable(
            shape, "zeros", dtype="float32", name="bin_counts"
        )
        self.bin_confidence = self.add_variable(
            shape, "zeros", dtype="float32", name="bin_confidence"
        )
        self.bin_correct = self.add_variable(
            shape, "zeros", dtype="float32", name="bin_correct"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        raw_true, raw_pred = y_true, y_pred  # values checked only as given
        y_pred = num.to_compute(y_pred)
        y_pred = ops.cast(y_pred, "float32")
        pred_shape = tuple(y_pred.shape)
        if len(pred_shape) < 1 or pred_shape[-1] is None:
            raise ValueError(
                "`y_pred` must have a known class axis (last). Received: "
                f"y_pred.shape={pred_shape}"
            )
        n_classes = pred_shape[-1]
        lead = pred_shape[:-1]
        y_true = ops.convert_to_tensor(y_true)
        true_shape = tuple(y_true.shape)
        rank = len(pred_shape)
        if len(true_shape) == rank and _same(true_shape, pred_shape) and n_classes > 1:
            kind = "one_hot"
        elif (
            len(true_shape) == rank
            and true_shape[-1] == 1
            and _same(true_shape[:-1], lead)
        ):
            kind = "ids"
            y_true = ops.squeeze(y_true, axis=-1)
        elif len(true_shape) == rank - 1 and _same(true_shape, lead):
            kind = "ids"
        else:
            raise ValueError(
                "`y_true` must hold class ids of shape y_pred.shape[:-1] (optionally "
                "with a trailing 1) or one-hot targets of y_pred's shape. Received: "
                f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
            )
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if not _broadcastable(tuple(sample_weight.shape), lead):
                raise ValueError(
                    "`sample_weight` must broadcast to y_pred.shape[:-1] = "
                    f"{lead}. Received: sample_weight.shape="
                    f"{tuple(sample_weight.shape)}"
                )
        if kind == "ids":
            checks.check_values(
                raw_true,
                "y_true",
                lambda a: _bad_class_id(a, n_classes),
                f"integer class ids in [0, {n_classes})",
            )
        if self.from_logits:
            y_pred, row_ok = _masked_softmax(y_pred)
        else:
            _check_probabilities(raw_pred, "y_pred")
            row_ok = None
        labels = ops.argmax(y_true, axis=-1) if kind == "one_hot" else y_true
        probs = ops.reshape(y_pred, (-1, n_classes))
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        confidence = ops.max(probs, axis=-1)
        predicted = ops.cast(ops.argmax(probs, axis=-1), "int32")
        correct = ops.cast(ops.equal(predicted, labels), "float32")
        if sample_weight is None:
            weight = ops.ones_like(confidence)
        else:
            weight = ops.reshape(
                ops.broadcast_to(sample_weight, ops.shape(y_pred)[:-1]), (-1,)
            )
        if row_ok is not None:
            weight = weight * ops.reshape(row_ok, (-1,))
        count, conf_sum, correct_sum = _binned_sums(
            confidence, correct, weight, self.num_bins
        )
        self.bin_counts.assign_add(count)
        self.bin_confidence.assign_add(conf_sum)
        self.bin_correct.assign_add(correct_sum)

    def result(self):
        ece = _ece_from_sums(self.bin_counts, self.bin_confidence, self.bin_correct)
        return ops.cast(ece, self.dtype)

    def reset_state(self):
        for v in (self.bin_counts, self.bin_confidence, self.bin_correct):
            v.assign(ops.zeros(v.shape, dtype=v.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "from_logits": self.from_logits,
        }


def reliability_table(metric):
    """The per-bin table behind an `ExpectedCalibrationError`'s current state.

    Args:
        metric: An `ExpectedCalibrationError` that has seen data.

    Returns:
        A dict of NumPy arrays of length `num_bins`: `bin_lower`, `bin_upper`
        (bin edges), `count` (weighted samples), `mean_confidence` and
        `accuracy` (both 0 in empty bins; check `count`).

    Example:

    >>> m = ExpectedCalibrationError(num_bins=4)
    >>> m.update_state([1], [[0.3, 0.7]])
    >>> reliability_table(m)["count"].tolist()
    [0.0, 0.0, 1.0, 0.0]
    """
    if not isinstance(metric, ExpectedCalibrationError):
        raise ValueError(
            "`metric` must be an ExpectedCalibrationError. Received: "
            f"metric={type(metric).__name__}"
        )
    return _table(
        ops.convert_to_numpy(metric.bin_counts),
        ops.convert_to_numpy(metric.bin_confidence),
        ops.convert_to_numpy(metric.bin_correct),
    )


def reliability_diagram_data(
    y_true, y_pred, num_bins=15, from_logits=False, sample_weight=None
):
    """Reliability-diagram table (and ECE) for single-label predictions.

    Args:
        y_true: Integer class ids (or one-hot), as for `ExpectedCalibrationError`.
        y_pred: Probabilities, or logits with `from_logits=True`, `[..., C]`.
        num_bins: Number of equal-width confidence bins.
        from_logits: Whether `y_pred` holds logits.
        sample_weight: Optional per-sample weights.

    Returns:
        The dict of `reliability_table` plus `"ece"` (a float).

    Example:

    >>> t = reliability_diagram_data([0, 1], [[0.95, 0.05], [0.65, 0.35]], num_bins=10)
    >>> round(t["ece"], 4)
    0.35
    """
    metric = ExpectedCalibrationError(num_bins=num_bins, from_logits=from_logits)
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    table = reliability_table(metric)
    table["ece"] = float(ops.convert_to_numpy(metric.result()))
    return table


def multilabel_calibration(y_true, y_prob, num_bins=15, sample_weight=None):
    """Calibration of per-label probabilities (multi-label, sigmoid-style).

    Each (sample, label) pair is one binary prediction with probability p and
    outcome y in {0, 1}. The reliability of such predictions is "of the pairs
    with p near 0.7, are 70% positive?", so bins are taken over p itself and
    compared with the positive frequency (not the top-class confidence).

    Formula:

    ```
    ece       = sum_b |sum_{(i,l) in b} w_i (p_il - y_il)| / sum_{i,l} w_i   (all labels pooled)
    ece_l     = the same over label l's pairs only
    macro_ece = mean_l ece_l
    brier     = sum_{i,l} w_i (p_il - y_il)^2 / sum_{i,l} w_i
    ```

    Args:
        y_true: Multi-hot targets `[N, L]` (values in {0, 1}).
        y_prob: Probabilities `[N, L]` (e.g. `sigmoid(logits)` for binary
            cross-entropy or `keras_rdkl.losses.zlpr_probability(scores)`).
        num_bins: Number of equal-width probability bins.
        sample_weight: Optional weights `[N]` per sample, or `[N, L]` per
            (sample, label) entry: a weight of 0 masks an entry out of every
            number (ECE, Brier score and the table).

    Returns:
        A dict: `ece`, `macro_ece`, `brier` (floats), `per_label_ece` (array
        `[L]`) and the pooled reliability table (`bin_lower`, `bin_upper`,
        `count`, `mean_confidence` = mean p, `accuracy` = positive frequency).

    Raises:
        ValueError: when `y_prob` is not `[N, L]`, `y_true` has another
            shape, `y_prob` holds values outside [0, 1] (logits: apply
            `sigmoid` or `zlpr_probability` first) or NaN, `y_true` holds
            values outside [0, 1], `sample_weight` is neither `[N]` nor
            `[N, L]` or is negative, or `num_bins` is not a positive
            integer (NumPy integers are). Values are checked where they are
            given as NumPy arrays or Python lists, not in backend tensors.

    Example:

    >>> out = multilabel_calibration([[1, 0]], [[0.9, 0.2]], num_bins=10)
    >>> round(out["brier"], 4)
    0.025
    """
    num_bins = _check_num_bins(num_bins)
    _check_probabilities(y_prob, "y_prob")
    checks.check_values(
        y_true, "y_true", checks.outside_unit_interval, "targets in [0, 1]"
    )
    if sample_weight is not None:
        checks.check_values(
            sample_weight,
            "sample_weight",
            lambda a: np.logical_not(a >= 0.0),
            "finite weights >= 0",
        )
    p = ops.cast(ops.convert_to_tensor(y_prob), "float32")
    y = ops.cast(ops.convert_to_tensor(y_true), "float32")
    if len(p.shape) != 2:
        raise ValueError(
            f"`y_prob` must have shape [N, L]. Received: y_prob.shape={tuple(p.shape)}"
        )
    checks.check_same_shape(y, p, "y_true", "y_prob")
    if sample_weight is None:
        w2 = ops.ones_like(p)
    else:
        w = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        w_shape, p_shape = tuple(w.shape), tuple(p.shape)
        if w_shape == p_shape[:1]:
            w2 = ops.broadcast_to(ops.expand_dims(w, -1), ops.shape(p))
        elif w_shape == p_shape:
            w2 = w
        else:
            raise ValueError(
                "`sample_weight` must have shape [N] (per sample) or [N, L] (per "
                f"label; 0 masks an entry) with [N, L] = {p_shape}. Received: "
                f"sample_weight.shape={w_shape}"
            )
    count, conf_sum, pos_sum = _binned_sums(p, y, w2, num_bins)  # [L, bins]
    per_label = _ece_from_sums(count, conf_sum, pos_sum)
    pooled = [ops.sum(x, axis=0) for x in (count, conf_sum, pos_sum)]
    total = ops.sum(w2)
    brier = ops.sum(w2 * ops.square(p - y)) / ops.maximum(total, 1e-12)
    out = _table(*[ops.convert_to_numpy(x) for x in pooled])
    out.update(
        ece=float(ops.convert_to_numpy(_ece_from_sums(*pooled))),
        macro_ece=float(np.mean(ops.convert_to_numpy(per_label))),
        brier=float(ops.convert_to_numpy(brier)),
        per_label_ece=ops.convert_to_numpy(per_label),
    )
    return out


def _same(a, b):
    """Static shapes `a` and `b` can be equal (None matches anything)."""
    return len(a) == len(b) and all(
        i is None or j is None or i == j for i, j in zip(a, b, strict=True)
    )


def _bad_class_id(a, n_classes):
    """True where the NumPy array `a` is not an integer class id in [0, n)."""
    with np.errstate(invalid="ignore"):
        return np.logical_not((a >= 0) & (a < n_classes) & (a == np.round(a)))
