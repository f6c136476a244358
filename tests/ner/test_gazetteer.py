"""Gazetteer marks, their place in the vocabulary and batches, and the model input."""

import json

import keras
import numpy as np
import pytest

from keras_rdkl import ner
from tests.ner.test_builder import IDS
from tests.ner.test_builder import SMALL
from tests.ner.test_builder import _assert_reload_predicts_the_same

LISTS = {
    "city": ["New York", "York", "Port-au-Prince, Haiti", "  "],
    "first_name": ["Anna", "Mary Ann"],
}


def _marks(gaz, text):
    return gaz.features(text.split()).astype(int).tolist()


def test_begin_and_inside_marks_by_hand():
    gaz = ner.Gazetteer(LISTS)
    assert gaz.names == ["city", "first_name"] and gaz.num_features == 4
    # Every match counts: "New York" and the nested "York".
    assert _marks(gaz, "to new York now") == [
        [0, 0, 0, 0],
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
    ]
    # Phrases split like raw text (ner.tokenize): three tokens here.
    assert [m[:2] for m in _marks(gaz, "Port-au-Prince , Haiti")] == [
        [1, 0],
        [0, 1],
        [0, 1],
    ]
    # Overlapping phrases of two lists; a match at the end of the sentence.
    assert _marks(gaz, "Mary Ann York") == [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]
    assert _marks(gaz, "Mary") == [[0, 0, 0, 0]]  # only part of a phrase
    assert gaz.features([]).shape == (0, 4)
    cased = ner.Gazetteer(LISTS, lowercase=False)
    assert _marks(cased, "new york") == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert _marks(cased, "New York")[0] == [1, 0, 0, 0]


def test_save_load_and_bad_input(tmp_path):
    gaz = ner.Gazetteer(LISTS)
    gaz.save(tmp_path / "g.json")
    again = ner.Gazetteer.load(tmp_path / "g.json")
    assert again.get_config() == gaz.get_config()
    text = "Anna left New York".split()
    np.testing.assert_array_equal(again.features(text), gaz.features(text))
    (tmp_path / "plain.json").write_text(json.dumps({"city": ["Paris"]}))
    assert ner.Gazetteer.load(tmp_path / "plain.json").features(["paris"])[0, 0] == 1
    (tmp_path / "bad.json").write_text('{"city": ["Paris"],\n "x": }')
    with pytest.raises(ValueError, match=r"bad\.json: line 2: not valid JSON"):
        ner.Gazetteer.load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text('["Paris"]')
    with pytest.raises(ValueError, match=r"list\.json: line 1: expected a JSON object"):
        ner.Gazetteer.load(tmp_path / "list.json")
    with pytest.raises(ValueError, match="`lists` must be a non-empty dict"):
        ner.Gazetteer({})
    with pytest.raises(ValueError, match=r"`lists\['city'\]` must be a list"):
        ner.Gazetteer({"city": "Paris"})


def test_vocabulary_carries_the_gazetteer_into_batches(tmp_path):
    ex = [(["Anna", "met", "Mary", "Ann"], [(0, 0, 0)]), (["in", "New", "York"], [])]
    gaz = ner.Gazetteer(LISTS)
    vocab = ner.Vocabulary.build(
        [t for t, _ in ex], lowercase=True, chars=True, gazetteer=gaz, level="word"
    )
    assert vocab.num_gazetteer_features == 4
    vocab.save(tmp_path / "v.json")
    again = ner.Vocabulary.load(tmp_path / "v.json")
    assert again.get_config() == vocab.get_config()
    assert vocab.extended(["zz"]).gazetteer.get_config() == gaz.get_config()
    data = ner.SpanBatches(ex, again, 1, batch_size=2, with_targets=False)
    (x,) = data[0]
    assert set(x) == {"token_ids", "char_ids", "gazetteer"}
    assert x["gazetteer"].dtype == np.float32
    assert x["gazetteer"].shape == x["token_ids"].shape + (4,)
    for row, j in enumerate(data.batches[0]):
        tokens = ex[j][0]
        np.testing.assert_array_equal(
            x["gazetteer"][row, : len(tokens)], gaz.features(tokens)
        )
        assert (x["gazetteer"][row, len(tokens) :] == 0).all()
    plain = ner.Vocabulary.build([["a"]])
    assert plain.num_gazetteer_features == 0 and plain.gazetteer is None
    with pytest.raises(ValueError, match="no gazetteer"):
        plain.encode_gazetteer(["a"])
    with pytest.raises(ValueError, match="`gazetteer` must be"):
        ner.Vocabulary(["[PAD]", "[UNK]"], gazetteer=["city"])


def test_builder_gazetteer_input_changes_scores_and_reloads(tmp_path):
    model = ner.build_span_tagger(20, 2, num_gazetteer_features=4, **SMALL)
    assert {t.name.split(":")[0] for t in model.inputs} == {"token_ids", "gazetteer"}
    marks = np.zeros(IDS.shape + (4,), "float32")
    x = {"token_ids": IDS, "gazetteer": marks}
    logits = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    assert logits.shape == (2, 2, 6, 6)
    marked = dict(x, gazetteer=np.where(IDS[..., None] > 0, 1.0, 0.0) * marks + 0)
    marked["gazetteer"][0, 1, 0] = 1.0  # token 1 begins a listed phrase
    moved = keras.ops.convert_to_numpy(model.predict_on_batch(marked))
    assert not np.allclose(moved[0, :, :4, :4], logits[0, :, :4, :4])
    np.testing.assert_allclose(moved[1], logits[1], rtol=1e-5, atol=1e-6)
    _assert_reload_predicts_the_same(model, x, logits, tmp_path / "m.keras")
