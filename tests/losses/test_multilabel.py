"""ZLPR (dense and sparse) against the float64 NumPy reference, with gradients."""

import numpy as np
import pytest
from keras import ops

import keras_rdkl
from keras_rdkl.losses import MultilabelCategoricalCrossentropy
from keras_rdkl.losses import SparseMultilabelCategoricalCrossentropy
from keras_rdkl.losses import multilabel_categorical_crossentropy as mcce
from keras_rdkl.losses import sparse_multilabel_categorical_crossentropy as sparse_mcce
from tests._grad import grad
from tests.losses import _reference as ref

RTOL, ATOL = 1e-5, 1e-6


def _np(x):
    return ops.convert_to_numpy(x)


def _case(shape, soft=False, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    s = (rng.standard_normal(shape) * scale).astype("float32")
    if soft:
        t = rng.uniform(0, 1, shape).astype("float32")
    else:
        t = (rng.uniform(0, 1, shape) < 0.3).astype("float32")
    return t, s


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5), (1, 1), (4, 33)])
@pytest.mark.parametrize("soft", [False, True])
def test_dense_matches_reference(shape, soft):
    t, s = _case(shape, soft)
    np.testing.assert_allclose(_np(mcce(t, s)), ref.zlpr(t, s), rtol=RTOL, atol=ATOL)


def test_tuple_axis_on_global_pointer_shape():
    t, s = _case((2, 3, 6, 6))
    out = _np(mcce(t, s, axis=(-2, -1)))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, ref.zlpr(t, s, axis=(-2, -1)), rtol=RTOL, atol=ATOL)
    # Reduction averages over batch x heads.
    loss = MultilabelCategoricalCrossentropy(axis=(-2, -1))
    np.testing.assert_allclose(
        float(loss(t, s)), ref.zlpr(t, s, axis=(-2, -1)).mean(), rtol=RTOL
    )


def test_non_trailing_axis():
    t, s = _case((2, 5, 3))
    out = _np(mcce(t, s, axis=1))
    np.testing.assert_allclose(out, ref.zlpr(t, s, axis=1), rtol=RTOL, atol=ATOL)


def test_edge_rows():
    m = keras_rdkl.mask_value("float32")
    s = np.array(
        [
            [1e4, -1e4, 3.0, -2.0],  # extreme logits
            [-1.0, 2.0, 0.5, -4.0],  # all-negative labels
            [-1.0, 2.0, 0.5, -4.0],  # all-positive labels
            [m, m, m, m],  # fully masked (layer's mask value)
            [-np.inf, -np.inf, -np.inf, -np.inf],  # fully -inf
            [-np.inf, 2.0, m, -1.0],  # mixed masks
            [-1e4, 1e4, -1e4, 1e4],  # confidently right: loss ~ 0
            [1e4, -1e4, 1e4, -1e4],  # confidently wrong: loss ~ 2e4
        ],
        dtype="float32",
    )
    t = np.array(
        [
            [0, 1, 1, 0],
            [0, 0, 0, 0],
            [1, 1, 1, 1],
            [1, 0, 1, 0],
            [1, 0, 1, 0],
            [1, 1, 1, 0],
            [0, 1, 0, 1],
            [0, 1, 0, 1],
        ],
        dtype="float32",
    )
    out = _np(mcce(t, s))
    expected = ref.zlpr(t, s)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    assert out[3] == 0.0 and out[4] == 0.0
    g = grad(lambda v: mcce(t, v), s)
    assert np.all(np.isfinite(g))
    assert np.all(g[3] == 0) and np.all(g[4] == 0) and g[5, 0] == 0 and g[5, 2] == 0


def test_soft_labels_near_0_and_1_snap():
    s = np.array([[-1e12, 3.0, -2.0]], dtype="float32")
    t = np.array([[1e-9, 1 - 1e-9, 0.0]], dtype="float32")
    out = _np(mcce(t, s))
    np.testing.assert_allclose(out, ref.zlpr(t, s), rtol=RTOL, atol=ATOL)


def test_soft_equals_hard_on_binary_targets():
    t, s = _case((5, 9))
    np.testing.assert_allclose(_np(mcce(t, s)), ref.zlpr(t, s), rtol=RTOL, atol=ATOL)
    # And the soft form with t in {0,1} equals the textbook hard form.
    s64 = s.astype("float64")
    hard = np.log1p(np.where(t == 0, np.exp(s64), 0).sum(-1)) + np.log1p(
        np.where(t == 1, np.exp(-s64), 0).sum(-1)
    )
    np.testing.assert_allclose(_np(mcce(t, s)), hard, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("soft", [False, True])
def test_gradient_closed_form(soft):
    t, s = _case((3, 6), soft, seed=3)
    s[0, 1] = -np.inf
    s[1, 2] = keras_rdkl.mask_value("float32")
    g = grad(lambda v: mcce(t, v), s)
    np.testing.assert_allclose(g, ref.zlpr_grad(t, s), rtol=1e-4, atol=1e-6)


def test_gradient_finite_differences():
    t, s = _case((2, 5), True, scale=1.0, seed=4)
    fd = ref.finite_difference(lambda x: ref.zlpr(t, x), s.astype("float64"))
    np.testing.assert_allclose(grad(lambda v: mcce(t, v), s), fd, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------- sparse form


def test_sparse_matches_dense_and_reference():
    rng = np.random.default_rng(5)
    s = (rng.standard_normal((3, 4, 10)) * 3).astype("float32")
    idx = rng.integers(0, 10, (3, 4, 3)).astype("int32")
    idx[0, 0] = [2, 2, 2]  # duplicates
    idx[1, 1] = [-1, -1, -1]  # padding only: no positives
    idx[2, 2] = [9, 9, 10]  # duplicate plus out-of-range
    t = ref.multi_hot(idx, 10)
    out = _np(sparse_mcce(idx, s))
    np.testing.assert_allclose(out, ref.zlpr(t, s), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out, _np(mcce(t, s)), rtol=RTOL, atol=ATOL)
    g_sparse = grad(lambda v: sparse_mcce(idx, v), s)
    g_dense = grad(lambda v: mcce(t, v), s)
    np.testing.assert_allclose(g_sparse, g_dense, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_sparse, ref.zlpr_grad(t, s), rtol=1e-4, atol=1e-6)


def test_sparse_duplicates_never_negative():
    # The classic port bug: a repeated confident positive drives the loss negative.
    s = np.array([[20.0, -30.0, -30.0, -30.0], [0.0, 0.0, 0.0, 0.0]], dtype="float32")
    idx = np.array([[0, 0, 0], [0, 0, 0]], dtype="int32")
    out = _np(sparse_mcce(idx, s))
    assert np.all(out >= 0) and np.all(np.isfinite(out))
    np.testing.assert_allclose(
        out, ref.zlpr(ref.multi_hot(idx, 4), s), rtol=RTOL, atol=ATOL
    )


def test_sparse_mask_zero():
    rng = np.random.default_rng(6)
    s = rng.standard_normal((4, 8)).astype("float32")
    idx = np.array([[0, 0, 3], [1, 0, 0], [0, 0, 0], [5, 6, 7]], dtype="int32")
    out = _np(sparse_mcce(idx, s, mask_zero=True))
    s_no0 = np.where(np.arange(8) == 0, -np.inf, s)  # class 0 never counts
    np.testing.assert_allclose(
        out,
        ref.zlpr(ref.multi_hot(idx, 8, mask_zero=True), s_no0),
        rtol=RTOL,
        atol=ATOL,
    )
    out0 = _np(sparse_mcce(idx, s, mask_zero=False))
    np.testing.assert_allclose(
        out0, ref.zlpr(ref.multi_hot(idx, 8), s), rtol=RTOL, atol=ATOL
    )


def test_sparse_global_pointer_flat_indices_and_masks():
    rng = np.random.default_rng(7)
    b, h, n = 2, 3, 5
    s = (rng.standard_normal((b, h, n, n)) * 4).astype("float32")
    tril = np.tril(np.ones((n, n), bool), -1)
    s[:, :, tril] = keras_rdkl.mask_value("float32")
    s[1, :, 3:, :] = -np.inf  # padded rows
    s[1, :, :, 3:] = -np.inf
    starts = rng.integers(0, n, (b, h, 4))
    ends = rng.integers(0, n, (b, h, 4))
    idx = (starts * n + ends).astype("int32")
    idx[0, 0, :] = idx[0, 0, 0]  # duplicates
    dense_t = ref.multi_hot(idx, n * n).reshape(b, h, n, n)
    out = _np(sparse_mcce(idx, s, axis=(-2, -1)))
    assert out.shape == (b, h)
    np.testing.assert_allclose(
        out, ref.zlpr(dense_t, s, axis=(-2, -1)), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        out, _np(mcce(dense_t, s, axis=(-2, -1))), rtol=RTOL, atol=ATOL
    )
    g = grad(lambda v: sparse_mcce(idx, v, axis=(-2, -1)), s)
    assert np.all(np.isfinite(g))
    g_ref = ref.zlpr_grad(dense_t.reshape(b, h, -1), s.reshape(b, h, -1)).reshape(
        s.shape
    )
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-6)


def test_sparse_loss_class_float_indices():
    # Loss.__call__ casts y_true to float; indices must survive that.
    rng = np.random.default_rng(8)
    s = rng.standard_normal((3, 12)).astype("float32")
    idx = np.array([[0, 11, 11], [3, 4, 0], [0, 0, 0]], dtype="int32")
    loss = SparseMultilabelCategoricalCrossentropy(mask_zero=True)
    s_no0 = np.where(np.arange(12) == 0, -np.inf, s)  # class 0 never counts
    expected = ref.zlpr(ref.multi_hot(idx, 12, mask_zero=True), s_no0).mean()
    np.testing.assert_allclose(float(loss(idx, s)), expected, rtol=RTOL)


# ------------------------------------------------------------------ bad input


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="y_true"):
        mcce(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="y_true"):
        sparse_mcce(np.zeros((3, 2), "int32"), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="axis"):
        mcce(np.zeros((2, 3)), np.zeros((2, 3)), axis=5)
    with pytest.raises(ValueError, match="axis"):
        MultilabelCategoricalCrossentropy(axis="last")


def test_unknown_reduction_raises():
    with pytest.raises(ValueError, match="reduction"):
        MultilabelCategoricalCrossentropy(reduction="average")
    with pytest.raises(ValueError, match="reduction"):
        SparseMultilabelCategoricalCrossentropy(reduction="average")
