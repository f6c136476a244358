"""Every form of the CRF forward algorithm and Viterbi against float64 NumPy, on edge cases.

`method="auto"`, `"sequential"` (on PyTorch the hand-written kernel of
`keras_rdkl._torch_kernels`, elsewhere the `keras.ops` loop) and
`"parallel"` run through the public API on every backend, at sizes too large
to enumerate paths: the references below run the forward algorithm and
Viterbi over each row's unmasked steps in float64, and gradients are checked
against central finite differences of that reference. The PyTorch kernels
are also checked against the `keras.ops` forms they replace (PyTorch only).
"""

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl import _kernels
from keras_rdkl import mask_value
from keras_rdkl.losses import crf_log_norm
from keras_rdkl.losses import crf_negative_log_likelihood
from keras_rdkl.viterbi import viterbi_decode
from keras_rdkl.viterbi import viterbi_decode_numpy
from tests._grad import grad
from tests.layers.test_crf import _fd  # central finite differences

BACKEND = keras.backend.backend()
METHODS = ("auto", "sequential", "parallel")
ROOT = pathlib.Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- reference


def _logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def ref_log_norm(e, trans, mask):
    """float64 forward algorithm over the unmasked steps of each row: `[B]`."""
    e = np.asarray(e, "float64")
    trans = np.asarray(trans, "float64")
    out = np.zeros(len(e))
    for b in range(len(e)):
        steps = e[b, np.flatnonzero(mask[b])]
        if not len(steps):
            continue
        alpha = steps[0]
        for x in steps[1:]:
            alpha = _logsumexp(alpha[:, None] + trans, axis=0) + x
        out[b] = _logsumexp(alpha, axis=0)
    return out


def ref_gold(y, e, trans, mask):
    out = np.zeros(len(e))
    for b in range(len(e)):
        idx = np.flatnonzero(mask[b])
        path = y[b, idx]
        out[b] = np.sum(np.asarray(e, "float64")[b, idx, path])
        out[b] += np.sum(np.asarray(trans, "float64")[path[:-1], path[1:]])
    return out


def ref_nll(y, e, trans, mask):
    return ref_log_norm(e, trans, mask) - ref_gold(y, e, trans, mask)


def _case(name, seed=0):
    """`(e, trans, y, mask, scale)` of one edge case (float32 inputs)."""
    rng = np.random.default_rng(seed)
    batch, length, tags = 4, 7, 5
    mask = np.ones((batch, length), "int32")
    scale = 1.0
    if name == "gaps":  # left padding, gaps, right padding, a full row
        mask[0, :2] = 0
        mask[1, [1, 3, 4]] = 0
        mask[2, 5:] = 0
    elif name == "length_one":
        length = 1
        mask = np.array([[1], [1], [0], [1]], "int32")
    elif name == "one_valid_step":  # a single unmasked step, at either end
        mask[:] = 0
        mask[0, 0] = mask[1, -1] = mask[2, 3] = 1
    elif name == "all_masked_rows":
        mask[0] = 0
        mask[2] = 0
        mask[3, 4:] = 0
    elif name == "extreme":  # scores in the hundreds, peaked marginals
        scale = 60.0
        mask[1, 5:] = 0
    e = scale * rng.normal(size=(batch, length, tags))
    trans = scale * rng.normal(size=(tags, tags))
    y = rng.integers(0, tags, size=(batch, length))
    return e.astype("float32"), trans.astype("float32"), y, mask, scale


CASES = ("gaps", "length_one", "one_valid_step", "all_masked_rows", "extreme")


def np_(x):
    return ops.convert_to_numpy(x)


# ---------------------------------------------------------------- log Z and the loss


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_values_match_float64_reference(method, case):
    e, trans, y, mask, scale = _case(case)
    want = ref_log_norm(e, trans, mask)
    tol = 1e-5 * max(1.0, np.abs(want).max())
    got = np_(crf_log_norm(e, trans, mask, method=method))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=tol)
    loss = np_(crf_negative_log_likelihood(y, e, trans, mask, method=method))
    np.testing.assert_allclose(loss, ref_nll(y, e, trans, mask), rtol=1e-5, atol=tol)
    assert np.all(loss[~mask.any(axis=1)] == 0.0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_gradients_match_finite_differences(method, case):
    e, trans, y, mask, scale = _case(case, seed=1)
    weights = np.arange(1.0, len(e) + 1.0)  # a different weight per row

    def loss(v_e, v_a):
        return crf_negative_log_likelihood(y, v_e, v_a, mask, method=method) * ops.cast(
            weights, "float32"
        )

    g_e = grad(lambda v: loss(v, trans), e)
    g_a = grad(lambda v: loss(e, v), trans)
    eps = 1e-5 * scale
    fd_e = _fd(lambda v: weights @ ref_nll(y, v, trans, mask), e, eps)
    fd_a = _fd(lambda v: weights @ ref_nll(y, e, v, mask), trans, eps)
    # Marginals are at most 1: the gradients' float32 rounding grows with
    # the size of the scores (the "extreme" case), not with the gradients.
    np.testing.assert_allclose(g_e, fd_e, atol=1e-5 * scale)
    np.testing.assert_allclose(g_a, fd_a, atol=4e-5 * scale)
    assert np.all(g_e[mask == 0] == 0.0)


def test_excluded_scores_and_forbidden_transitions():
    # mask_value / -inf scores exclude single tags; -1e4 transitions forbid
    # pairs. Every form agrees with the reference and keeps finite gradients.
    e, trans, y, mask, _ = _case("gaps", seed=2)
    e[0, 3, 1:] = -np.inf
    e[2, 2, :4] = mask_value("float32")
    y[0, 3] = 0
    y[2, 2] = 4
    trans[:, 2] = -1e4
    trans[2, 2] = 0.0
    want = ref_log_norm(np.maximum(e, -1e12), trans, mask)
    for method in METHODS:
        got = np_(crf_log_norm(e, trans, mask, method=method))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
        g = grad(
            lambda v, m=method: crf_negative_log_likelihood(
                y, v, trans, mask, method=m
            ),
            e,
        )
        assert np.isfinite(g).all()
        np.testing.assert_array_equal(g[0, 3, 1:], 0.0)


def test_auto_method_rule():
    # "auto" takes the sequential form wherever the length is unknown.
    assert _kernels.crf_auto_method(None, 9) == "sequential"
    assert _kernels.crf_auto_method(None, None) == "sequential"
    for tags in (2, 9, 21, 64):
        for length in (1, 16, 64, 128, 256, 1024):
            assert _kernels.crf_auto_method(length, tags) in ("sequential", "parallel")


def test_callers_do_not_branch_on_the_backend():
    # Backend-specific CRF code lives behind keras_rdkl/_kernels.py.
    for path in ("keras_rdkl/losses/crf.py", "keras_rdkl/viterbi.py"):
        source = (ROOT / path).read_text()
        assert "backend.backend()" not in source, path
        assert "_torch_kernels" not in source, path


# ---------------------------------------------------------------- Viterbi


def _ref_viterbi(e, trans, mask, starts=None, ends=None):
    tags = np.zeros(mask.shape, "int64")
    for b in range(len(e)):
        idx = np.flatnonzero(mask[b])
        if len(idx):
            tags[b, idx] = viterbi_decode_numpy(e[b, idx], trans, starts, ends)
    return tags


def _path_score(e, trans, mask, tags):
    return ref_gold(tags, e, trans, mask)


@pytest.mark.parametrize("case", CASES)
def test_viterbi_matches_numpy_reference(case):
    e, trans, _, mask, _ = _case(case, seed=3)
    tags, scores = viterbi_decode(e, trans, mask)
    want = _ref_viterbi(e, trans, mask)
    np.testing.assert_array_equal(np_(tags), want)
    want_scores = _path_score(e, trans, mask, want)
    tol = 1e-5 * max(1.0, np.abs(want_scores).max())
    np.testing.assert_allclose(np_(scores), want_scores, rtol=1e-5, atol=tol)


def test_viterbi_ties_go_to_the_lowest_tag():
    e = np.zeros((2, 5, 4), "float32")
    e[1, 2, 1:3] = 1.0  # a tie between tags 1 and 2 at one step
    mask = np.array([[1, 1, 1, 1, 1], [0, 1, 1, 1, 0]])
    tags, scores = viterbi_decode(e, np.zeros((4, 4), "float32"), mask)
    np.testing.assert_array_equal(np_(tags), [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0]])
    np.testing.assert_allclose(np_(scores), [0.0, 1.0])


def test_viterbi_constraints_on_masked_rows():
    e, trans, _, mask, _ = _case("gaps", seed=4)
    starts, ends = [0, 2, 3], [1, 4]
    allowed = np.ones((5, 5), bool)
    allowed[0, 1] = allowed[3, 4] = allowed[2, 2] = False
    tags, _ = viterbi_decode(
        e, trans, mask, start_tags=starts, end_tags=ends, allowed_transitions=allowed
    )
    forbid = np.where(allowed, trans, -1e12).astype("float32")
    np.testing.assert_array_equal(
        np_(tags), _ref_viterbi(e, forbid, mask, starts=starts, ends=ends)
    )


# ---------------------------------------------------------------- PyTorch kernels


@pytest.mark.skipif(BACKEND != "torch", reason="the PyTorch kernels run on PyTorch")
@pytest.mark.parametrize("case", CASES)
def test_torch_kernels_equal_the_ops_forms(case):
    import torch

    from keras_rdkl import _torch_kernels
    from keras_rdkl import viterbi
    from keras_rdkl.losses import crf as crf_mod

    e, trans, _, mask, scale = _case(case, seed=5)
    x, a, valid = crf_mod.prepare_emissions(e, trans, mask)
    outs = []
    for form in (_torch_kernels.crf_log_norm, crf_mod._log_norm_sequential):
        xg = x.detach().requires_grad_(True)
        ag = a.detach().requires_grad_(True)
        z = form(xg, ag, valid)
        (z * torch.arange(1.0, len(e) + 1.0)).sum().backward()
        outs.append([t.detach().numpy() for t in (z, xg.grad, ag.grad)])
    for got, want in zip(*outs, strict=True):
        # float32 rounding of both forms grows with the scores (`scale`).
        atol = 1e-5 * scale * max(1.0, np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)
    zeros = torch.zeros(e.shape[-1])
    pen = torch.where(torch.arange(e.shape[-1]) == 1, -1e12, zeros)
    got = _torch_kernels.crf_viterbi(x, a, valid, pen, zeros)
    want = viterbi._viterbi_ops(x, a, valid, pen, zeros)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    np.testing.assert_allclose(got[1].numpy(), want[1].numpy(), rtol=1e-6)


@pytest.mark.skipif(BACKEND != "torch", reason="host reads are PyTorch calls here")
def test_torch_loss_and_gradient_read_nothing_back(monkeypatch):
    # A training step must not wait on the device: no .item(), .tolist(),
    # bool(), float() or NumPy conversion in the loss or its backward.
    import torch

    e, trans, y, mask, _ = _case("gaps", seed=6)
    e_t = torch.tensor(e, requires_grad=True)
    a_t = torch.tensor(trans, requires_grad=True)
    y_t, m_t = torch.tensor(y), torch.tensor(mask)

    def refuse(*args, **kwargs):
        raise AssertionError("host read in the CRF loss")

    for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    loss = crf_negative_log_likelihood(y_t, e_t, a_t, m_t).sum()
    loss.backward()
    monkeypatch.undo()
    assert np.isfinite(e_t.grad.numpy()).all() and np.isfinite(a_t.grad.numpy()).all()
