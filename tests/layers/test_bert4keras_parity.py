"""Parity with bert4keras 0.11.5 through fixtures made by tools/make_bert4keras_fixtures.py.

The fixtures hold bert4keras' own inputs, weights and logits (computed in a
separate Keras 2 virtualenv); here each backend loads the weights with
`set_weights` and must reproduce the logits at every unmasked span, and
hold `mask_value` where bert4keras holds -inf.
"""

import pathlib

import keras
import numpy as np
import pytest

from keras_rdkl import mask_value
from keras_rdkl.layers import EfficientGlobalPointer
from keras_rdkl.layers import GlobalPointer
from keras_rdkl.layers import SinusoidalPositionEmbedding
from keras_rdkl.layers import apply_rotary

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
CASES = sorted(p.name for p in FIXTURES.glob("b4k_*gp_rope*.npz"))
LAYERS = {"gp": GlobalPointer, "egp": EfficientGlobalPointer}


def test_fixtures_present():
    # 2 layers x (4 rope/tril combinations + 1 unmasked case).
    assert len(CASES) == 10, CASES


@pytest.mark.parametrize("case", CASES)
def test_logits_match_bert4keras(case):
    data = np.load(FIXTURES / case)
    cls = LAYERS[case.split("_")[1]]
    layer = cls(
        int(data["heads"]),
        int(data["head_size"]),
        rope=bool(data["rope"]),
        tril_mask=bool(data["tril_mask"]),
    )
    x = data["inputs"]
    layer.build(x.shape)
    weights = [data[f"weight_{i}"] for i in range(int(data["n_weights"]))]
    assert [tuple(w.shape) for w in layer.weights] == [w.shape for w in weights]
    layer.set_weights(weights)
    mask = data["mask"] if "mask" in data else None
    out = keras.ops.convert_to_numpy(layer(x, mask=mask))
    expected = data["logits"]
    kept = np.isfinite(expected)
    assert kept.any() and (~kept).any()
    np.testing.assert_allclose(out[kept], expected[kept], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out[~kept], np.float32(mask_value("float32")))


def test_sinusoidal_and_rotary_match_bert4keras():
    data = np.load(FIXTURES / "b4k_sinusoidal.npz")
    x = data["inputs"]
    dim = x.shape[-1]
    for mode in ("add", "mul", "zero"):
        out = SinusoidalPositionEmbedding(dim, merge_mode=mode)(x)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(out), data[mode], rtol=1e-5, atol=1e-6
        )
    rotated = apply_rotary(data["rotary_inputs"], data["zero"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(rotated), data["rotary"], rtol=1e-5, atol=1e-6
    )
