"""Gamma-cross-entropy (TaiLr) against the NumPy reference, gradients, and gamma = 0."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.losses import GammaCrossentropy
from keras_rdkl.losses import SparseGammaCrossentropy
from keras_rdkl.losses import gamma_crossentropy
from keras_rdkl.losses import gamma_weight
from keras_rdkl.losses import sparse_gamma_crossentropy
from tests._grad import grad
from tests.losses import _reference as ref

RTOL, ATOL = 1e-5, 1e-6


def _np(x):
    return ops.convert_to_numpy(x)


def _logits(shape, scale=2.0, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(
        "float32"
    )


def _probs(shape, seed=0):
    p = np.random.default_rng(seed).uniform(0.01, 1.0, shape)
    return (p / p.sum(-1, keepdims=True)).astype("float32")


def _labels(shape, c, seed=0):
    return np.random.default_rng(seed + 1).integers(0, c, shape).astype("int32")


@pytest.mark.parametrize("gamma", [0.0, 1e-7, 0.1, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("threshold", [0.0, 0.2])
@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_and_dense_match_reference(gamma, threshold, from_logits):
    shape, c = (3, 4), 6
    y_pred = _logits(shape + (c,)) if from_logits else _probs(shape + (c,))
    labels = _labels(shape, c)
    onehot = np.eye(c, dtype="float32")[labels]
    expected = ref.sparse_gamma_ce(labels, y_pred, gamma, threshold, from_logits)
    sparse = sparse_gamma_crossentropy(labels, y_pred, gamma, threshold, from_logits)
    dense = gamma_crossentropy(onehot, y_pred, gamma, threshold, from_logits)
    np.testing.assert_allclose(_np(sparse), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(_np(dense), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        _np(dense),
        ref.gamma_ce(onehot, y_pred, gamma, threshold, from_logits),
        rtol=RTOL,
        atol=ATOL,
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_soft_targets_and_smoothing(label_smoothing):
    y_pred = _logits((5, 7), seed=2)
    y = np.random.default_rng(3).uniform(0, 1, (5, 7))
    y = (y / y.sum(-1, keepdims=True)).astype("float32")
    out = gamma_crossentropy(
        y, y_pred, 0.3, 0.1, from_logits=True, label_smoothing=label_smoothing
    )
    expected = ref.gamma_ce(y, y_pred, 0.3, 0.1, True, label_smoothing)
    np.testing.assert_allclose(_np(out), expected, rtol=RTOL, atol=ATOL)


def test_extreme_logits_finite():
    y_pred = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [0.0, 0.0, 0.0]], "float32")
    labels = np.array([0, 0, 2], "int32")  # right, confidently wrong, uniform
    for gamma in (0.0, 0.5, 1.0):
        out = _np(sparse_gamma_crossentropy(labels, y_pred, gamma, from_logits=True))
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(
            out,
            ref.sparse_gamma_ce(labels, y_pred, gamma, 0.0, True),
            rtol=RTOL,
            atol=ATOL,
        )
        g = grad(
            lambda v, g_=gamma: sparse_gamma_crossentropy(
                labels, v, g_, from_logits=True
            ),
            y_pred,
        )
        assert np.all(np.isfinite(g))


def test_gamma_weight_limits():
    p = np.array([0.0, 1e-30, 0.3, 1.0], "float32")
    w0 = _np(gamma_weight(ops.convert_to_tensor(p), 0.0))
    np.testing.assert_array_equal(w0, np.ones(4))  # gamma = 0: w = 1, even at p = 0
    w1 = _np(gamma_weight(ops.convert_to_tensor(p), 1.0))
    np.testing.assert_allclose(w1, p, rtol=1e-6)  # gamma = 1: w = p
    wb = _np(gamma_weight(ops.convert_to_tensor(p), 0.5, 0.4))
    np.testing.assert_allclose(
        wb, ref.tailr_weight(p.astype("float64"), 0.5, 0.4), rtol=1e-6
    )


@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5, 0.9])
def test_gradient_without_threshold_equals_log_objective(gamma):
    """With b = 0, grad of -w log p equals grad of -log(g + (1-g) p) / (1-g)."""
    y_pred = _logits((4, 5), seed=5)
    labels = _labels((4,), 5, seed=5)

    def objective(x):
        p = np.exp(
            np.take_along_axis(ref.log_probs(x, True), labels[:, None], -1)[:, 0]
        )
        return -np.log(gamma + (1 - gamma) * p) / (1 - gamma)

    fd = ref.finite_difference(objective, y_pred.astype("float64"))
    g = grad(
        lambda v, g_=gamma: sparse_gamma_crossentropy(labels, v, g_, from_logits=True),
        y_pred,
    )
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)
    # Closed form: w * (softmax - onehot).
    p = np.exp(ref.log_probs(y_pred, True))
    pt = p[np.arange(4), labels]
    w = pt / (gamma + (1 - gamma) * pt)
    closed = w[:, None] * (p - np.eye(5)[labels])
    np.testing.assert_allclose(g, closed, rtol=1e-4, atol=1e-6)


def test_gamma_one_gradient_is_that_of_minus_p():
    y_pred = _logits((3, 4), seed=6)
    labels = _labels((3,), 4, seed=6)
    p = np.exp(ref.log_probs(y_pred, True))
    pt = p[np.arange(3), labels]
    closed = -pt[:, None] * (np.eye(4)[labels] - p)  # d(-p_y)/ds
    g = grad(
        lambda v: sparse_gamma_crossentropy(labels, v, 1.0, from_logits=True), y_pred
    )
    np.testing.assert_allclose(g, closed, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("threshold", [0.3, 0.9])
def test_gradient_with_threshold_holds_clamped_weight(threshold):
    y_pred = _logits((6, 5), scale=3.0, seed=7)
    labels = _labels((6,), 5, seed=7)
    gamma = 0.5
    p = np.exp(ref.log_probs(y_pred, True))
    pt = p[np.arange(6), labels]
    w = ref.tailr_weight(pt, gamma, threshold)  # constant
    onehot = np.eye(5)[labels]

    def weighted_nll(x):
        return (
            -w * np.take_along_axis(ref.log_probs(x, True), labels[:, None], -1)[:, 0]
        )

    fd = ref.finite_difference(weighted_nll, y_pred.astype("float64"))
    g = grad(
        lambda v: sparse_gamma_crossentropy(labels, v, gamma, threshold, True), y_pred
    )
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g, w[:, None] * (p - onehot), rtol=1e-4, atol=1e-6)
    gd = grad(lambda v: gamma_crossentropy(onehot, v, gamma, threshold, True), y_pred)
    np.testing.assert_allclose(gd, g, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------- gamma = 0 is Keras' CE


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_gamma_zero_is_categorical_crossentropy(from_logits, label_smoothing):
    c = 5
    y_pred = _logits((4, c), seed=8) if from_logits else _probs((4, c), seed=8)
    onehot = np.eye(c, dtype="float32")[_labels((4,), c, seed=8)]
    ours = GammaCrossentropy(
        0.0, from_logits=from_logits, label_smoothing=label_smoothing
    )
    theirs = keras.losses.CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=label_smoothing
    )
    np.testing.assert_allclose(
        float(ours(onehot, y_pred)), float(theirs(onehot, y_pred)), rtol=RTOL
    )
    g1 = grad(lambda v: ours(onehot, v), y_pred)
    g2 = grad(lambda v: theirs(onehot, v), y_pred)
    np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ignore_class", [None, 0, 3])
def test_gamma_zero_is_sparse_categorical_crossentropy(from_logits, ignore_class):
    c = 4
    y_pred = _logits((3, 5, c), seed=9) if from_logits else _probs((3, 5, c), seed=9)
    labels = _labels((3, 5), c, seed=9)
    labels[0, :2] = 0
    labels[1, 3:] = 3
    ours = SparseGammaCrossentropy(
        0.0, from_logits=from_logits, ignore_class=ignore_class
    )
    theirs = keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, ignore_class=ignore_class
    )
    # Includes the reduction: ignored tokens leave the mean's denominator too.
    np.testing.assert_allclose(
        float(ours(labels, y_pred)), float(theirs(labels, y_pred)), rtol=RTOL
    )
    g1 = grad(lambda v: ours(labels, v), y_pred)
    g2 = grad(lambda v: theirs(labels, v), y_pred)
    keep = (
        labels != ignore_class
        if ignore_class is not None
        else np.ones(labels.shape, bool)
    )
    # Compared where a token counts: Keras < 3.14's own loss gives NaN gradients
    # at ignored tokens; ours are asserted to be exactly 0 there below.
    np.testing.assert_allclose(g1[keep], g2[keep], rtol=1e-4, atol=1e-6)
    if ignore_class is not None:
        full = ref.sparse_gamma_ce(
            np.where(keep, labels, 0), y_pred, 0.0, 0.0, from_logits
        )
        np.testing.assert_allclose(
            float(ours(labels, y_pred)), full[keep].sum() / keep.sum(), rtol=RTOL
        )
        assert np.all(g1[~keep] == 0)


def test_ignore_class_with_gamma_matches_reference():
    y_pred = _logits((2, 6, 5), seed=10)
    labels = _labels((2, 6), 5, seed=10)
    labels[:, -2:] = 0
    loss = SparseGammaCrossentropy(0.4, threshold=0.2, from_logits=True, ignore_class=0)
    keep = labels != 0
    full = ref.sparse_gamma_ce(labels, y_pred, 0.4, 0.2, True)
    np.testing.assert_allclose(
        float(loss(labels, y_pred)), full[keep].mean(), rtol=RTOL
    )


def test_class_axis_not_last():
    y_pred = _logits((3, 5, 4), seed=11)  # classes on axis 1
    labels = _labels((3, 4), 5, seed=11)
    out = _np(sparse_gamma_crossentropy(labels, y_pred, 0.3, from_logits=True, axis=1))
    expected = ref.sparse_gamma_ce(labels, np.moveaxis(y_pred, 1, -1), 0.3, 0.0, True)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("gamma", {"gamma": -0.1}),
        ("gamma", {"gamma": 1.5}),
        ("threshold", {"gamma": 0.1, "threshold": -0.5}),
        ("threshold", {"gamma": 0.1, "threshold": 2.0}),
    ],
)
def test_out_of_range_arguments_raise(name, kwargs):
    for cls in (GammaCrossentropy, SparseGammaCrossentropy):
        with pytest.raises(ValueError, match=rf"`{name}` must be in \[0, 1\]"):
            cls(**kwargs)
    with pytest.raises(ValueError, match=name):
        sparse_gamma_crossentropy([0], [[0.0, 1.0]], **kwargs)
    with pytest.raises(ValueError, match=name):
        gamma_crossentropy([[1.0, 0.0]], [[0.0, 1.0]], **kwargs)


def test_setter_and_smoothing_validate():
    loss = GammaCrossentropy(0.1)
    with pytest.raises(ValueError, match="gamma"):
        loss.gamma = 1.2
    with pytest.raises(ValueError, match="label_smoothing"):
        GammaCrossentropy(0.1, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        GammaCrossentropy(0.1, reduction="average")


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="y_true"):
        gamma_crossentropy(np.zeros((2, 3)), np.zeros((2, 4)), 0.1)
    with pytest.raises(ValueError, match="y_true"):
        sparse_gamma_crossentropy(np.zeros((3,), "int32"), np.zeros((2, 4)), 0.1)


# ------------------------------------------------------------------ masking


def _masked_case(seed=12):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((6, 5)) * 2).astype("float32")
    logits[0, 1] = -np.inf
    logits[1, [0, 3]] = -1e12  # the layers' float32 mask value
    logits[2, 4] = -3e4  # the float16 mask value
    logits[3, 2] = -2e4  # exactly MASK_THRESHOLD: masked
    logits[4, :] = -np.inf  # fully masked row
    logits[5, 0] = -1.9e4  # an ordinary (very negative) logit: not masked
    labels = np.array([0, 1, 2, 4, 3, 1])
    labels[1] = 3  # a target on a masked class contributes 0
    return logits, labels


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("gamma,threshold", [(0.0, 0.0), (0.5, 0.2), (1.0, 0.0)])
def test_masked_classes_drop_out_of_softmax_and_smoothing(
    gamma, threshold, label_smoothing
):
    logits, labels = _masked_case()
    onehot = np.eye(5, dtype="float32")[labels]
    out = _np(
        gamma_crossentropy(
            onehot,
            logits,
            gamma,
            threshold,
            from_logits=True,
            label_smoothing=label_smoothing,
        )
    )
    expected = ref.masked_gamma_ce(onehot, logits, gamma, threshold, label_smoothing)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    assert out[4] == 0.0 and not np.signbit(out[4])
    g = grad(
        lambda v: gamma_crossentropy(
            onehot,
            v,
            gamma,
            threshold,
            from_logits=True,
            label_smoothing=label_smoothing,
        ),
        logits,
    )
    assert np.all(np.isfinite(g))
    assert np.all(g[logits <= -2e4] == 0.0) and np.all(g[4] == 0.0)
    if label_smoothing == 0.0:
        sparse = _np(sparse_gamma_crossentropy(labels, logits, gamma, threshold, True))
        np.testing.assert_allclose(sparse, expected, rtol=RTOL, atol=ATOL)
        assert sparse[1] == 0.0 and sparse[4] == 0.0
        gs = grad(
            lambda v: sparse_gamma_crossentropy(labels, v, gamma, threshold, True),
            logits,
        )
        np.testing.assert_allclose(gs, g, rtol=1e-4, atol=1e-6)


def test_masked_gradient_matches_finite_differences():
    logits, labels = _masked_case(seed=13)
    logits = np.where(logits > -1.5e4, logits / 2, logits).astype("float32")
    onehot = np.eye(5)[labels]
    gamma, threshold, eps = 0.4, 0.1, 0.1
    lp = {}  # the TaiLr weights are constants: frozen at the point
    for i in range(6):
        v = logits[i] > -2e4
        if v.any():
            p = np.exp(ref.log_softmax(logits[i][v].astype("float64")))
            lp[i] = (v, ref.tailr_weight(p, gamma, threshold))

    def frozen(x):
        out = np.zeros(6)
        for i, (v, w) in lp.items():
            lpi = ref.log_softmax(x[i][v])
            out[i] = (1 - eps) * -(
                onehot[i][v] * w * lpi
            ).sum() + eps * -lpi.sum() / v.sum()
        return out

    fd = ref.finite_difference(frozen, logits.astype("float64"))
    g = grad(
        lambda v: gamma_crossentropy(
            onehot.astype("float32"), v, gamma, threshold, True, label_smoothing=eps
        ),
        logits,
    )
    finite = logits > -2e4
    np.testing.assert_allclose(g[finite], fd[finite], rtol=1e-4, atol=1e-5)
    assert np.all(g[~finite] == 0.0)


def test_masked_call_equals_call_on_unmasked_subset():
    rng = np.random.default_rng(14)
    logits = rng.standard_normal((1, 6)).astype("float32")
    y = np.eye(6, dtype="float32")[[2]]
    masked = logits.copy()
    masked[0, [0, 5]] = -1e12
    keep = [1, 2, 3, 4]
    a = _np(gamma_crossentropy(y, masked, 0.3, 0.1, True, label_smoothing=0.2))
    b = _np(
        gamma_crossentropy(
            y[:, keep], logits[:, keep], 0.3, 0.1, True, label_smoothing=0.2
        )
    )
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_masked_inputs_are_finite(dtype):
    logits, labels = _masked_case(seed=15)
    logits = np.where(logits <= -2e4, -3e4, logits)  # what a float16 layer writes
    x = ops.cast(logits, dtype)
    onehot = np.eye(5, dtype="float32")[labels]
    out = _np(gamma_crossentropy(onehot, x, 0.5, 0.2, True, label_smoothing=0.1))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    rounded = _np(ops.cast(x, "float32"))
    np.testing.assert_allclose(
        out, ref.masked_gamma_ce(onehot, rounded, 0.5, 0.2, 0.1), rtol=1e-5, atol=1e-5
    )
    out = _np(SparseGammaCrossentropy(0.5, from_logits=True)(labels, x))
    assert np.isfinite(out)


def test_fully_masked_row_in_loss_class_is_zero_with_zero_gradient():
    logits = np.full((2, 4), -np.inf, "float32")
    logits[1] = [0.5, -1.0, 2.0, -1e12]
    y = np.eye(4, dtype="float32")[[1, 2]]
    loss = GammaCrossentropy(
        0.2, from_logits=True, label_smoothing=0.1, reduction="none"
    )
    out = _np(loss(y, logits))
    assert out[0] == 0.0 and np.isfinite(out[1])
    g = grad(lambda v: loss(y, v), logits)
    assert np.all(g[0] == 0.0) and np.all(np.isfinite(g))
