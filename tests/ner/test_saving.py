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
    with pytest.raises(
        ValueError, match="`vocab` must be a keras_rdkl.ner.Vocabulary or"
    ):
        ner.save_tagger(tmp_path, model, {"a": 1})
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        ner.save_tagger(tmp_path, "model", vocab)


# --- a tagger on a pretrained backbone: the tokenizer goes beside the model ----

WORDS = ["anna", "bob", "flew", "to", "new", "york", "lives", "in", "leeds", "."]


def _subword_tagger(head):
    """A tiny keras-hub BERT (random weights) and a WordPiece tokenizer made here."""
    keras_hub = pytest.importorskip("keras_hub", reason="backbones come from keras-hub")
    tokenizers = pytest.importorskip("tokenizers")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    pieces = specials + WORDS + ["##s", "##a"]
    wordpiece = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(
            {t: i for i, t in enumerate(pieces)}, unk_token="[UNK]"
        )
    )
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tokenizer = ner.SubwordTokenizer(wordpiece, labels=LABELS, level="word")
    keras.utils.set_random_seed(2)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(pieces),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    model = ner.build_pretrained_tagger(
        backbone,
        len(LABELS),
        head=head,
        head_size=8,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        pad_id=tokenizer.pad_id,
    )
    return model, tokenizer


@pytest.mark.parametrize("head", ["efficient_global_pointer", "crf"])
def test_backbone_tagger_round_trip_with_its_tokenizer(head, tmp_path):
    model, tokenizer = _subword_tagger(head)
    sentences = [t for t, _ in TRAIN]
    # "Annas" is two pieces: spans still come back over words.
    texts = ["Annas flew to Leeds.", "Bob, New York!"]
    kwargs = dict(max_length=16, threshold=-1e3)
    before = ner.predict_subword_spans(model, tokenizer, sentences, **kwargs)
    ents_before = ner.predict_subword_entities(model, tokenizer, texts, **kwargs)
    if head != "crf":  # an untrained CRF may tag every word O
        assert any(before) and all(ents_before)
    data = ner.SubwordBatches(
        ner.index_spans(TRAIN, LABELS), tokenizer, len(LABELS), 16, 2
    )
    x, _ = data[0]
    outputs = keras.ops.convert_to_numpy(model.predict_on_batch(x))

    # A folder of the other kind first: saving replaces it whole.
    ner.save_tagger(tmp_path / "run", *_tagger("global_pointer"))
    model_path, tok_path = ner.save_tagger(tmp_path / "run", model, tokenizer)
    assert model_path == tmp_path / "run" / "model.keras"
    assert tok_path == tmp_path / "run" / "tokenizer"
    assert not (tmp_path / "run" / "vocab.json").exists()
    settings = json.loads((tok_path / "subword_tokenizer.json").read_text())
    assert settings["labels"] == LABELS and settings["level"] == "word"

    again, tok_again = ner.load_tagger(tmp_path / "run")
    assert isinstance(tok_again, ner.SubwordTokenizer)
    assert tok_again.get_config() == tokenizer.get_config()
    assert (tok_again.cls_id, tok_again.sep_id, tok_again.pad_id) == (2, 3, 0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again.predict_on_batch(x)),
        outputs,
        rtol=1e-5,
        atol=1e-5,
    )
    after = ner.predict_subword_spans(again, tok_again, sentences, **kwargs)
    assert [[s[:3] for s in p] for p in after] == [[s[:3] for s in p] for p in before]
    np.testing.assert_allclose(
        [s[3] for p in after for s in p], [s[3] for p in before for s in p], rtol=1e-4
    )
    ents_after = ner.predict_subword_entities(again, tok_again, texts, **kwargs)
    keys = ("type", "start", "end", "text", "first_word", "last_word")
    assert [[{k: e[k] for k in keys} for e in t] for t in ents_after] == [
        [{k: e[k] for k in keys} for e in t] for t in ents_before
    ]
    for text, ents in zip(texts, ents_after, strict=True):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in ents)

    # And back: a from-scratch tagger saved over it drops the tokenizer settings.
    ner.save_tagger(tmp_path / "run", *_tagger("global_pointer"))
    assert isinstance(ner.load_tagger(tmp_path / "run")[1], ner.Vocabulary)
