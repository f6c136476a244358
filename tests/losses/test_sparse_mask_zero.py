"""Sparse ZLPR with `mask_zero=True`: bert4keras 0.11.5's meaning, against NumPy.

With `mask_zero=True` class 0 never counts: index 0 in `y_true` is padding
and class 0's score is left out of the negative sum. The reference below is
written from that formula in float64, row by row.
"""

import numpy as np
import pytest
from keras import ops

import keras_rdkl
from keras_rdkl.losses import SparseMultilabelCategoricalCrossentropy
from keras_rdkl.losses import multilabel_categorical_crossentropy as mcce
from keras_rdkl.losses import sparse_multilabel_categorical_crossentropy as sparse_mcce
from keras_rdkl.masking import MASK_THRESHOLD
from tests._grad import grad

RTOL, ATOL = 1e-5, 1e-5


def _np(x):
    return ops.convert_to_numpy(x)


def _row_sets(idx_row, s_row, mask_zero):
    """Positive and negative class sets of one row, masked scores dropped."""
    n = s_row.shape[0]
    kept = s_row > MASK_THRESHOLD
    if mask_zero:
        kept[0] = False  # class 0 never counts
    pos = np.zeros(n, bool)
    for j in idx_row:
        if 0 <= j < n:
            pos[j] = True
    return pos & kept, ~pos & kept


def np_sparse(idx, s, mask_zero):
    """log(1 + sum_pos e^{-s}) + log(1 + sum_neg e^{s}) over the last axis."""
    idx = np.asarray(idx).reshape(-1, np.shape(idx)[-1])
    s = np.asarray(s, np.float64)
    rows = s.reshape(-1, s.shape[-1])
    out = np.zeros(rows.shape[0])
    for r in range(rows.shape[0]):
        pos, neg = _row_sets(idx[r], rows[r], mask_zero)
        out[r] = np.logaddexp.reduce(np.r_[0.0, -rows[r][pos]]) + np.logaddexp.reduce(
            np.r_[0.0, rows[r][neg]]
        )
    return out.reshape(s.shape[:-1])


def np_sparse_grad(idx, s, mask_zero):
    """Closed form: -e^{-s_j} / (1 + sum_pos) at positives, e^{s_i} / (1 + sum_neg)."""
    idx = np.asarray(idx).reshape(-1, np.shape(idx)[-1])
    s = np.asarray(s, np.float64)
    rows = s.reshape(-1, s.shape[-1])
    g = np.zeros_like(rows)
    for r in range(rows.shape[0]):
        pos, neg = _row_sets(idx[r], rows[r], mask_zero)
        lp = np.logaddexp.reduce(np.r_[0.0, -rows[r][pos]])
        ln = np.logaddexp.reduce(np.r_[0.0, rows[r][neg]])
        g[r, pos] = -np.exp(-rows[r][pos] - lp)
        g[r, neg] = np.exp(rows[r][neg] - ln)
    return g.reshape(s.shape)


def _case(seed=0, lead=(4,), n=9, k=4, scale=3.0):
    rng = np.random.default_rng(seed)
    s = (rng.standard_normal(lead + (n,)) * scale).astype("float32")
    idx = rng.integers(0, n, lead + (k,)).astype("int32")
    return idx, s


def test_matches_reference_with_edge_cases():
    idx, s = _case(seed=1, lead=(8,))
    s[:, 0] = 9.0  # a large class-0 score: never a negative with mask_zero
    idx[0] = [0, 0, 0, 0]  # all padding
    idx[1] = [3, 3, 0, 5]  # duplicates and padding
    idx[2] = [-1, 9, 2, 0]  # out-of-range indices are padding too
    s[3, 1:5] = [-np.inf, -1e12, MASK_THRESHOLD, MASK_THRESHOLD + 1.0]
    idx[3] = [1, 2, 3, 4]  # masked positives are ignored
    s[4] = -np.inf  # fully masked row
    s[5, 1:] = [80.0, -80.0, 1e4, -1e4, 50.0, -50.0, 0.0, 30.0]  # extreme logits
    idx[5] = [1, 3, 5, 6]
    s[6, 1:] = -np.inf  # only class 0 left: nothing counts
    for mask_zero in (True, False):
        got = _np(sparse_mcce(idx, s, mask_zero=mask_zero))
        np.testing.assert_allclose(
            got, np_sparse(idx, s, mask_zero), rtol=RTOL, atol=ATOL
        )
        assert np.all(np.isfinite(got)) and np.all(got >= 0)
    np.testing.assert_allclose(_np(sparse_mcce(idx, s, mask_zero=True))[[4, 6]], 0.0)


def test_class_zero_score_never_matters():
    idx, s = _case(seed=2, lead=(5,))
    base = _np(sparse_mcce(idx, s, mask_zero=True))
    for value in (-30.0, 0.0, 30.0, -np.inf, -1e12):
        t = s.copy()
        t[:, 0] = value
        np.testing.assert_allclose(
            _np(sparse_mcce(idx, t, mask_zero=True)), base, rtol=1e-6
        )
    g = grad(lambda v: sparse_mcce(idx, v, mask_zero=True), s)
    np.testing.assert_array_equal(g[:, 0], 0.0)


@pytest.mark.parametrize("mask_zero", [True, False])
def test_gradient_matches_closed_form(mask_zero):
    idx, s = _case(seed=3, lead=(2, 3), n=7, k=3)
    idx[0, 0] = [0, 0, 0]
    idx[0, 1] = [4, 4, 0]
    s[1, 0, 2:4] = [-np.inf, -1e12]
    s[1, 1] = -np.inf
    s[1, 2, 1:] = [40.0, -40.0, 60.0, 1e3, -1e3, 5.0]
    idx[1, 2] = [1, 4, 6]
    g = grad(lambda v: sparse_mcce(idx, v, mask_zero=mask_zero), s)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(
        g, np_sparse_grad(idx, s, mask_zero), rtol=1e-4, atol=1e-6
    )


def test_equals_dense_with_class_zero_masked():
    idx, s = _case(seed=4, lead=(6,), n=8, k=3)
    t = np.zeros_like(s)
    for r in range(idx.shape[0]):
        t[r, idx[r][idx[r] > 0]] = 1.0
    dense_s = s.copy()
    dense_s[:, 0] = -np.inf
    np.testing.assert_allclose(
        _np(sparse_mcce(idx, s, mask_zero=True)), _np(mcce(t, dense_s)), rtol=1e-5
    )


def test_global_pointer_grid():
    rng = np.random.default_rng(5)
    b, h, n = 2, 3, 5
    s = (rng.standard_normal((b, h, n, n)) * 4).astype("float32")
    s[:, :, np.tril(np.ones((n, n), bool), -1)] = keras_rdkl.mask_value("float32")
    s[:, :, 0, 0] = 20.0  # span (0, 0) = class 0
    starts = rng.integers(0, n, (b, h, 4))
    ends = rng.integers(0, n, (b, h, 4))
    idx = (starts * n + ends).astype("int32")
    idx[0, 1] = 0  # a head with padding only
    idx[1, 0, :2] = idx[1, 0, 2]  # duplicates
    out = _np(sparse_mcce(idx, s, mask_zero=True, axis=(-2, -1)))
    assert out.shape == (b, h)
    ref = np_sparse(idx, s.reshape(b, h, n * n), mask_zero=True)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)
    g = grad(lambda v: sparse_mcce(idx, v, mask_zero=True, axis=(-2, -1)), s)
    g_ref = np_sparse_grad(idx, s.reshape(b, h, n * n), True).reshape(s.shape)
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-6)


def test_loss_class_mask_zero():
    idx, s = _case(seed=6, lead=(3,), n=12, k=3)
    s[:, 0] = 15.0
    idx[2] = 0
    loss = SparseMultilabelCategoricalCrossentropy(mask_zero=True)
    # Loss.__call__ hands the indices over as floats.
    np.testing.assert_allclose(
        float(loss(idx, s)), np_sparse(idx, s, True).mean(), rtol=RTOL
    )
    assert loss.get_config()["mask_zero"] is True


@pytest.mark.parametrize("mask_zero", [True, False])
def test_non_integer_indices_and_bad_mask_zero_raise(mask_zero):
    s = np.zeros((2, 5), "float32")
    for bad in (1.5, np.nan):
        idx = np.array([[1.0, bad], [0.0, 2.0]], "float32")
        with pytest.raises(
            ValueError, match=r"`y_true` must hold integer class indices"
        ):
            sparse_mcce(idx, s, mask_zero=mask_zero)
    # Integral floats (as Loss.__call__ hands them over) and padding are fine.
    idx = np.array([[1.0, -1.0], [7.0, 2.0]], "float32")
    np.testing.assert_allclose(
        _np(sparse_mcce(idx, s, mask_zero=mask_zero)),
        np_sparse(idx.astype(int), s, mask_zero),
        rtol=RTOL,
        atol=ATOL,
    )
    with pytest.raises(ValueError, match="mask_zero"):
        sparse_mcce(idx, s, mask_zero=1)
    with pytest.raises(ValueError, match="mask_zero"):
        SparseMultilabelCategoricalCrossentropy(mask_zero="yes")
