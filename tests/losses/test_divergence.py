"""Symmetric sigmoid / softmax KL divergences against the NumPy reference."""

import numpy as np
import pytest
from keras import ops

import keras_rdkl
from keras_rdkl.losses import SigmoidKLDivergence
from keras_rdkl.losses import SoftmaxKLDivergence
from keras_rdkl.losses import sigmoid_kl_divergence
from keras_rdkl.losses import softmax_kl_divergence
from tests._grad import grad
from tests.losses import _reference as ref

RTOL, ATOL = 1e-5, 1e-6


def _np(x):
    return ops.convert_to_numpy(x)


def _pair(shape, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    return (
        (rng.standard_normal(shape) * scale).astype("float32"),
        (rng.standard_normal(shape) * scale).astype("float32"),
    )


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5), (1, 1)])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_sigmoid_matches_reference(shape, temperature):
    t, s = _pair(shape)
    out = _np(sigmoid_kl_divergence(t, s, temperature=temperature))
    np.testing.assert_allclose(
        out, ref.sigmoid_sym_kl(t, s, temperature), rtol=RTOL, atol=ATOL
    )
    assert np.all(out >= 0)


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5), (4, 1)])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_softmax_matches_reference(shape, temperature):
    t, s = _pair(shape, seed=1)
    out = _np(softmax_kl_divergence(t, s, temperature=temperature))
    np.testing.assert_allclose(
        out, ref.softmax_sym_kl(t, s, temperature), rtol=RTOL, atol=ATOL
    )
    assert np.all(out >= 0)


def test_softmax_probabilities():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.01, 1, (3, 4))
    q = rng.uniform(0.01, 1, (3, 4))
    p, q = (
        (p / p.sum(-1, keepdims=True)).astype("float32"),
        (q / q.sum(-1, keepdims=True)).astype("float32"),
    )
    out = _np(softmax_kl_divergence(q, p, from_logits=False))
    expected = (
        (p.astype("float64") - q) * (np.log(p.astype("float64")) - np.log(q))
    ).sum(-1)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_global_pointer_tuple_axis_and_masks():
    t, s = _pair((2, 3, 5, 5), seed=3)
    m = keras_rdkl.mask_value("float32")
    tril = np.tril(np.ones((5, 5), bool), -1)
    s[:, :, tril] = m
    t[:, :, tril] = m
    s[1, :, 3:, :] = -np.inf
    t[1, :, 3:, :] = -np.inf
    s[0, 0] = m  # a fully masked head
    out = _np(sigmoid_kl_divergence(t, s, axis=(-2, -1)))
    assert out.shape == (2, 3) and np.all(np.isfinite(out))
    np.testing.assert_allclose(
        out, ref.sigmoid_sym_kl(t, s, axis=(-2, -1)), rtol=RTOL, atol=ATOL
    )
    assert out[0, 0] == 0.0
    g = grad(lambda v: sigmoid_kl_divergence(t, v, axis=(-2, -1)), s)
    assert (
        np.all(np.isfinite(g))
        and np.all(g[:, :, tril] == 0)
        and np.all(g[1, :, 3:, :] == 0)
    )


def test_extreme_and_masked_rows():
    m = keras_rdkl.mask_value("float32")
    s = np.array(
        [
            [1e4, -1e4, 0.0],
            [-np.inf, -np.inf, -np.inf],
            [m, 2.0, -1.0],
            [30.0, 31.0, -40.0],
        ],
        "float32",
    )
    t = np.array(
        [
            [-1e4, 1e4, 0.0],
            [-np.inf, -np.inf, -np.inf],
            [1.0, m, 3.0],
            [31.0, 30.0, -41.0],
        ],
        "float32",
    )
    for fn, reference in (
        (sigmoid_kl_divergence, ref.sigmoid_sym_kl),
        (softmax_kl_divergence, ref.softmax_sym_kl),
    ):
        out = _np(fn(t, s))
        assert np.all(np.isfinite(out)) and np.all(out >= 0)
        np.testing.assert_allclose(out, reference(t, s), rtol=RTOL, atol=ATOL)
        assert out[1] == 0.0
        g = grad(lambda v, fn=fn: fn(t, v), s)
        assert (
            np.all(np.isfinite(g))
            and np.all(g[1] == 0)
            and g[2, 0] == 0
            and g[2, 1] == 0
        )


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_gradients(temperature):
    t, s = _pair((2, 4), scale=1.5, seed=4)
    for fn, reference in (
        (sigmoid_kl_divergence, ref.sigmoid_sym_kl),
        (softmax_kl_divergence, ref.softmax_sym_kl),
    ):
        fd = ref.finite_difference(
            lambda x, r=reference: r(t, x, temperature), s.astype("float64")
        )
        g = grad(lambda v, fn=fn: fn(t, v, temperature=temperature), s)
        np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)
    # Sigmoid closed form: d/ds [(sig(s/T) - sig(t/T)) (s - t) / T].
    a, b = s.astype("float64") / temperature, t.astype("float64") / temperature
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    closed = (sig(a) * (1 - sig(a)) * (a - b) + sig(a) - sig(b)) / temperature
    g = grad(lambda v: sigmoid_kl_divergence(t, v, temperature=temperature), s)
    np.testing.assert_allclose(g, closed, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "divergence, reference",
    [
        (softmax_kl_divergence, ref.softmax_sym_kl),
        (sigmoid_kl_divergence, ref.sigmoid_sym_kl),
    ],
    ids=["softmax", "sigmoid"],
)
@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_gradients_of_both_inputs_with_masks_and_weights(
    divergence, reference, temperature
):
    # R-Drop differentiates both arguments: each against finite differences
    # of the reference, under a non-uniform upstream gradient, with masked
    # classes (zero gradient there) and the class axis not last; ties
    # (s = t) and large opposite logits included.
    t, s = _pair((3, 5, 2), scale=1.5, seed=7)
    s[2, 2, 1] = t[2, 2, 1]
    s[1, 0, 1], t[1, 0, 1] = 12.0, -9.0
    m = keras_rdkl.MASK_THRESHOLD * 2
    s[0, 1, 0] = m
    t[1, 3, 1] = m
    weights = np.array([[0.5, -2.0], [1.0, 3.0], [0.0, 1.5]], "float32")

    def moved(x):  # the reference takes the class axis last
        return np.moveaxis(x, 1, -1)

    def weighted(x):
        return ops.multiply(x, weights)

    fd_s = ref.finite_difference(
        lambda x: weights * reference(moved(t), moved(x), temperature),
        s.astype("float64"),
    )
    fd_t = ref.finite_difference(
        lambda x: weights * reference(moved(x), moved(s), temperature),
        t.astype("float64"),
    )
    g_s = grad(
        lambda v: weighted(divergence(t, v, temperature=temperature, axis=1)),
        s,
    )
    g_t = grad(
        lambda v: weighted(divergence(v, s, temperature=temperature, axis=1)),
        t,
    )
    np.testing.assert_allclose(g_s, fd_s, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_t, fd_t, rtol=1e-4, atol=1e-5)
    for g in (g_s, g_t):
        assert g[0, 1, 0] == 0 and g[1, 3, 1] == 0
    assert np.all(g_s[2, :, 0] == 0) and np.all(g_t[2, :, 0] == 0)  # weight 0


def test_loss_classes_reduce_like_keras():
    t, s = _pair((2, 3, 4, 4), seed=5)
    loss = SigmoidKLDivergence(temperature=2.0, axis=(-2, -1))
    np.testing.assert_allclose(
        float(loss(t, s)),
        ref.sigmoid_sym_kl(t, s, 2.0, axis=(-2, -1)).mean(),
        rtol=RTOL,
    )
    t, s = _pair((5, 6), seed=6)
    loss = SoftmaxKLDivergence(temperature=0.5)
    np.testing.assert_allclose(
        float(loss(t, s)), ref.softmax_sym_kl(t, s, 0.5).mean(), rtol=RTOL
    )


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf")])
def test_bad_temperature_raises(temperature):
    for cls in (SigmoidKLDivergence, SoftmaxKLDivergence):
        with pytest.raises(
            ValueError, match="`temperature` must be a finite number > 0"
        ):
            cls(temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        sigmoid_kl_divergence([[0.0]], [[1.0]], temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        softmax_kl_divergence([[0.0]], [[1.0]], temperature=temperature)


def test_bad_shapes_and_reduction_raise():
    with pytest.raises(ValueError, match="y_true"):
        sigmoid_kl_divergence(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="y_true"):
        softmax_kl_divergence(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="reduction"):
        SigmoidKLDivergence(reduction="average")
