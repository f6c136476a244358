"""zlpr_probability: sigmoid(2 s), and the one-class property behind it."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.losses import multilabel_categorical_crossentropy
from keras_rdkl.losses import zlpr_probability
from tests._grad import grad


def _np_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def test_values_match_numpy():
    s = np.array([[-30.0, -2.5, -0.1, 0.0, 0.3, 4.0, 40.0]], dtype="float32")
    out = ops.convert_to_numpy(zlpr_probability(s))
    np.testing.assert_allclose(
        out, _np_sigmoid(2.0 * s.astype("float64")), rtol=1e-6, atol=1e-7
    )


def test_threshold_is_unchanged():
    s = np.random.randn(50).astype("float32") * 3
    p = ops.convert_to_numpy(zlpr_probability(s))
    np.testing.assert_array_equal(p > 0.5, s > 0)


def test_masked_scores_give_zero():
    s = np.array([[1.0, -np.inf, -1e12, -3e4, -2.0e4, -1.9e4]], dtype="float32")
    p = ops.convert_to_numpy(zlpr_probability(s))
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(p[0, 1:5], 0.0)
    assert p[0, 0] == pytest.approx(_np_sigmoid(2.0))


def test_float16_input_is_finite():
    s = ops.cast(np.array([-3e4, -10.0, 0.0, 10.0, 6e4]), "float16")
    p = ops.convert_to_numpy(zlpr_probability(s))
    assert p.dtype == np.float32
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(
        p, [0.0, _np_sigmoid(-20.0), 0.5, _np_sigmoid(20.0), 1.0], atol=1e-6
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_one_class_soft_zlpr_gradient_vanishes_at_sigmoid_2s(seed):
    # The claim: for a single class, d/ds L_soft(t, s) = 0 at t = sigmoid(2 s).
    rng = np.random.default_rng(seed)
    s = rng.uniform(-4.0, 4.0, size=(64, 1)).astype("float32")
    t = ops.convert_to_numpy(zlpr_probability(s))

    def loss(v):
        return multilabel_categorical_crossentropy(t, v)

    g = grad(loss, s)
    np.testing.assert_allclose(g, 0.0, atol=2e-5)
    # ... and not at sigmoid(s) (the naive mapping): gradient clearly nonzero.
    t_naive = _np_sigmoid(s).astype("float32")
    g_naive = grad(lambda v: multilabel_categorical_crossentropy(t_naive, v), s)
    big = np.abs(s[:, 0]) > 0.5
    assert np.all(np.abs(g_naive[big]) > 1e-2)


def test_closed_form_gradient_of_one_class_soft_zlpr():
    # dL/ds = -t e^-s / (1 + t e^-s) + (1 - t) e^s / (1 + (1 - t) e^s)
    s = np.linspace(-3, 3, 13, dtype="float32")[:, None]
    t = np.full_like(s, 0.3)
    g = grad(lambda v: multilabel_categorical_crossentropy(t, v), s)
    sd, td = s.astype("float64"), t.astype("float64")
    ref = -td * np.exp(-sd) / (1 + td * np.exp(-sd)) + (1 - td) * np.exp(sd) / (
        1 + (1 - td) * np.exp(sd)
    )
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6)


def test_many_class_soft_zlpr_gradient_also_vanishes_at_sigmoid_2s():
    # t_i = sigmoid(2 s_i) gives t_i e^{-s_i} = (1 - t_i) e^{s_i}: the two sums
    # are equal and every partial derivative is 0, whatever the other classes.
    rng = np.random.default_rng(3)
    s = rng.uniform(-3.0, 3.0, size=(16, 6)).astype("float32")
    t = ops.convert_to_numpy(zlpr_probability(s))
    g = grad(lambda v: multilabel_categorical_crossentropy(t, v), s)
    np.testing.assert_allclose(g, 0.0, atol=2e-5)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.8])
def test_one_class_hard_labels_optimum_is_sigmoid_s_not_2s(p):
    # Expected hard-label loss p L(1, s) + (1 - p) L(0, s) is binary CE: its
    # optimum is sigmoid(s) = p. So sigmoid(2 s) is calibrated for the soft
    # loss, not automatically for a model trained on hard labels.
    def expected(v):
        one = multilabel_categorical_crossentropy(np.ones((1, 1), "float32"), v)
        zero = multilabel_categorical_crossentropy(np.zeros((1, 1), "float32"), v)
        return p * one + (1 - p) * zero

    logit = np.log(p / (1 - p))
    assert abs(grad(expected, np.full((1, 1), logit))[0, 0]) < 1e-5
    assert abs(grad(expected, np.full((1, 1), logit / 2))[0, 0]) > 1e-2


def test_works_inside_a_model():
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(zlpr_probability)(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    p = model.predict(np.ones((2, 3), "float32"), verbose=0)
    assert p.shape == (2, 4) and np.all((p > 0) & (p < 1))
