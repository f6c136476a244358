"""SinusoidalPositionEmbedding and apply_rotary against NumPy references."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.layers import SinusoidalPositionEmbedding
from keras_rdkl.layers import apply_rotary
from keras_rdkl.layers import sinusoidal_embeddings
from tests._grad import grad
from tests.layers import _reference as ref


def _np(x):
    return ops.convert_to_numpy(x)


def test_table_layout_is_interleaved_sin_cos():
    table = _np(sinusoidal_embeddings(np.arange(9.0)[None], 6))
    np.testing.assert_allclose(table[0], ref.sinusoid_table(9, 6), rtol=1e-5, atol=1e-6)
    # Position 0: sin = 0 on even channels, cos = 1 on odd channels.
    np.testing.assert_array_equal(table[0, 0], [0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize("mode", ["add", "mul", "zero", "concat"])
def test_merge_modes(mode):
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    table = ref.sinusoid_table(5, 8)[None]
    expected = {
        "add": x + table,
        "mul": x * (table + 1.0),
        "zero": table,
        "concat": np.concatenate([x, np.repeat(table, 2, axis=0)], axis=-1),
    }[mode]
    layer = SinusoidalPositionEmbedding(8, merge_mode=mode)
    out = _np(layer(x))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert tuple(layer.compute_output_shape(x.shape))[1:] == out.shape[1:]


def test_custom_position_ids():
    x = np.zeros((2, 4, 6), "float32")
    ids = np.array([[3, 1, 0, 7], [2, 2, 2, 2]], "int32")
    out = _np(SinusoidalPositionEmbedding(6, custom_position_ids=True)([x, ids]))
    full = ref.sinusoid_table(8, 6)
    np.testing.assert_allclose(out, full[ids], rtol=1e-5, atol=1e-6)


def test_mask_passes_through():
    layer = SinusoidalPositionEmbedding(4)
    mask = np.array([[True, False]])
    assert np.array_equal(_np(layer.compute_mask(np.zeros((1, 2, 4)), mask)), mask)


def test_rotary_matches_reference_and_keeps_pair_norms():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 3, 8)).astype("float32")
    table = sinusoidal_embeddings(np.arange(6.0)[None], 8)
    out = _np(apply_rotary(x, table))
    for b in range(2):
        np.testing.assert_allclose(out[b], ref.rotate(x[b], 8), rtol=1e-5, atol=1e-5)
    pair_norm = lambda v: v[..., 0::2] ** 2 + v[..., 1::2] ** 2  # noqa: E731
    np.testing.assert_allclose(pair_norm(out), pair_norm(x), rtol=1e-4, atol=1e-5)
    # Differs from the half-split (keras-hub) layout.
    pos = np.arange(6.0)[None, :, None, None]
    angle = pos * 10000.0 ** (-2.0 * np.arange(4) / 8)
    lo, hi = x[..., :4], x[..., 4:]
    half = np.concatenate(
        [
            lo * np.cos(angle) - hi * np.sin(angle),
            hi * np.cos(angle) + lo * np.sin(angle),
        ],
        -1,
    )
    assert np.abs(out[:, 1:] - half[:, 1:]).max() > 0.1


def test_rotary_gradient_is_transpose_rotation():
    # out = R x with R orthogonal, so d(sum(g * out))/dx = R^T g = rotation by -angle.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 5, 4)).astype("float32")
    g = rng.normal(size=(1, 5, 4)).astype("float32")
    table = sinusoidal_embeddings(np.arange(5.0)[None], 4)
    analytic = grad(lambda v: apply_rotary(v, table) * ops.convert_to_tensor(g), x)
    back = _np(apply_rotary(g, -_np(table) * np.array([1, -1, 1, -1])))  # sin -> -sin
    np.testing.assert_allclose(analytic, back, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_finite(policy):
    keras.config.set_dtype_policy(policy)
    try:
        out = SinusoidalPositionEmbedding(8, merge_mode="add")(
            np.ones((1, 512, 8), "float32")
        )
        assert np.isfinite(_np(ops.cast(out, "float32"))).all()
    finally:
        keras.config.set_dtype_policy("float32")


def test_config_round_trip_and_bad_arguments():
    layer = SinusoidalPositionEmbedding(
        6, merge_mode="concat", custom_position_ids=True
    )
    config = layer.get_config()
    assert (
        config["output_dim"],
        config["merge_mode"],
        config["custom_position_ids"],
    ) == (
        6,
        "concat",
        True,
    )
    assert SinusoidalPositionEmbedding.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="merge_mode"):
        SinusoidalPositionEmbedding(6, merge_mode="sum")
    with pytest.raises(ValueError, match="output_dim"):
        SinusoidalPositionEmbedding(5)
    with pytest.raises(ValueError, match="dim"):
        sinusoidal_embeddings(np.arange(3.0), 3)
    with pytest.raises(ValueError, match="positions_embedding"):
        apply_rotary(np.zeros((1, 3, 4)), np.zeros((3, 4)))
