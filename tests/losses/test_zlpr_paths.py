"""Dense ZLPR on hard cases, against the NumPy reference, on every backend.

On PyTorch the dense loss runs one kernel of its own
(`keras_rdkl._torch_kernels.zlpr`, for hard and soft targets, chosen without
reading a value); elsewhere the `keras.ops` form. Every case below runs on
every backend (the same inputs must give the same numbers everywhere): huge
scores on one side, masked positives, infinities, NaN, targets near 0 and 1,
soft targets with extreme scores; on PyTorch the kernel is also checked
against the `keras.ops` form in float64.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rdkl
from keras_rdkl.losses import MultilabelCategoricalCrossentropy
from keras_rdkl.losses import multilabel_categorical_crossentropy as mcce
from tests._grad import grad
from tests.losses import _reference as ref

RTOL, ATOL = 1e-5, 1e-6
MASK = keras_rdkl.mask_value("float32")


def _gp_case(seed=0, scale=2.0, b=2, h=3, n=12, k=4):
    """GlobalPointer-shaped scores with the lower triangle masked, k labels a head."""
    rng = np.random.default_rng(seed)
    s = (rng.standard_normal((b, h, n, n)) * scale).astype("float32")
    s = np.where(np.tril(np.ones((n, n)), -1) > 0, MASK, s).astype("float32")
    t = np.zeros_like(s)
    for i in range(b):
        for j in range(h):
            for _ in range(k):
                a, c = sorted(rng.integers(0, n, 2))
                t[i, j, a, c] = 1.0
    return t, s


def _check(t, s, axis=-1, grad_rtol=1e-4):
    out = ops.convert_to_numpy(mcce(t, s, axis=axis))
    np.testing.assert_allclose(out, ref.zlpr(t, s, axis=axis), rtol=RTOL, atol=ATOL)
    g = grad(lambda v: mcce(t, v, axis=axis), s)
    t2 = ref.flatten_axes(np.asarray(t, np.float64), axis)
    s2 = ref.flatten_axes(np.asarray(s, np.float64), axis)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(
        ref.flatten_axes(g, axis), ref.zlpr_grad(t2, s2), rtol=grad_rtol, atol=1e-6
    )


def test_global_pointer_grid():
    # The common case: moderate scores, masked lower triangle, a few labels.
    t, s = _gp_case()
    _check(t, s, axis=(-2, -1))


def test_huge_false_positive_next_to_small_scores():
    # A negative at 300 dwarfs the positives' terms: each part needs its own shift.
    t, s = _gp_case(seed=1)
    s[0, 0, 0, 5] = 300.0
    t[0, 0, 0, 5] = 0.0
    _check(t, s, axis=(-2, -1))


def test_label_on_a_masked_span_is_ignored():
    t, s = _gp_case(seed=2)
    t[1, 2, 5, 3] = 1.0  # lower triangle: masked score
    _check(t, s, axis=(-2, -1))


def test_positive_part_dominates():
    # Badly scored positives (-30) against confident negatives (-30): the
    # positive sum is ~e^60 times the negative one.
    t = np.array([[1, 1, 0, 0, 0], [0, 1, 0, 0, 0]], "float32")
    s = np.array([[-30, -29, -30, -31, -30], [-5, -2, -25, -28, -40]], "float32")
    _check(t, s)


@pytest.mark.parametrize("level", [15.0, 35.0])
def test_positive_part_dominates_moderately(level):
    # Positives at -level, negatives at -level: the positive part's terms are
    # e^level, the negative part's e^-level (below and above the PyTorch fast
    # path's limit of 20 on the largest sign-flipped score).
    s = np.full((2, 6), -level, "float32")
    s[1, 3:] = -level - 4.0
    t = np.zeros_like(s)
    t[:, :2] = 1.0
    _check(t, s)


def test_infinities_and_fully_masked_rows():
    t = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]], "float32")
    s = np.array(
        [
            [-np.inf, -np.inf, -np.inf, -np.inf],
            [MASK, 3.0, -np.inf, 2.0],
            [MASK, MASK, MASK, MASK],
        ],
        "float32",
    )
    out = ops.convert_to_numpy(mcce(t, s))
    np.testing.assert_allclose(out, ref.zlpr(t, s), rtol=RTOL, atol=ATOL)
    assert out[0] == 0.0 and out[2] == 0.0
    g = grad(lambda v: mcce(t, v), s)
    assert np.all(g[0] == 0) and np.all(g[2] == 0) and g[1, 0] == 0 and g[1, 2] == 0
    np.testing.assert_allclose(g, ref.zlpr_grad(t, s), rtol=1e-4, atol=1e-6)


def test_nan_score_gives_nan_loss_in_its_row_only():
    t = np.array([[1, 0, 0], [0, 1, 0]], "float32")
    s = np.array([[np.nan, 1.0, -1.0], [0.5, 2.0, -1.0]], "float32")
    out = ops.convert_to_numpy(mcce(t, s))
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1], ref.zlpr(t[1:], s[1:])[0], rtol=RTOL)


@pytest.mark.parametrize(
    "value, hard", [(5e-8, True), (0.99999994, True), (1e-6, False), (0.5, False)]
)
def test_targets_near_0_and_1(value, hard):
    # Within eps of 0 or 1 reads as 0 or 1 (hard kernel on PyTorch); anything
    # else is a soft target. Both give the reference's value.
    t = np.array([[value, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, value]], "float32")
    s = np.array([[0.3, -1.0, 2.0, -0.5], [1.5, -2.0, 0.25, 3.0]], "float32")
    _check(t, s)


@pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="JAX computes in float32 unless x64 is on"
)
def test_float64_scores_stay_float64():
    t, s = _gp_case(seed=3)
    out = mcce(t.astype("float64"), s.astype("float64"), axis=(-2, -1))
    assert keras.backend.standardize_dtype(out.dtype) == "float64"
    np.testing.assert_allclose(
        ops.convert_to_numpy(out), ref.zlpr(t, s, axis=(-2, -1)), rtol=1e-12
    )


def test_non_trailing_tuple_axis():
    t, s = _gp_case(seed=4)
    t, s = np.moveaxis(t, 1, -1), np.moveaxis(s, 1, -1)  # [B, L, L, heads]
    _check(t, s, axis=(1, 2))


def test_loss_class_and_mixed_precision_scores():
    t, s = _gp_case(seed=5)
    loss = MultilabelCategoricalCrossentropy(axis=(-2, -1))
    expected = ref.zlpr(t, s, axis=(-2, -1)).mean()
    np.testing.assert_allclose(float(loss(t, s)), expected, rtol=RTOL)
    s16 = ops.cast(np.maximum(s, -3e4), "float16")  # float16 mask value
    got = float(loss(t, s16))
    ref16 = ref.zlpr(t, ops.convert_to_numpy(ops.cast(s16, "float32")), axis=(-2, -1))
    np.testing.assert_allclose(got, ref16.mean(), rtol=RTOL)


def _soft_extreme_case(seed=7):
    """Hard, soft, out-of-range and near-0/1 targets with extreme and masked scores."""
    rng = np.random.default_rng(seed)
    s = (rng.standard_normal((6, 40)) * 30).astype("float32")
    s[0, :5] = [300.0, -300.0, 1e4, -1e4, 88.0]
    s[1, :4] = [MASK, -np.inf, MASK, 50.0]
    t = (rng.uniform(0, 1, s.shape) < 0.3).astype("float32")
    t[2] = rng.uniform(0, 1, 40)  # soft
    t[3, :4] = [5e-8, 0.99999994, 1e-6, 0.5]
    t[1, :2] = 1.0  # positives on masked scores
    s[4] = MASK  # fully masked row
    return t, s


def test_soft_targets_with_extreme_and_masked_scores():
    t, s = _soft_extreme_case()
    _check(t, s, grad_rtol=1e-3)


def test_the_pytorch_kernel_equals_the_ops_form(monkeypatch):
    """On PyTorch: the kernel against the `keras.ops` form, in float64."""
    if keras.backend.backend() != "torch":
        pytest.skip("the PyTorch kernel runs on PyTorch only")
    from keras_rdkl import _kernels

    t, s = _soft_extreme_case(seed=8)
    t[5, 3] = 1.7  # clipped to 1
    t[5, 4] = -0.3  # clipped to 0
    # Tensors: out-of-range targets are clipped, not checked.
    t64, s64 = ops.convert_to_tensor(t.astype("float64")), s.astype("float64")
    outs, grads = [], []
    for on_torch in (True, False):
        monkeypatch.setattr(_kernels, "_on_torch", lambda v=on_torch: v)
        outs.append(ops.convert_to_numpy(mcce(t64, s64)))
        grads.append(grad(lambda v: mcce(t64, v), s64, dtype="float64"))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10)
    # The kernel drops terms below e^-79 of their part (exactly 0 there).
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-30)
