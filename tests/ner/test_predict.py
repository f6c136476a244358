"""predict_spans over windows and predict_entities' character offsets."""

from keras_rdkl import ner


def _tagger():
    vocab = ner.Vocabulary.build([list("abcdef")], labels=["X", "Y"], level="char")
    model = ner.build_span_tagger(
        len(vocab), 2, encoder="idcnn", embedding_dim=4, hidden=4, head_size=4
    )
    return model, vocab


def test_predict_spans_windows_keep_sentence_positions():
    model, vocab = _tagger()
    examples = [(list("abcdefabcdef"), []), ([], []), (list("ab"), [])]
    spans = ner.predict_spans(model, examples, vocab, 2, max_length=5, threshold=-1e3)
    assert len(spans) == 3 and spans[1] == []
    # Every span lies inside one window of the 12-token sentence: [0, 5), [5, 10), [10, 12).
    for _, s, e, _ in spans[0]:
        assert s // 5 == e // 5 and 0 <= s <= e < 12
    assert {(s, e) for _, s, e, _ in spans[0]} >= {(0, 4), (5, 9), (10, 11)}
    assert {(s, e) for _, s, e, _ in spans[2]} == {(0, 0), (0, 1), (1, 1)}


def test_predict_entities_character_offsets():
    model, vocab = _tagger()
    texts = ["ab cd", ""]
    ents = ner.predict_entities(model, vocab, texts, threshold=-1e3)
    assert ents[1] == []
    assert {(e["start"], e["end"]) for e in ents[0]} >= {(0, 1), (3, 5), (0, 5)}
    for e in ents[0]:
        assert texts[0][e["start"] : e["end"]] == e["text"] and e["type"] in ("X", "Y")
    single = ner.predict_entities(model, vocab, "ab", threshold=-1e3)
    assert isinstance(single, list) and all(isinstance(e, dict) for e in single)
    assert ner.tokenize("Hi, Bob!", level="word")[0] == ["Hi", ",", "Bob", "!"]
