"""save_tagger / load_tagger: the folder one writes is the folder the other reads."""

import json

import keras
import numpy as np
import pytest

from keras_rdkl import ner

TRAIN = [
    ("Anna flew to New York .".split(), [("PER", 0, 0), ("LOC", 3, 4)]),
    ("Bob lives in Leeds".split(), [("PER", 0, 0), ("LOC", 3, 3)]),
]
LABELS = ["LOC", "PER"]


def _tagger(head):
    keras.utils.set_random_seed(1)
    gazetteer = ner.Gazetteer({"city": ["New York", "Leeds"]})
    vocab = ner.Vocabulary.build(
        [t for t, _ in TRAIN],
        labels=LABELS,
        level="word",
        chars=True,
        gazetteer=gazetteer,
    )
    model = ner.build_span_tagger(
        len(vocab),
        len(LABELS),
        head=head,
        hidden=8,
        head_size=4,
        num_chars=vocab.num_chars,
        char_dim=4,
        char_filters=4,
        num_gazetteer_features=vocab.num_gazetteer_features,
    )
    return model, vocab


@pytest.mark.parametrize("head", ["global_pointer", "crf"])
def test_round_trip_gives_the_same_predictions(head, tmp_path):
    model, vocab = _tagger(head)
    examples = ner.index_spans(TRAIN, LABELS)
    texts = ["Anna flew to Leeds.", "Bob, New York!"]
    # threshold far below 0: a random tagger's spans are compared, not none.
    before = ner.predict_spans(model, examples, vocab, len(LABELS), threshold=-1e3)
    ents_before = ner.predict_entities(model, vocab, texts, threshold=-1e3)
    if head == "global_pointer":  # an untrained CRF may tag every token O
        assert any(before) and any(ents_before)
    (x,) = ner.SpanBatches(examples, vocab, len(LABELS), 2, with_targets=False)[0]
    outputs = keras.ops.convert_to_numpy(model.predict_on_batch(x))

    model_path, vocab_path = ner.save_tagger(tmp_path / "run", model, vocab)
    assert model_path == tmp_path / "run" / "model.keras"
    assert vocab_path == tmp_path / "run" / "vocab.json"
    assert json.loads(vocab_path.read_text(encoding="utf-8"))["labels"] == LABELS

    again, vocab_again = ner.load_tagger(tmp_path / "run")
    assert vocab_again.get_config() == vocab.get_config()
    assert [t.name for t in again.inputs] == [t.name for t in model.inputs]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again.predict_on_batch(x)),
        outputs,
        rtol=1e-5,
        atol=1e-5,
    )
    after = ner.predict_spans(again, examples, vocab_again, len(LABELS), threshold=-1e3)
    assert [[s[:3] for s in p] for p in after] == [[s[:3] for s in p] for p in before]
    np.testing.assert_allclose(
        [s[3] for p in after for s in p], [s[3] for p in before for s in p], rtol=1e-5
    )
    ents_after = ner.predict_entities(again, vocab_again, texts, threshold=-1e3)
    strip = [
        [{k: e[k] for k in ("type", "start", "end", "text")} for e in t]
        for t in ents_before
    ]
    assert [
        [{k: e[k] for k in ("type", "start", "end", "text")} for e in t]
        for t in ents_after
    ] == strip


def test_file_names_and_errors(tmp_path):
    model, vocab = _tagger("global_pointer")
    ner.save_tagger(tmp_path, model, vocab, model_name="m.keras", vocab_name="v.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "v.json"]
    again, _ = ner.load_tagger(tmp_path, model_name="m.keras", vocab_name="v.json")
    assert isinstance(again, keras.Model)
    with pytest.raises(ValueError, match="model.keras does not exist"):
        ner.load_tagger(tmp_path)
    with pytest.raises(ValueError, match="`vocab` must be a keras_rdkl.ner.Vocabulary"):
        ner.save_tagger(tmp_path, model, {"a": 1})
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        ner.save_tagger(tmp_path, "model", vocab)
