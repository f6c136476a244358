"""Argument and shape checks of the span layers: the same ValueError on every backend.

Every mistake here used to reach a backend op (and a backend-specific error
type: InvalidArgumentError, a TypeError from einsum, a broadcasting
IndexError, ...) or was silently accepted. Each case asserts a ValueError
whose message names the argument, on TensorFlow, JAX and PyTorch alike.
"""

import json

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl import mask_value
from keras_rdkl.layers import EfficientGlobalPointer
from keras_rdkl.layers import GlobalPointer
from keras_rdkl.layers import SinusoidalPositionEmbedding
from keras_rdkl.layers import apply_rotary
from keras_rdkl.layers import sinusoidal_embeddings

SPAN_LAYERS = [GlobalPointer, EfficientGlobalPointer]


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("cls", SPAN_LAYERS)
def test_numpy_integers_accepted_and_config_holds_python_ints(cls):
    layer = cls(np.int64(3), np.int32(4), rope=np.bool_(True), use_bias=np.True_)
    assert (layer.heads, layer.head_size) == (3, 4)
    assert type(layer.heads) is int and type(layer.head_size) is int
    config = layer.get_config()
    json.dumps(config)  # NumPy scalars would not serialize
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert layer(np.zeros((1, 3, 5), "float32")).shape == (1, 3, 3, 3)


def test_sinusoidal_numpy_integers_accepted():
    layer = SinusoidalPositionEmbedding(np.int64(4), merge_mode="zero")
    assert type(layer.output_dim) is int
    json.dumps(layer.get_config())
    assert SinusoidalPositionEmbedding.from_config(layer.get_config()).output_dim == 4
    table = sinusoidal_embeddings(np.arange(3.0)[None], np.int16(4))
    assert tuple(table.shape) == (1, 3, 4)


@pytest.mark.parametrize("cls", SPAN_LAYERS)
@pytest.mark.parametrize(
    "kwargs, arg, shown",
    [
        (dict(heads=0), "heads", "heads=0"),
        (dict(heads=-2), "heads", "heads=-2"),
        (dict(heads=2.0), "heads", "heads=2.0"),
        (dict(heads="3"), "heads", "heads='3'"),
        (dict(heads=True), "heads", "heads=True"),
        (dict(heads=None), "heads", "heads=None"),
        (dict(heads=np.float64(3)), "heads", "heads="),
        (dict(head_size=0), "head_size", "head_size=0"),
        (dict(head_size=7), "head_size", "head_size=7"),  # odd with RoPE
        (dict(head_size=8.0), "head_size", "head_size=8.0"),
        (dict(rope="yes"), "rope", "rope='yes'"),
        (dict(rope=1), "rope", "rope=1"),
        (dict(use_bias=None), "use_bias", "use_bias=None"),
        (dict(tril_mask="False"), "tril_mask", "tril_mask='False'"),
        (dict(tril_mask=0), "tril_mask", "tril_mask=0"),
    ],
)
def test_bad_constructor_arguments_name_argument_and_value(cls, kwargs, arg, shown):
    args = dict(heads=2, head_size=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{arg}`") as info:
        cls(**args)
    assert shown in str(info.value)
    # No self-contradiction: the message states what is allowed.
    assert "must be" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(output_dim=5), "output_dim"),
        (dict(output_dim=0), "output_dim"),
        (dict(output_dim=8.0), "output_dim"),
        (dict(output_dim=True), "output_dim"),
        (dict(merge_mode="sum"), "merge_mode"),
        (dict(merge_mode=None), "merge_mode"),
        (dict(merge_mode=["add"]), "merge_mode"),
        (dict(custom_position_ids="no"), "custom_position_ids"),
    ],
)
def test_sinusoidal_bad_constructor_arguments(kwargs, arg):
    args = dict(output_dim=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{arg}`") as info:
        SinusoidalPositionEmbedding(**args)
    assert repr(args[arg]) in str(info.value) or str(args[arg]) in str(info.value)


@pytest.mark.parametrize(
    "args, arg",
    [
        ((np.arange(3.0), 3), "dim"),
        ((np.arange(3.0), 0), "dim"),
        ((np.arange(3.0), 4.0), "dim"),
        ((np.arange(3.0), 4, 0.0), "base"),
        ((np.arange(3.0), 4, "x"), "base"),
    ],
)
def test_sinusoidal_embeddings_bad_arguments(args, arg):
    with pytest.raises(ValueError, match=f"`{arg}`"):
        sinusoidal_embeddings(*args)


@pytest.mark.parametrize("cls", SPAN_LAYERS)
@pytest.mark.parametrize(
    "x_shape, mask_shape, arg",
    [
        ((3, 4), None, "inputs"),  # rank 2
        ((2, 3, 4, 5), None, "inputs"),  # rank 4
        ((2, 3, 4), (2, 4), "mask"),  # length mismatch
        ((2, 3, 4), (3, 3), "mask"),  # batch mismatch
        ((2, 3, 4), (2,), "mask"),
        ((2, 3, 4), (2, 3, 1), "mask"),
    ],
)
def test_input_and_mask_shape_mistakes(cls, x_shape, mask_shape, arg):
    layer = cls(2, 8)
    mask = None if mask_shape is None else np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=f"`{arg}`"):
        layer(np.zeros(x_shape, "float32"), mask=mask)


@pytest.mark.parametrize("cls", SPAN_LAYERS)
def test_hidden_size_other_than_built_for(cls):
    layer = cls(2, 8)
    layer(np.zeros((1, 3, 4), "float32"))
    with pytest.raises(ValueError, match="hidden size 4"):
        layer(np.zeros((1, 3, 6), "float32"))


@pytest.mark.parametrize(
    "x_shape, table_shape, arg",
    [
        ((2, 5, 3, 7), (1, 5, 7), "`x`"),  # odd channels
        ((2, 5), (1, 5, 4), "`x`"),  # rank 2
        ((2, 5, 3, 8), (5, 8), "`positions_embedding`"),  # rank 2 table
        ((2, 5, 3, 8), (1, 5, 6), "`positions_embedding`"),  # channels differ
        ((2, 5, 3, 8), (1, 4, 8), "`positions_embedding`"),  # length differs
        ((2, 5, 3, 8), (3, 5, 8), "`positions_embedding`"),  # batch differs
    ],
)
def test_apply_rotary_shape_mistakes(x_shape, table_shape, arg):
    with pytest.raises(ValueError, match=arg):
        apply_rotary(np.zeros(x_shape, "float32"), np.zeros(table_shape, "float32"))


def test_apply_rotary_accepts_batch_one_or_full_batch_table():
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    table = _np(sinusoidal_embeddings(np.arange(5.0)[None], 8))
    one = _np(apply_rotary(x, table))
    full = _np(apply_rotary(x, np.repeat(table, 2, axis=0)))
    np.testing.assert_allclose(one, full, rtol=1e-6)


@pytest.mark.parametrize(
    "layer_kwargs, inputs, arg",
    [
        (dict(merge_mode="add"), np.zeros((2, 3, 6), "float32"), "inputs"),
        (dict(merge_mode="mul"), np.zeros((2, 3, 6), "float32"), "inputs"),
        (dict(merge_mode="zero"), np.zeros((2, 3), "float32"), "inputs"),
        (
            dict(custom_position_ids=True),
            [np.zeros((2, 3, 8), "float32"), np.zeros((2, 4), "int32")],
            "position_ids",
        ),
        (
            dict(custom_position_ids=True),
            [np.zeros((2, 3, 8), "float32"), np.zeros((3, 3), "int32")],
            "position_ids",
        ),
        (
            dict(custom_position_ids=True),
            [np.zeros((2, 3, 8), "float32"), np.zeros((2, 3, 1), "int32")],
            "position_ids",
        ),
        (
            dict(custom_position_ids=True),
            np.zeros((2, 3, 8), "float32"),
            "position_ids",
        ),
        (
            dict(),
            [np.zeros((2, 3, 8), "float32"), np.zeros((2, 3), "int32")],
            "custom_position_ids",
        ),
    ],
)
def test_sinusoidal_call_shape_mistakes(layer_kwargs, inputs, arg):
    layer = SinusoidalPositionEmbedding(8, **layer_kwargs)
    with pytest.raises(ValueError, match=f"`{arg}`"):
        layer(inputs)


def test_sinusoidal_position_ids_batch_one_broadcasts():
    x = np.zeros((2, 3, 8), "float32")
    ids = np.array([[2, 0, 1]], "int32")
    layer = SinusoidalPositionEmbedding(8, merge_mode="add", custom_position_ids=True)
    out = _np(layer([x, ids]))
    table = _np(sinusoidal_embeddings(ids.astype("float32"), 8))
    np.testing.assert_allclose(out, np.repeat(table, 2, axis=0), rtol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("mode", ["add", "mul", "zero", "concat"])
def test_sinusoidal_mixed_precision_dtype_and_finite(policy, mode):
    keras.config.set_dtype_policy(policy)
    layer = SinusoidalPositionEmbedding(8, merge_mode=mode)
    out = layer(np.ones((2, 600, 8), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
    assert np.isfinite(_np(ops.cast(out, "float32"))).all()


@pytest.mark.parametrize("cls", SPAN_LAYERS)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_masks_from_embedding_hold_mask_value(cls, policy):
    keras.config.set_dtype_policy(policy)
    tokens = np.array([[3, 1, 4, 0, 0], [0, 0, 0, 0, 0], [9, 2, 6, 5, 3]], "int32")
    inp = keras.Input((None,), dtype="int32")
    layer = cls(2, 8)
    model = keras.Model(inp, layer(keras.layers.Embedding(12, 16, mask_zero=True)(inp)))
    # Large activations: a -1e12 constant would overflow float16 to -inf.
    model.set_weights([w * 20.0 for w in model.get_weights()])
    out = _np(ops.cast(model(tokens), "float32"))
    assert np.isfinite(out).all()
    valid = tokens != 0
    span_ok = valid[:, None, :, None] & valid[:, None, None, :]
    span_ok = span_ok & np.triu(np.ones((5, 5), bool))
    span_ok = np.broadcast_to(span_ok, out.shape)
    fill = np.float32(np.asarray(mask_value(layer.compute_dtype), layer.compute_dtype))
    np.testing.assert_array_equal(out[~span_ok], fill)
    assert (out[span_ok] > -2.0e4).all()


@pytest.mark.parametrize(
    "layer",
    [
        GlobalPointer(2, 4, rope=False, name="gp"),
        EfficientGlobalPointer(3, 6, tril_mask=False, kernel_initializer="zeros"),
        SinusoidalPositionEmbedding(6, merge_mode="mul", custom_position_ids=True),
    ],
    ids=["global_pointer", "efficient_global_pointer", "sinusoidal"],
)
def test_serialize_deserialize_round_trip(layer):
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    )
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
