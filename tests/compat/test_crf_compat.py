"""bert4keras-compatible ConditionalRandomField and ViterbiDecoder against bert4keras 0.11.5.

Fixtures made by tools/make_bert4keras_crf_fixtures.py in a Keras 2
virtualenv with the real bert4keras: its stored weight is transplanted with
`set_weights`, and every backend must reproduce its losses, accuracies,
gradients and decoded paths.
"""

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.compat.bert4keras import ConditionalRandomField
from keras_rdkl.compat.bert4keras import ViterbiDecoder
from keras_rdkl.viterbi import viterbi_decode
from tests._grad import grad

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def _crf(data):
    crf = ConditionalRandomField(lr_multiplier=float(data["lr_multiplier"]))
    crf.build(data["emissions"].shape)
    crf.set_weights([data["weight"]])
    return crf


def test_losses_accuracies_and_gradients_match_bert4keras():
    data = np.load(FIXTURES / "b4k_crf_loss.npz")
    crf = _crf(data)
    np.testing.assert_allclose(
        ops.convert_to_numpy(crf.trans), data["trans"], rtol=1e-6
    )
    masked = crf(data["emissions"], mask=data["mask"])
    kept = data["mask"] > 0
    np.testing.assert_array_equal(
        ops.convert_to_numpy(masked)[kept], data["masked_emissions"][kept]
    )
    tags = data["tags"]
    one_hot = np.eye(data["trans"].shape[0], dtype="float32")[tags]
    np.testing.assert_allclose(
        ops.convert_to_numpy(crf.sparse_loss(tags, masked)),
        data["sparse_loss"],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(crf.dense_loss(one_hot, masked)),
        data["dense_loss"],
        rtol=1e-5,
    )
    # Keras passes y_true as float [B, L] (or [B, L, 1]); the loss reshapes.
    np.testing.assert_allclose(
        ops.convert_to_numpy(
            crf.sparse_loss(tags[..., None].astype("float32"), masked)
        ),
        data["sparse_loss"],
        rtol=1e-5,
    )
    assert float(crf.sparse_accuracy(tags, masked)) == pytest.approx(
        float(data["sparse_accuracy"])
    )
    assert float(crf.dense_accuracy(one_hot, masked)) == pytest.approx(
        float(data["dense_accuracy"])
    )
    mask = data["mask"]
    g_e = grad(lambda v: crf.sparse_loss(tags, crf(v, mask=mask)), data["emissions"])
    np.testing.assert_allclose(g_e, data["grad_emissions"], rtol=1e-4, atol=1e-5)
    # d/dW through trans = lr_multiplier * W.
    m = float(data["lr_multiplier"])
    from keras_rdkl.losses import crf_negative_log_likelihood

    g_w = grad(
        lambda w: crf_negative_log_likelihood(tags, masked, m * w), data["weight"]
    )
    np.testing.assert_allclose(g_w, data["grad_weight"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", ["none", "starts", "both"])
def test_viterbi_decoder_paths_match_bert4keras(variant):
    data = np.load(FIXTURES / "b4k_crf_viterbi.npz")
    starts = None if variant == "none" else data["starts"].tolist()
    ends = data["ends"].tolist() if variant == "both" else None
    decoder = ViterbiDecoder(data["trans"], starts=starts, ends=ends)
    cases = sorted(k for k in data.files if k.startswith("nodes_"))
    assert len(cases) == 5
    for key in cases:
        i = key.split("_")[1]
        nodes = data[key]
        want = data[f"path_{variant}_{i}"]
        np.testing.assert_array_equal(decoder.decode(nodes), want)
        # The batched in-graph decoder gives the same path.
        tags, _ = viterbi_decode(
            nodes[None], data["trans"], start_tags=starts, end_tags=ends
        )
        np.testing.assert_array_equal(ops.convert_to_numpy(tags)[0], want)


def test_compile_the_bert4keras_way_and_fit():
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 16, mask_zero=True)(inputs)
    crf = ConditionalRandomField(lr_multiplier=10)
    outputs = crf(keras.layers.Dense(4)(x))
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(0.02), loss=crf.sparse_loss, metrics=[crf.sparse_accuracy]
    )
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(64, 6))
    x[:, 4:] = 0
    y = np.where(x > 0, x % 4, 0)
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["sparse_accuracy"][-1] > 0.8
    decoder = ViterbiDecoder(ops.convert_to_numpy(crf.trans), starts=[0, 1, 2, 3])
    emissions = ops.convert_to_numpy(model(x[:1]))[0, :4]
    assert decoder.decode(emissions).tolist() == y[0, :4].tolist()
    assert crf.get_config()["lr_multiplier"] == 10
    clone = ConditionalRandomField.from_config(crf.get_config())
    assert clone.lr_multiplier == 10
