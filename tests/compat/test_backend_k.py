"""`K` (Keras 2's backend functions) and bert4keras.backend's helpers, against NumPy.

Every reference is written here from the formula in float64; every backend
runs this file. The last tests use `K` as bert4keras scripts do: a
hand-written loss and metric compiled into `model.fit`.
"""

import math

import keras
import numpy as np
import pytest

from keras_rdkl.compat._backend import K
from keras_rdkl.compat._backend import apply_rotary_position_embeddings
from keras_rdkl.compat._backend import batch_gather
from keras_rdkl.compat._backend import gelu_erf
from keras_rdkl.compat._backend import gelu_tanh
from keras_rdkl.compat._backend import infinity
from keras_rdkl.compat._backend import root_mean_square
from keras_rdkl.compat._backend import sequence_masking
from keras_rdkl.compat._backend import set_infinity
from keras_rdkl.layers.rotary import sinusoidal_embeddings
from tests._grad import grad
from tests.losses._reference import finite_difference

RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _rand(*shape, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * scale).astype("float32")


def _close(got, expected, rtol=1e-5, atol=1e-6):
    got = _np(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got.astype("float64"), expected, rtol=rtol, atol=atol)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# ---------------------------------------------------------------------------
# Element-wise functions and activations

_ERF = np.vectorize(math.erf)

ELEMENTWISE = {
    "square": np.square,
    "sqrt": lambda x: np.sqrt(np.maximum(x, 0)),  # Keras 2 clips negatives
    "exp": np.exp,
    "abs": np.abs,
    "sign": np.sign,
    "round": np.round,  # half to even
    "sin": np.sin,
    "cos": np.cos,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "relu": lambda x: np.maximum(x, 0),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_elementwise(name, shape):
    x = _rand(*shape, scale=3.0)
    x.flat[0] = 2.5  # round: half to even -> 2
    x.flat[-1] = -0.5  # round -> -0 ; sqrt of a negative -> 0
    _close(getattr(K, name)(x), ELEMENTWISE[name](x.astype("float64")))


def test_log_pow_and_gelus():
    x = np.abs(_rand(3, 4)) + 0.1
    _close(K.log(x), np.log(x.astype("float64")))
    _close(K.pow(x, 3), x.astype("float64") ** 3, rtol=1e-5)
    _close(K.pow(x, 0.5), np.sqrt(x.astype("float64")))
    z = _rand(2, 5, scale=2.0).astype("float64")
    _close(gelu_erf(z.astype("float32")), 0.5 * z * (1 + _ERF(z / np.sqrt(2))))
    tanh_ref = 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    _close(gelu_tanh(z.astype("float32")), tanh_ref)
    assert np.abs(tanh_ref - 0.5 * z * (1 + _ERF(z / np.sqrt(2)))).max() > 1e-5


def test_relu_arguments_and_elu_alpha():
    x = np.linspace(-3, 8, 23).astype("float32")
    xd = x.astype("float64")
    # Keras 2: max_value at x >= max_value, x at threshold <= x, else alpha (x - t).
    ref = np.where(xd >= 6, 6.0, np.where(xd >= 1, xd, 0.1 * (xd - 1)))
    _close(K.relu(x, alpha=0.1, max_value=6, threshold=1), ref)
    _close(K.relu(x, max_value=2.0), np.minimum(np.maximum(xd, 0), 2))
    _close(K.elu(x, alpha=0.5), np.where(xd > 0, xd, 0.5 * (np.exp(xd) - 1)))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax(axis):
    x = _rand(3, 4, 2, scale=3.0)
    _close(K.softmax(x, axis=axis), np_softmax(x.astype("float64"), axis=axis))


def test_clip_and_binary_elementwise():
    x = _rand(4, 5, scale=3.0)
    y = _rand(4, 5, scale=3.0, seed=1)
    xd, yd = x.astype("float64"), y.astype("float64")
    _close(K.clip(x, -1.0, 0.5), np.clip(xd, -1, 0.5))
    _close(K.clip(x, None, 0.5), np.minimum(xd, 0.5))
    _close(K.clip(x, -0.5, None), np.maximum(xd, -0.5))
    _close(K.clip(x, 1.0, 0.0), np.full_like(xd, 1.0))  # Keras 2: max raised to min
    _close(K.maximum(x, y), np.maximum(xd, yd))
    _close(K.minimum(x, 0.0), np.minimum(xd, 0))
    y[0] = x[0]
    for name, ref in [
        ("equal", np.equal),
        ("not_equal", np.not_equal),
        ("greater", np.greater),
        ("greater_equal", np.greater_equal),
        ("less", np.less),
        ("less_equal", np.less_equal),
    ]:
        got = _np(getattr(K, name)(x, y))
        assert got.dtype == bool
        np.testing.assert_array_equal(got, ref(x, y))


# ---------------------------------------------------------------------------
# Reductions

REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "prod": np.prod,
    "std": np.std,  # population (ddof 0)
    "var": np.var,
    "logsumexp": np_logsumexp,
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize(
    "axis, keepdims",
    [
        (None, False),
        (None, True),
        (0, False),
        (-1, True),
        ([0, 2], False),
        ((-2, -1), True),
    ],
)
def test_reductions(name, axis, keepdims):
    x = _rand(2, 3, 4, scale=1.5)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    expected = REDUCTIONS[name](x.astype("float64"), axis=np_axis, keepdims=keepdims)
    _close(getattr(K, name)(x, axis=axis, keepdims=keepdims), expected, rtol=2e-5)


@pytest.mark.parametrize("axis", [None, 0, -1, [0, 1]])
def test_all_any_and_boolean_mean(axis):
    x = np.array([[1, 0, 2], [3, 4, 5]], "float32")
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    np.testing.assert_array_equal(_np(K.all(x, axis)), np.all(x, axis=np_axis))
    np.testing.assert_array_equal(_np(K.any(x == 0, axis)), np.any(x == 0, np_axis))
    # Keras 2 averaged booleans as floats.
    _close(K.mean(K.greater(x, 1.5), axis=axis), np.mean(x > 1.5, axis=np_axis))


def test_argmax_argmin_cumsum_cumprod_defaults():
    x = _rand(3, 5, seed=2)
    np.testing.assert_array_equal(_np(K.argmax(x)), np.argmax(x, axis=-1))
    np.testing.assert_array_equal(_np(K.argmin(x)), np.argmin(x, axis=-1))
    np.testing.assert_array_equal(_np(K.argmax(x, axis=0)), np.argmax(x, axis=0))
    xd = x.astype("float64")
    _close(K.cumsum(x), np.cumsum(xd, axis=0))  # Keras 2: axis 0 by default
    _close(K.cumsum(x, axis=-1), np.cumsum(xd, axis=-1))
    _close(K.cumprod(x), np.cumprod(xd, axis=0))


def test_prod_of_a_static_shape_is_a_python_int():
    x = np.zeros((2, 3, 4), "float32")
    n = K.prod(K.shape(x)[1:])
    assert n == 12 and isinstance(n, int)
    _close(K.prod(np.array([2.0, 3.0])), 6.0)
    _close(K.prod([2.0, 3.0]), 6.0)


def test_l2_normalize():
    x = _rand(3, 4, seed=3)
    x[1] = 0.0  # the 1e-12 floor keeps zeros finite
    xd = x.astype("float64")
    norm = np.sqrt(np.maximum((xd**2).sum(-1, keepdims=True), 1e-12))
    _close(K.l2_normalize(x, axis=-1), xd / norm)
    _close(K.l2_normalize(x), xd / np.sqrt((xd**2).sum()))


# ---------------------------------------------------------------------------
# Losses: Keras 2 argument order (target, output)


def test_binary_crossentropy():
    rng = np.random.default_rng(4)
    t = (rng.random((3, 4)) < 0.5).astype("float32")
    p = rng.random((3, 4)).astype("float32")
    p[0, 0], p[0, 1] = 0.0, 1.0  # clipped to [eps, 1 - eps]
    eps = keras.config.epsilon()
    # Clipped in float32, as the float32 computation does (1 - eps rounds).
    clipped = np.clip(p, np.float32(eps), np.float32(1 - eps))
    pd, td = clipped.astype("float64"), t.astype("float64")
    ref = -(td * np.log(pd + eps) + (1 - td) * np.log(1 - pd + eps))
    _close(K.binary_crossentropy(t, p), ref, rtol=1e-4)
    z = _rand(3, 4, scale=4.0, seed=5)
    sz = 1 / (1 + np.exp(-z.astype("float64")))
    ref = -(td * np.log(sz) + (1 - td) * np.log(1 - sz))
    _close(K.binary_crossentropy(t, z, from_logits=True), ref, rtol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1])
def test_categorical_crossentropy_order_and_normalization(axis):
    rng = np.random.default_rng(6)
    t = np.eye(4, dtype="float32")[rng.integers(0, 4, (3, 5))]  # [3, 5, 4]
    p = rng.random((3, 5, 4)).astype("float32") + 0.05  # not normalized
    if axis == 1:
        t, p = t.transpose(0, 2, 1), p.transpose(0, 2, 1)  # classes on axis 1
    pd = p.astype("float64") / p.sum(axis=axis, keepdims=True)
    eps = keras.config.epsilon()
    ref = -(t * np.log(np.clip(pd, eps, 1 - eps))).sum(axis=axis)
    _close(K.categorical_crossentropy(t, p, axis=axis), ref, rtol=1e-5)
    # The order matters: (output, target) is not the same number.
    swapped = _np(K.categorical_crossentropy(p, t, axis=axis))
    assert not np.allclose(swapped, ref, rtol=1e-2)
    z = np.log(p)
    ref = -(t * np.log(np_softmax(z.astype("float64"), axis=axis))).sum(axis=axis)
    _close(K.categorical_crossentropy(t, z, from_logits=True, axis=axis), ref)


@pytest.mark.parametrize("target_shape", ["flat", "trailing_one", "float_ids"])
def test_sparse_categorical_crossentropy(target_shape):
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 6, (2, 3)).astype("int32")
    z = _rand(2, 3, 6, scale=2.0, seed=8)
    logp = np.log(np_softmax(z.astype("float64")))
    ref = -np.take_along_axis(logp, ids[..., None], -1)[..., 0]
    target = {
        "flat": ids,
        "trailing_one": ids[..., None],
        "float_ids": ids.astype("float32"),  # as fit may pass y_true
    }[target_shape]
    _close(K.sparse_categorical_crossentropy(target, z, from_logits=True), ref)
    p = np_softmax(z.astype("float64")).astype("float32")
    _close(K.sparse_categorical_crossentropy(target, p), ref, rtol=1e-4)


# ---------------------------------------------------------------------------
# dot, batch_dot


@pytest.mark.parametrize(
    "x_shape, y_shape",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((2, 3), (4, 3, 5)),
        ((2, 3, 4), (5, 4, 6)),
    ],
)
def test_dot_is_numpy_dot(x_shape, y_shape):
    x, y = _rand(*x_shape, seed=1), _rand(*y_shape, seed=2)
    # np.dot sums the last axis of x with the second-to-last of y: Keras 2's rule.
    _close(K.dot(x, y), np.dot(x.astype("float64"), y.astype("float64")), rtol=1e-4)


def np_batch_dot(x, y, axes):
    ax, ay = axes
    out = np.stack(
        [np.tensordot(x[i], y[i], axes=(ax - 1, ay - 1)) for i in range(len(x))]
    )
    return out[:, None] if out.ndim == 1 else out


@pytest.mark.parametrize(
    "x_shape, y_shape, axes, expected_axes, out_shape",
    [
        ((4, 3), (4, 3), 1, (1, 1), (4, 1)),
        ((4, 3), (4, 3), None, (1, 1), (4, 1)),
        ((4, 2, 3), (4, 3, 5), None, (2, 1), (4, 2, 5)),  # batched matmul
        ((4, 2, 3), (4, 5, 3), (2, 2), (2, 2), (4, 2, 5)),
        ((4, 2, 3), (4, 5, 3), -1, (2, 2), (4, 2, 5)),
        ((4, 20, 1), (4, 30, 20), (1, 2), (1, 2), (4, 1, 30)),  # Keras 2 docs
        ((4, 2, 3), (4, 3), None, (2, 1), (4, 2)),
        ((4, 3), (4, 3, 5), None, (1, 1), (4, 5)),
    ],
)
def test_batch_dot(x_shape, y_shape, axes, expected_axes, out_shape):
    x, y = _rand(*x_shape, seed=3), _rand(*y_shape, seed=4)
    expected = np_batch_dot(x.astype("float64"), y.astype("float64"), expected_axes)
    assert expected.shape == out_shape
    _close(K.batch_dot(x, y, axes=axes), expected, rtol=1e-4, atol=1e-5)


def test_batch_dot_rejects_the_batch_axis():
    with pytest.raises(ValueError, match="batch axis"):
        K.batch_dot(np.ones((2, 3)), np.ones((2, 3)), axes=0)


# ---------------------------------------------------------------------------
# Shapes


def test_shape_functions():
    x = _rand(2, 3, 4)
    xd = x.astype("float64")
    assert K.int_shape(x) == (2, 3, 4) and K.ndim(x) == 3
    assert tuple(K.shape(x)) == (2, 3, 4) and K.count_params(x) == 24
    assert K.dtype(K.cast(x, "float16")) == "float16"
    _close(K.transpose(x), xd.T)
    _close(K.permute_dimensions(x, (1, 0, 2)), xd.transpose(1, 0, 2))
    _close(K.reshape(x, (6, -1)), xd.reshape(6, 4))
    _close(K.reshape(x, K.shape(x)[:-1] + (2, 2)), xd.reshape(2, 3, 2, 2))
    # bert4keras' form: (new shape, axis) pairs.
    _close(K.reshape(x, (2, -1), 2), xd.reshape(2, 3, 2, 2))
    _close(K.reshape(x, (1, -1), 1, (2, 2), -1), xd.reshape(2, 1, 3, 2, 2))
    _close(K.flatten(x), xd.reshape(-1))
    _close(K.flatten(x, 1), xd.reshape(2, 12))
    _close(K.flatten(x, -2), xd.reshape(2, 12))
    _close(K.flatten(x, 0, 2), xd.reshape(6, 4))
    _close(K.batch_flatten(x), xd.reshape(2, 12))
    _close(K.expand_dims(x), xd[..., None])  # Keras 2: last axis by default
    _close(K.expand_dims(x, 1), xd[:, None])
    _close(K.squeeze(x[:, :1], 1), xd[:, 0])
    _close(K.concatenate([x, x[..., :1]]), np.concatenate([xd, xd[..., :1]], -1))
    _close(K.concatenate([x, x], axis=0), np.concatenate([xd, xd], 0))
    _close(K.stack([x, x]), np.stack([xd, xd]))
    _close(K.stack([x, x], axis=-1), np.stack([xd, xd], -1))
    _close(K.tile(x, [1, 2, 1]), np.tile(xd, [1, 2, 1]))
    _close(K.tile(x[0, 0], 3), np.tile(xd[0, 0], 3))
    _close(K.repeat_elements(x, 2, axis=1), np.repeat(xd, 2, axis=1))
    _close(K.repeat(x[:, 0], 3), np.repeat(xd[:, None, 0], 3, axis=1))
    _close(K.reverse(x, [0, 2]), xd[::-1, :, ::-1])
    _close(K.temporal_padding(x, (1, 2)), np.pad(xd, [(0, 0), (1, 2), (0, 0)]))
    _close(K.bias_add(x, np.arange(4.0, dtype="float32")), xd + np.arange(4.0))


def test_gather_one_hot_arange_eye():
    x = _rand(5, 3)
    idx = np.array([[4, 0], [1, 1]])
    _close(K.gather(x, idx), x.astype("float64")[idx])
    ids = np.array([[2, 0], [1, 3]], "float32")  # float ids, as fit passes them
    _close(K.one_hot(ids, 4), np.eye(4)[ids.astype(int)])
    r = K.arange(5)
    assert K.dtype(r) == "int32"
    np.testing.assert_array_equal(_np(r), np.arange(5))
    np.testing.assert_array_equal(_np(K.arange(1, 7, 2)), [1, 3, 5])
    assert _np(K.arange(-3)).shape == (0,)  # Keras 2: a negative stop is empty
    _close(K.eye(3), np.eye(3))
    _close(K.eye((2, 3)), np.eye(2, 3))


# ---------------------------------------------------------------------------
# Tensors, variables, values


def test_config_constants_and_variables():
    assert K.floatx() == keras.config.floatx() and K.epsilon() == 1e-7
    assert K.backend() == keras.backend.backend()
    c = K.constant(2.0, shape=(2, 3))
    assert K.dtype(c) == K.floatx()
    np.testing.assert_array_equal(K.eval(c), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(
        K.eval(K.constant([1, 2, 3, 4], dtype="int32", shape=(2, 2))),
        [[1, 2], [3, 4]],
    )
    v = K.variable(np.ones((2, 2)))
    assert K.dtype(v) == K.floatx() and K.int_shape(v) == (2, 2)
    K.set_value(v, K.eval(v) + 1.0)
    np.testing.assert_array_equal(K.get_value(v), np.full((2, 2), 2.0))
    K.update_add(v, np.ones((2, 2), "float32"))
    np.testing.assert_array_equal(K.batch_get_value([v])[0], np.full((2, 2), 3.0))
    assert isinstance(K.eval(v), np.ndarray)
    for fn, value in [(K.zeros, 0.0), (K.ones, 1.0)]:
        t = fn((2, 3))
        assert K.dtype(t) == K.floatx()
        np.testing.assert_array_equal(K.eval(t), np.full((2, 3), value))
    np.testing.assert_array_equal(K.eval(K.zeros_like(c)), np.zeros((2, 3)))
    np.testing.assert_array_equal(
        K.eval(K.ones_like(c, dtype="int32")), np.ones((2, 3))
    )
    assert K.cast_to_floatx([1, 2]).dtype == np.dtype(K.floatx())
    K.batch_set_value([(v, np.zeros((2, 2)))])
    K.update_sub(K.update(v, np.full((2, 2), 5.0)), np.ones((2, 2), "float32"))
    np.testing.assert_array_equal(K.eval(v), np.full((2, 2), 4.0))
    assert K.is_tensor(c) and not K.is_tensor(np.ones(2))
    assert K.is_keras_tensor(keras.Input((2,))) and not K.is_keras_tensor(c)
    assert K.image_data_format() == keras.config.image_data_format()
    _close(K.map_fn(lambda r: r * 2.0, c), np.full((2, 3), 4.0))
    _close(K.identity(c), np.full((2, 3), 2.0))


# ---------------------------------------------------------------------------
# Control flow, gradients, random


def test_switch_where_in_train_phase():
    x, y = _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    cond = np.array([True, False])
    # Keras 2: a lower-rank condition broadcasts over the trailing axes.
    _close(K.switch(cond, x, y), np.where(cond[:, None], x, y))
    _close(K.switch(cond, lambda: x, lambda: y), np.where(cond[:, None], x, y))
    assert K.switch(True, lambda: 1, lambda: 2) == 1
    _close(K.where(x > 0, x, -1e12), np.where(x > 0, x, -1e12))
    assert K.dtype(K.where(x > 0, 0.0, x)) == "float32"
    # Keras 3 semantics: without `training`, the inference value.
    assert K.in_train_phase(x, y) is y
    assert K.in_train_phase(lambda: x, y, training=True) is x
    _close(K.in_train_phase(x, y, training=keras.ops.convert_to_tensor(False)), y)
    assert K.in_test_phase(x, y) is x


def test_stop_gradient_and_in_top_k():
    x = _rand(2, 3)
    g = grad(lambda v: v * v + K.stop_gradient(v * v), x)
    _close(g, 2 * x.astype("float64"))
    assert len(K.stop_gradient([x, x])) == 2
    preds = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]], "float32")
    # Keras 2 order: predictions, then targets.
    np.testing.assert_array_equal(
        _np(K.in_top_k(preds, np.array([2, 2]), 2)), [True, True]
    )
    np.testing.assert_array_equal(
        _np(K.in_top_k(preds, np.array([0, 1]), 1)), [False, False]
    )


def test_random_functions():
    for p, value in [(0.0, 0.0), (1.0, 1.0)]:
        draw = K.random_binomial((3, 4), p=p, seed=1)
        assert K.dtype(draw) == K.floatx()
        np.testing.assert_array_equal(K.eval(draw), np.full((3, 4), value))
    half = K.eval(K.random_binomial((4000,), p=0.3, seed=2))
    assert set(np.unique(half)) <= {0.0, 1.0} and 0.25 < half.mean() < 0.35
    u = K.eval(K.random_uniform((1000,), -2.0, 3.0, seed=3))
    assert u.min() >= -2.0 and u.max() < 3.0
    assert K.eval(K.random_normal((2, 3), seed=4)).shape == (2, 3)
    kept = K.eval(K.dropout(np.ones((1000,), "float32"), 0.5, seed=5))
    assert set(np.unique(kept)) <= {0.0, 2.0}


# ---------------------------------------------------------------------------
# bert4keras.backend's free functions


def np_sequence_masking(x, mask, value, axes):
    """bert4keras' rule: position kept iff mask[b, i_a] for every masked axis a."""
    out = x.astype("float64").copy()
    for idx in np.ndindex(*x.shape):
        if not all(mask[idx[0], idx[a]] for a in axes):
            out[idx] = value
    return out


@pytest.mark.parametrize(
    "shape, axis, axes",
    [
        ((2, 4, 3), None, [1]),
        ((2, 3, 4), 2, [2]),
        ((2, 3, 4), -1, [2]),
        ((2, 3, 4, 4), [2, 3], [2, 3]),  # a GlobalPointer grid [B, heads, L, L]
        ((2, 4), 1, [1]),
    ],
)
def test_sequence_masking(shape, axis, axes):
    x = _rand(*shape, seed=6)
    length = shape[axes[0]]
    mask = np.array([[1] * length, [1] * (length - 2) + [0] * 2], "int32")
    _close(
        sequence_masking(x, mask, -5.0, axis), np_sequence_masking(x, mask, -5.0, axes)
    )
    # The 0.11.0 spelling "-inf" means -infinity() (1e12), finite.
    got = _np(sequence_masking(x, mask.astype(bool), "-inf", axis))
    _close(got, np_sequence_masking(x, mask, -1e12, axes))
    assert np.all(np.isfinite(got))


def test_sequence_masking_bias_return_mask_and_edges():
    x = _rand(2, 3, 3, seed=7)
    mask = np.array([[1, 1, 1], [1, 1, 0]], bool)
    bias = _rand(2, 3, 3, seed=8)
    ref = np_sequence_masking(x + bias, mask, -7.0, [2])
    _close(sequence_masking(x, mask, -7.0, 2, bias=bias), ref)
    extra = np.triu(np.ones((3, 3), bool))[None]
    both = np_sequence_masking(np.where(extra, x, -7.0), mask, -7.0, [2])
    out, m = sequence_masking(x, mask, -7.0, 2, bias=extra, return_mask=True)
    _close(out, both)
    assert _np(m).shape == (2, 3, 3) and _np(m).dtype == bool
    _close(sequence_masking(x, None, bias=bias), x.astype("float64") + bias)
    _close(sequence_masking(x, None), x.astype("float64"))  # nothing to mask
    assert sequence_masking(x, None, return_mask=True)[1] is None
    half = keras.ops.cast(x, "float16")
    assert np.all(np.isfinite(_np(sequence_masking(half, mask, "-inf"))))
    with pytest.raises(ValueError, match="batch axis"):
        sequence_masking(x, mask, axis=0)
    with pytest.raises(ValueError, match="value"):
        sequence_masking(x, mask, "-infinity")


def test_infinity_is_settable():
    assert infinity() == 1e12 and K.infinity() == 1e12
    try:
        K.set_infinity(100.0)
        got = _np(sequence_masking(np.zeros((1, 2)), np.array([[1, 0]]), "-inf"))
        np.testing.assert_array_equal(got, [[0.0, -100.0]])
    finally:
        set_infinity(1e12)
    with pytest.raises(ValueError, match="finite number > 0"):
        set_infinity(-1)


@pytest.mark.parametrize(
    "params_shape, indices",
    [
        ((2, 5, 3), [[4], [0]]),  # bert4keras' relation-extraction call
        ((2, 5), [[3], [1]]),  # a label's score: [B, C] with [B, 1]
        ((2, 5, 3), [[1, 1, 4], [0, 2, 3]]),
        ((2, 3, 4, 2), [[[0], [3], [1]], [[2], [2], [0]]]),  # two batch axes
    ],
)
def test_batch_gather(params_shape, indices):
    params = _rand(*params_shape, seed=9)
    indices = np.array(indices)
    k = indices.ndim - 1
    expected = np.zeros(indices.shape + params.shape[k + 1 :])
    for b in np.ndindex(*indices.shape[:k]):
        expected[b] = params[b][indices[b]]
    _close(batch_gather(params, indices), expected)
    _close(batch_gather(params, indices.astype("float32")), expected)


def test_root_mean_square_and_rotary():
    x = _rand(2, 3, 4)
    xd = x.astype("float64")
    _close(root_mean_square(x), np.sqrt((xd**2).mean()))
    _close(
        root_mean_square(x, -1, keepdims=True), np.sqrt((xd**2).mean(-1, keepdims=True))
    )
    q, k = _rand(2, 3, 2, 4, seed=1), _rand(2, 3, 2, 4, seed=2)
    table = sinusoidal_embeddings(np.arange(3.0)[None], 4)
    rq, rk = apply_rotary_position_embeddings(table, q, k)
    # RoPE: rotation preserves norms and makes q.k depend on the offset only.
    _close(
        np.linalg.norm(_np(rq), axis=-1), np.linalg.norm(q.astype("float64"), axis=-1)
    )
    angle = _np(table)[0]
    theta = angle[:, 0::2]  # sin
    cos = angle[:, 1::2]
    ref = q.astype("float64").copy()
    a, b = ref[..., 0::2].copy(), ref[..., 1::2].copy()
    ref[..., 0::2] = a * cos[None, :, None] - b * theta[None, :, None]
    ref[..., 1::2] = b * cos[None, :, None] + a * theta[None, :, None]
    _close(rq, ref, rtol=1e-5, atol=1e-6)
    assert _np(rk).shape == k.shape


# ---------------------------------------------------------------------------
# What K does not support, and bert4keras' examples


# Every `K.*` in bert4keras 0.11.5's examples/ folder.
EXAMPLES_SUPPORTED = [
    "sum", "sparse_categorical_crossentropy", "eval", "cast", "floatx", "set_value",
    "shape", "mean", "reshape", "zeros_like", "int_shape", "binary_crossentropy",
    "random_binomial", "prod", "one_hot", "not_equal", "in_train_phase",
    "concatenate", "categorical_crossentropy",
]  # fmt: skip
EXAMPLES_UNSUPPORTED = {"gradients": "GradientTape", "function": "keras.Model"}
REQUIRED = """floatx epsilon cast shape int_shape ndim dtype eval get_value set_value
constant variable zeros ones zeros_like ones_like sum mean max min prod std var square
sqrt exp log abs pow sign round clip maximum minimum equal not_equal greater
greater_equal less less_equal all any argmax argmin softmax sigmoid relu tanh softplus
elu binary_crossentropy categorical_crossentropy sparse_categorical_crossentropy dot
batch_dot transpose permute_dimensions reshape expand_dims squeeze flatten batch_flatten
concatenate stack tile repeat_elements gather one_hot arange switch in_train_phase
stop_gradient l2_normalize cumsum cumprod logsumexp infinity set_infinity where""".split()


def test_every_required_and_example_name_is_there():
    for name in REQUIRED + EXAMPLES_SUPPORTED:
        assert callable(getattr(K, name)), name
        assert name in dir(K)


@pytest.mark.parametrize(
    "name", ["gradients", "function", "learning_phase", "nonsense_fn"]
)
def test_unsupported_names_raise_attribute_error(name):
    with pytest.raises(AttributeError, match=rf"`K\.{name}`.*keras\.ops") as info:
        getattr(K, name)
    if name in EXAMPLES_UNSUPPORTED:
        assert EXAMPLES_UNSUPPORTED[name] in str(info.value)
    assert not hasattr(K, name)


# ---------------------------------------------------------------------------
# K the way scripts use it: a hand-written loss and metric inside fit


def k_multilabel_crossentropy(y_true, y_pred):
    """bert4keras' multilabel categorical cross-entropy, written with K."""
    y_pred = (1 - 2 * y_true) * y_pred
    y_neg = y_pred - y_true * K.infinity()
    y_pos = y_pred - (1 - y_true) * K.infinity()
    zeros = K.zeros_like(y_pred[..., :1])
    y_neg = K.concatenate([y_neg, zeros], axis=-1)
    y_pos = K.concatenate([y_pos, zeros], axis=-1)
    return K.logsumexp(y_neg, axis=-1) + K.logsumexp(y_pos, axis=-1)


def k_global_pointer_crossentropy(y_true, y_pred):
    bh = K.prod(K.shape(y_pred)[:2])  # a tensor for TensorFlow's dynamic batch
    y_true = K.reshape(y_true, (bh, -1))
    y_pred = K.reshape(y_pred, (bh, -1))
    return K.mean(k_multilabel_crossentropy(y_true, y_pred))


def k_global_pointer_f1(y_true, y_pred):
    y_pred = K.cast(K.greater(y_pred, 0), K.floatx())
    return 2 * K.sum(y_true * y_pred) / K.sum(y_true + y_pred)


def np_zlpr_rows(t, s):
    pos = np.where(t > 0.5, -s, -np.inf)
    neg = np.where(t > 0.5, -np.inf, s)
    zero = np.zeros(s.shape[:-1] + (1,))
    return np_logsumexp(np.concatenate([pos, zero], -1), -1) + np_logsumexp(
        np.concatenate([neg, zero], -1), -1
    )


def _gp_model(length=5, heads=2, dim=3):
    inputs = keras.Input((length, dim))
    h = keras.layers.Dense(heads * length)(inputs)
    h = keras.layers.Reshape((length, heads, length))(h)
    outputs = keras.layers.Permute((2, 1, 3))(h)  # [B, heads, L, L]
    return keras.Model(inputs, outputs)


def test_k_written_loss_and_metric_inside_fit():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(6, 5, 3)).astype("float32")
    y = (rng.random((6, 2, 5, 5)) < 0.2).astype("float32")
    model = _gp_model()
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=k_global_pointer_crossentropy,
        metrics=[k_global_pointer_f1],
    )
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0).history
    losses = history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert np.all(np.isfinite(history["k_global_pointer_f1"]))
    # The traced loss is the eager one: evaluate against NumPy on one batch.
    scores = _np(model.predict(x, verbose=0)).astype("float64")
    expected = np_zlpr_rows(y.reshape(12, -1), scores.reshape(12, -1)).mean()
    got = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], expected, rtol=1e-4)
    pred = scores > 0
    f1 = 2 * (y * pred).sum() / (y + pred).sum()
    np.testing.assert_allclose(got["k_global_pointer_f1"], f1, rtol=1e-5)


def k_seq2seq_loss(y_true, y_pred):
    """bert4keras' seq2seq pattern: shift, mask the padding, average."""
    y_mask = K.cast(K.not_equal(y_true[:, 1:], 0), K.floatx())
    y_true, y_pred = y_true[:, 1:], y_pred[:, :-1]
    loss = K.sparse_categorical_crossentropy(y_true, y_pred)
    return K.sum(loss * y_mask) / K.sum(y_mask)


def test_k_written_sparse_loss_inside_fit():
    rng = np.random.default_rng(11)
    ids = rng.integers(1, 6, (8, 4))
    ids[:, -1] = 0  # padding
    inputs = keras.Input((4,))
    h = keras.layers.Embedding(6, 8)(inputs)
    outputs = keras.layers.Dense(6, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=k_seq2seq_loss)
    losses = model.fit(ids, ids.astype("float32"), batch_size=4, epochs=3, verbose=0)
    losses = losses.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    probs = _np(model.predict(ids, verbose=0)).astype("float64")
    nll = -np.log(np.take_along_axis(probs[:, :-1], ids[:, 1:, None], -1)[..., 0])
    mask = ids[:, 1:] != 0
    expected = (nll * mask).sum() / mask.sum()
    got = model.evaluate(ids, ids.astype("float32"), batch_size=8, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_k_written_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(12)
    y_true = (rng.random((2, 2, 3, 3)) < 0.3).astype("float32")
    y_pred = rng.normal(size=(2, 2, 3, 3)) * 2

    def ref(s):
        return np_zlpr_rows(y_true.reshape(4, -1), s.reshape(4, -1)).mean()

    fd = finite_difference(ref, y_pred)
    g = grad(lambda v: k_global_pointer_crossentropy(y_true, v), y_pred)
    np.testing.assert_allclose(g, fd, rtol=1e-3, atol=1e-5)
