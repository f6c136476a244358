"""build_span_tagger on every backend: shapes, padding masks, save/load round trip."""

import keras
import numpy as np
import pytest

from keras_rdkl import MASK_THRESHOLD
from keras_rdkl import ner

IDS = np.array([[5, 6, 7, 8, 0, 0], [3, 4, 0, 0, 0, 0]], "int32")


def _chars(ids, max_chars=4):
    rng = np.random.default_rng(0)
    c = rng.integers(1, 9, size=ids.shape + (max_chars,)).astype("int32")
    return np.where(ids[..., None] > 0, c, 0)


@pytest.mark.parametrize("encoder", ["bilstm", "idcnn", "transformer"])
@pytest.mark.parametrize("head", ["global_pointer", "efficient_global_pointer"])
def test_shapes_masks_and_reload(tmp_path, encoder, head):
    model = ner.build_span_tagger(
        20,
        3,
        encoder=encoder,
        head=head,
        embedding_dim=8,
        hidden=8,
        head_size=4,
        dropout=0.1,
    )
    logits = keras.ops.convert_to_numpy(model.predict_on_batch(IDS))
    assert logits.shape == (2, 3, 6, 6)
    valid = (IDS > 0)[:, None, :, None] & (IDS > 0)[:, None, None, :]
    valid = valid & np.triu(np.ones((6, 6), bool))
    # Every padded or lower-triangle span is masked; every valid one is not.
    assert np.all(logits[~np.broadcast_to(valid, logits.shape)] <= MASK_THRESHOLD)
    assert np.all(np.isfinite(logits[np.broadcast_to(valid, logits.shape)]))
    assert np.all(logits[np.broadcast_to(valid, logits.shape)] > MASK_THRESHOLD)
    _assert_reload_predicts_the_same(model, IDS, logits, tmp_path / "tagger.keras")


def test_padding_does_not_change_token_scores():
    # The same sentence padded to 6 or 10 tokens gives the same span scores.
    model = ner.build_span_tagger(
        20, 2, encoder="bilstm", embedding_dim=8, hidden=8, head_size=4, dropout=0.0
    )
    short = keras.ops.convert_to_numpy(model.predict_on_batch(IDS[:1]))
    longer = keras.ops.convert_to_numpy(
        model.predict_on_batch(np.pad(IDS[:1], ((0, 0), (0, 4))))
    )
    np.testing.assert_allclose(
        longer[:, :, :4, :4], short[:, :, :4, :4], rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("encoder", ["idcnn", "transformer"])
def test_padding_invariance_conv_and_attention(encoder):
    model = ner.build_span_tagger(
        20, 2, encoder=encoder, embedding_dim=8, hidden=8, head_size=4, dropout=0.0
    )
    short = keras.ops.convert_to_numpy(model.predict_on_batch(IDS[:1]))
    longer = keras.ops.convert_to_numpy(
        model.predict_on_batch(np.pad(IDS[:1], ((0, 0), (0, 4))))
    )
    np.testing.assert_allclose(
        longer[:, :, :4, :4], short[:, :, :4, :4], rtol=1e-4, atol=1e-4
    )


# Small widths for the models with character / bigram inputs.
SMALL = dict(
    embedding_dim=8, hidden=8, head_size=4, char_dim=4, char_filters=6, max_chars=4
)


def _assert_reload_predicts_the_same(model, x, logits, path):
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded.predict_on_batch(x)),
        logits,
        rtol=1e-5,
        atol=1e-5,
    )


def test_word_and_char_inputs_reload(tmp_path):
    model = ner.build_span_tagger(20, 2, encoder="idcnn", num_chars=10, **SMALL)
    x = {"token_ids": IDS, "char_ids": _chars(IDS)}
    logits = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    assert logits.shape == (2, 2, 6, 6)
    # Unknown words (id 1) with different spellings get different scores.
    a = {
        "token_ids": np.array([[1, 1]], "int32"),
        "char_ids": np.array([[[2, 3, 0, 0], [4, 5, 6, 0]]], "int32"),
    }
    b = {
        "token_ids": a["token_ids"],
        "char_ids": np.array([[[7, 7, 0, 0], [4, 5, 6, 0]]], "int32"),
    }
    la = keras.ops.convert_to_numpy(model.predict_on_batch(a))
    lb = keras.ops.convert_to_numpy(model.predict_on_batch(b))
    assert not np.allclose(la[:, :, 0, 0], lb[:, :, 0, 0])
    _assert_reload_predicts_the_same(model, x, logits, tmp_path / "m.keras")


@pytest.mark.parametrize("num_chars", [0, 10])
def test_bigram_inputs_change_scores_and_reload(tmp_path, num_chars):
    model = ner.build_span_tagger(
        20, 2, num_chars=num_chars, num_bigrams=12, bigram_dim=5, **SMALL
    )
    assert model.get_layer("bigram_embedding").output_dim == 5
    expected = {"token_ids", "bigram_ids"} | ({"char_ids"} if num_chars else set())
    assert {t.name.split(":")[0] for t in model.inputs} == expected
    bigrams = np.where(IDS > 0, (IDS % 11) + 1, 0).astype("int32")
    x = {"token_ids": IDS, "bigram_ids": bigrams}
    if num_chars:
        x["char_ids"] = _chars(IDS)
    logits = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    assert logits.shape == (2, 2, 6, 6)
    assert np.all(logits[:, :, 4:, :] < MASK_THRESHOLD)  # padded rows stay masked
    other = dict(x, bigram_ids=np.where(IDS > 0, 1, 0).astype("int32"))
    moved = keras.ops.convert_to_numpy(model.predict_on_batch(other))
    assert not np.allclose(moved[:, :, :4, :4], logits[:, :, :4, :4])
    _assert_reload_predicts_the_same(model, x, logits, tmp_path / "m.keras")


def test_shape_inputs_change_scores_and_reload(tmp_path):
    model = ner.build_span_tagger(
        20, 2, num_chars=10, num_shapes=len(ner.WORD_SHAPES), shape_dim=3, **SMALL
    )
    assert model.get_layer("shape_embedding").output_dim == 3
    assert {t.name.split(":")[0] for t in model.inputs} == {
        "token_ids",
        "char_ids",
        "shape_ids",
    }
    shapes = np.where(IDS > 0, 2, 0).astype("int32")
    x = {"token_ids": IDS, "char_ids": _chars(IDS), "shape_ids": shapes}
    logits = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    assert logits.shape == (2, 2, 6, 6)
    assert np.all(logits[:, :, 4:, :] < MASK_THRESHOLD)  # padded rows stay masked
    # The same token ids, another shape (e.g. "Paris" against "paris").
    other = dict(x, shape_ids=np.where(IDS > 0, 3, 0).astype("int32"))
    moved = keras.ops.convert_to_numpy(model.predict_on_batch(other))
    assert not np.allclose(moved[:, :, :4, :4], logits[:, :, :4, :4])
    _assert_reload_predicts_the_same(model, x, logits, tmp_path / "m.keras")


def test_token_dropout_replaces_ids_in_training_only():
    layer = ner.TokenDropout(0.3, unk_id=3, seed=1)
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 50, size=(40, 250)).astype("int32")
    ids[:, 200:] = 0  # padding
    out = keras.ops.convert_to_numpy(layer(ids, training=True))
    assert np.array_equal(keras.ops.convert_to_numpy(layer(ids)), ids)
    assert (out[:, 200:] == 0).all()  # padding stays padding
    changed = out != ids
    assert (out[changed] == 3).all()
    # 8,000 draws at rate 0.3: the share lies within 5 sd (0.005) of it.
    assert abs(changed[:, :200].mean() - 0.3) < 0.025
    again = keras.ops.convert_to_numpy(layer(ids, training=True))
    assert not np.array_equal(again, out)  # a fresh draw each call
    assert (
        keras.ops.convert_to_numpy(ner.TokenDropout(0.0)(ids, training=True)) == ids
    ).all()
    config = layer.get_config()
    assert (config["rate"], config["unk_id"], config["seed"]) == (0.3, 3, 1)
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match="`rate` must be in"):
            ner.TokenDropout(bad)
    with pytest.raises(ValueError, match="`unk_id` must be an int >= 1"):
        ner.TokenDropout(0.1, unk_id=0)


def test_builder_token_dropout_trains_on_unknown_ids_and_reloads(tmp_path):
    model = ner.build_span_tagger(
        20, 2, token_dropout=0.5, unk_id=1, num_chars=10, dropout=0.0, **SMALL
    )
    assert model.get_layer("token_dropout").rate == 0.5
    x = {"token_ids": IDS, "char_ids": _chars(IDS)}
    plain = ner.build_span_tagger(20, 2, num_chars=10, dropout=0.0, **SMALL)
    plain.set_weights(model.get_weights())
    logits = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    # In inference the layer is the identity: the same model without it.
    np.testing.assert_allclose(
        logits, keras.ops.convert_to_numpy(plain.predict_on_batch(x)), rtol=1e-6
    )
    # In training some of the 6 ids become [UNK] (none, 1 in 64 per call).
    trained = [keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(4)]
    assert any(not np.allclose(t[:, :, :4, :4], logits[:, :, :4, :4]) for t in trained)
    _assert_reload_predicts_the_same(model, x, logits, tmp_path / "m.keras")


def test_char_cnn_matches_numpy():
    layer = ner.CharCNN(6, char_dim=3, filters=2, kernel_size=1)
    ids = np.array([[[1, 2, 0], [0, 0, 0]]], "int32")
    out = keras.ops.convert_to_numpy(layer(ids))
    emb = keras.ops.convert_to_numpy(layer.embedding.embeddings)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.conv.weights)
    h = np.maximum(emb[[1, 2]] @ kernel[0] + bias, 0)
    np.testing.assert_allclose(out[0, 0], h.max(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], 0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="encoder"):
        ner.build_span_tagger(10, 2, encoder="gru")
    with pytest.raises(ValueError, match="head"):
        ner.build_span_tagger(10, 2, head="crf_not_registered")
    with pytest.raises(ValueError, match="dropout"):
        ner.build_span_tagger(10, 2, dropout=1.5)
    with pytest.raises(ValueError, match="num_chars"):
        ner.CharCNN(0)


def test_register_head_plugs_into_the_builder():
    def token_scores(x, mask, num_types, head_size, name):
        return keras.layers.Dense(num_types, name=name)(x)

    ner.register_head("token_dense", token_scores)
    try:
        model = ner.build_span_tagger(
            10, 3, head="token_dense", encoder="idcnn", embedding_dim=4, hidden=4
        )
        assert model.output.shape[-1] == 3
    finally:
        ner.HEADS.pop("token_dense")
