"""GlobalPointer and EfficientGlobalPointer against the NumPy references in _reference.py."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl import MASK_THRESHOLD
from keras_rdkl import mask_value
from keras_rdkl.layers import EfficientGlobalPointer
from keras_rdkl.layers import GlobalPointer
from tests._grad import grad
from tests.layers import _reference as ref

LAYERS = [GlobalPointer, EfficientGlobalPointer]
HEADS, HEAD_SIZE, HIDDEN = 3, 8, 10


def _np(x):
    return ops.convert_to_numpy(x)


def _random_weights(layer, rng):
    weights = [
        rng.normal(scale=0.5, size=w.shape).astype(w.dtype) for w in layer.weights
    ]
    layer.set_weights(weights)
    return [w.astype("float64") for w in weights]


def _reference(cls, x, weights, rope, tril, mask, use_bias=True, fill=-1e12):
    if not use_bias:
        weights = (
            [weights[0], None]
            if cls is GlobalPointer
            else [weights[0], None, weights[1], None]
        )
    if cls is GlobalPointer:
        return ref.global_pointer(x, *weights, HEADS, HEAD_SIZE, rope, tril, mask, fill)
    return ref.efficient_global_pointer(
        x, *weights, HEADS, HEAD_SIZE, rope, tril, mask, fill
    )


def _inputs(rng, batch=2, length=6):
    x = rng.normal(size=(batch, length, HIDDEN)).astype("float32")
    lengths = np.array([length, 3, 1, 0][:batch])
    mask = np.arange(length)[None, :] < lengths[:, None]
    return x, mask


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize(
    "rope, tril, use_bias",
    [
        (True, True, True),
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ],
)
def test_matches_numpy_reference_with_explicit_mask(cls, rope, tril, use_bias):
    rng = np.random.default_rng(0)
    # Batch rows: full, length 3, length 1, fully padded.
    x, mask = _inputs(rng, batch=4)
    layer = cls(HEADS, HEAD_SIZE, rope=rope, tril_mask=tril, use_bias=use_bias)
    layer.build(x.shape)
    weights = _random_weights(layer, rng)
    expected = _reference(cls, x, weights, rope, tril, mask, use_bias)
    np.testing.assert_allclose(_np(layer(x, mask=mask)), expected, rtol=1e-5, atol=1e-5)
    # Integer 0/1 masks mean the same.
    np.testing.assert_allclose(
        _np(layer(x, mask=mask.astype("int32"))), expected, rtol=1e-5, atol=1e-5
    )
    unmasked = _reference(cls, x, weights, rope, tril, None, use_bias)
    np.testing.assert_allclose(_np(layer(x)), unmasked, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", LAYERS)
def test_keras_mask_from_embedding(cls):
    rng = np.random.default_rng(1)
    tokens = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 0, 0]], dtype="int32")
    inp = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(12, HIDDEN, mask_zero=True)
    layer = cls(HEADS, HEAD_SIZE)
    model = keras.Model(inp, layer(emb(inp)))
    weights = _random_weights(layer, rng)
    table = _np(emb.embeddings).astype("float64")
    expected = _reference(cls, table[tokens], weights, True, True, tokens != 0)
    np.testing.assert_allclose(_np(model(tokens)), expected, rtol=1e-5, atol=1e-5)
    assert layer.compute_mask(emb(tokens), emb.compute_mask(tokens)) is None


@pytest.mark.parametrize("cls", LAYERS)
def test_keras_mask_from_masking_layer(cls):
    rng = np.random.default_rng(2)
    x, mask = _inputs(rng, batch=2)
    x = np.where(mask[..., None], x, 0.0).astype("float32")
    inp = keras.Input((None, HIDDEN))
    layer = cls(HEADS, HEAD_SIZE, tril_mask=False)
    model = keras.Model(inp, layer(keras.layers.Masking(0.0)(inp)))
    weights = _random_weights(layer, rng)
    expected = _reference(cls, x, weights, True, False, mask)
    np.testing.assert_allclose(_np(model(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", LAYERS)
def test_masked_call_equals_call_on_unpadded_prefix(cls):
    rng = np.random.default_rng(3)
    x, _ = _inputs(rng, batch=1, length=7)
    layer = cls(HEADS, HEAD_SIZE)
    full = _np(layer(x, mask=np.arange(7)[None] < 4))
    prefix = _np(layer(x[:, :4]))
    np.testing.assert_allclose(full[..., :4, :4], prefix, rtol=1e-6, atol=1e-6)
    assert (full[..., 4:, :] == np.float32(mask_value("float32"))).all()
    assert (full[..., :, 4:] == np.float32(mask_value("float32"))).all()


@pytest.mark.parametrize("cls", LAYERS)
def test_rope_scores_depend_on_relative_offset_only(cls):
    # Same vector at every position: with RoPE the score of (i, j) is a
    # function of j - i, so shifted spans of equal width score alike.
    row = np.random.default_rng(4).normal(size=(1, 1, HIDDEN)).astype("float32")
    x = np.repeat(row, 6, axis=1)
    out = _np(cls(HEADS, HEAD_SIZE, tril_mask=False)(x))[0]
    for width in range(-2, 3):
        diag = np.diagonal(out, offset=width, axis1=1, axis2=2)
        np.testing.assert_allclose(
            diag, diag[:, :1] * np.ones_like(diag), rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize("cls", LAYERS)
def test_input_gradient_matches_finite_differences(cls):
    rng = np.random.default_rng(5)
    x, mask = _inputs(rng, batch=2, length=4)
    layer = cls(HEADS, HEAD_SIZE)
    layer.build(x.shape)
    _random_weights(layer, rng)
    probe = rng.normal(size=(2, HEADS, 4, 4)).astype("float32")

    def fn(v, m=mask, p=probe):
        out = layer(v, mask=m)
        valid = ops.greater(out, MASK_THRESHOLD)
        return ops.where(valid, out * ops.convert_to_tensor(p), 0.0)

    analytic = grad(fn, x)
    # The output is quadratic in x, so central differences are exact up to
    # rounding; all perturbed copies run as one batch.
    eps = 0.1
    n = x.size
    steps = np.eye(n, dtype="float32").reshape((n,) + x.shape) * eps
    batch = np.concatenate([x[None] + steps, x[None] - steps]).reshape(
        (-1,) + x.shape[1:]
    )
    big_mask = np.tile(mask, (2 * n, 1))
    big_probe = np.tile(probe, (2 * n, 1, 1, 1))
    values = _np(fn(batch, big_mask, big_probe)).reshape(2, n, -1).sum(-1)
    numeric = ((values[0] - values[1]) / (2 * eps)).reshape(x.shape)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-3)
    # Padding tokens take part in no span: their gradient is exactly zero.
    assert np.all(analytic[~mask] == 0.0)
    assert np.abs(analytic[mask]).max() > 0.1


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_outputs_finite_and_masked(cls, policy):
    from keras_rdkl.losses import MultilabelCategoricalCrossentropy

    keras.config.set_dtype_policy(policy)
    try:
        rng = np.random.default_rng(6)
        x, mask = _inputs(rng, batch=3)
        layer = cls(HEADS, HEAD_SIZE)
        out = layer(x * 3.0, mask=mask)
        assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
        out_np = _np(ops.cast(out, "float32"))
        assert np.isfinite(out_np).all()
        fill = float(
            np.asarray(mask_value(layer.compute_dtype), dtype=layer.compute_dtype)
        )
        expected_masked = _reference(
            cls,
            x,
            [np.zeros(w.shape) for w in layer.weights],
            True,
            True,
            mask,
            fill=np.nan,
        )
        hidden = np.isnan(expected_masked)
        assert hidden.any()
        np.testing.assert_array_equal(out_np[hidden], np.float32(fill))
        assert (out_np[~hidden] > MASK_THRESHOLD).all()
        y_true = np.zeros(out_np.shape, "float32")
        y_true[0, :, 0, 1] = 1.0
        loss = MultilabelCategoricalCrossentropy(axis=(-2, -1))(y_true, out)
        assert np.isfinite(float(_np(loss)))
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("cls", LAYERS)
def test_config_round_trip(cls):
    layer = cls(
        4,
        6,
        rope=False,
        use_bias=False,
        tril_mask=False,
        kernel_initializer="glorot_uniform",
        name="spans",
    )
    config = layer.get_config()
    for key, value in dict(
        heads=4, head_size=6, rope=False, use_bias=False, tril_mask=False
    ).items():
        assert config[key] == value
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_initializer, keras.initializers.GlorotUniform)


@pytest.mark.parametrize("cls", LAYERS)
def test_keras_file_round_trip(cls, tmp_path):
    inp = keras.Input((None,), dtype="int32")
    out = cls(HEADS, HEAD_SIZE)(keras.layers.Embedding(9, HIDDEN, mask_zero=True)(inp))
    model = keras.Model(inp, out)
    tokens = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")
    path = os.path.join(tmp_path, "gp.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is cls
    np.testing.assert_array_equal(_np(loaded(tokens)), _np(model(tokens)))


@pytest.mark.parametrize("cls", LAYERS)
def test_jit_compiled_predict_matches_eager(cls):
    rng = np.random.default_rng(7)
    x, mask = _inputs(rng, batch=2, length=5)
    inp = keras.Input((5, HIDDEN))
    model = keras.Model(inp, cls(HEADS, HEAD_SIZE)(keras.layers.Masking(0.0)(inp)))
    x = np.where(mask[..., None], x, 0.0).astype("float32")
    eager = _np(model(x))
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", LAYERS)
def test_parameter_counts(cls):
    layer = cls(HEADS, HEAD_SIZE)
    layer.build((None, None, HIDDEN))
    if cls is GlobalPointer:
        expected = HIDDEN * HEADS * 2 * HEAD_SIZE + HEADS * 2 * HEAD_SIZE
    else:
        expected = (HIDDEN + 1) * 2 * HEAD_SIZE + (2 * HEAD_SIZE + 1) * 2 * HEADS
    assert layer.count_params() == expected


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(heads=0, head_size=8), "heads"),
        (dict(heads=2.5, head_size=8), "heads"),
        (dict(heads=2, head_size=-1), "head_size"),
        (dict(heads=2, head_size=7), "head_size"),
    ],
)
@pytest.mark.parametrize("cls", LAYERS)
def test_bad_arguments_raise(cls, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        cls(**kwargs)


@pytest.mark.parametrize("cls", LAYERS)
def test_odd_head_size_allowed_without_rope_and_rank_checked(cls):
    assert cls(2, 7, rope=False)(np.zeros((1, 3, 4), "float32")).shape == (1, 2, 3, 3)
    with pytest.raises(ValueError, match="batch, length, hidden"):
        cls(2, 8)(np.zeros((3, 4), "float32"))
