"""The CRF head of build_span_tagger on every backend: tags <-> spans, batches, fit, decode, reload."""

import itertools

import keras
import numpy as np
import pytest

from keras_rdkl import MASK_THRESHOLD
from keras_rdkl import ner
from keras_rdkl.losses import CRFLoss
from keras_rdkl.models import RDropModel
from keras_rdkl.ner import tagging
from keras_rdkl.viterbi import tag_names

IDS = np.array([[5, 6, 7, 8, 0, 0], [3, 4, 0, 0, 0, 0]], "int32")


def _tiny_crf(num_types=2, dropout=0.0):
    return ner.build_span_tagger(
        20,
        num_types,
        encoder="idcnn",
        head="crf",
        embedding_dim=8,
        hidden=8,
        dropout=dropout,
        encoder_kwargs={"dilations": (1,)},
    )


def test_tag_ids_round_trip_every_flat_layout():
    # Every set of non-overlapping spans over 4 tokens and 2 types survives
    # spans -> BIO ids -> spans; the ids follow viterbi.tag_names' order.
    cells = [(t, s, e) for t in range(2) for s in range(4) for e in range(s, 4)]
    n = 0
    for k in range(3):
        for spans in itertools.combinations(cells, k):
            used = [i for _, s, e in spans for i in range(s, e + 1)]
            if len(used) != len(set(used)):
                continue
            ids = tagging.spans_to_tag_ids(spans, 4)
            assert tagging.tag_ids_to_spans(ids) == sorted(
                spans, key=lambda sp: (sp[1], sp[2])
            )
            n += 1
    assert n > 40
    assert tag_names(["0", "1"])[3] == "B-1"
    assert tagging.spans_to_tag_ids([(1, 0, 0)], 1).tolist() == [3]
    assert tagging.num_crf_tags(3) == 7


def test_ill_formed_ids_read_as_conlleval():
    # I without B starts an entity; a B of another type ends the open one.
    assert tagging.tag_ids_to_spans([0, 2, 2, 3, 4]) == [(0, 1, 2), (1, 3, 4)]


def test_flatten_keeps_outermost_and_counts():
    kept, dropped = tagging.flatten_spans([(1, 2, 2), (0, 0, 3), (1, 4, 5), (0, 5, 5)])
    assert kept == [(0, 0, 3), (1, 4, 5)]
    assert dropped == 2


def test_batches_give_tag_ids_and_count_dropped_nested_spans():
    vocab = ner.Vocabulary.build([list("abcdef")])
    examples = [(list("abcd"), [(0, 0, 3), (1, 1, 1)]), (list("ab"), [(1, 0, 1)])]
    data = ner.SpanBatches(examples, vocab, 2, batch_size=2, targets="tags")
    x, y = data[0]
    assert data.dropped_spans == 1
    assert y.dtype == np.int32 and y.shape == x.shape == (2, 8)
    rows = {tuple(r[:4]) for r in y.tolist()}
    assert rows == {(1, 2, 2, 2), (3, 4, 0, 0)}
    with pytest.raises(ValueError, match="targets"):
        ner.SpanBatches(examples, vocab, 2, targets="bio")


def test_crf_head_shapes_masks_loss_and_reload(tmp_path):
    model = _tiny_crf()
    assert ner.target_kind(model) == "tags"
    assert isinstance(ner.tagger_loss(model), CRFLoss)
    assert ner.find_crf(model) is model.get_layer("crf")
    emissions = keras.ops.convert_to_numpy(model.predict_on_batch(IDS))
    assert emissions.shape == (2, 6, 5)
    pad = IDS == 0
    assert np.all(emissions[pad] <= MASK_THRESHOLD)
    assert np.all(np.isfinite(emissions[~pad])) and np.all(emissions[~pad] > -1e3)
    path = tmp_path / "crf.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded.predict_on_batch(IDS)), emissions, 1e-5
    )
    crf = ner.find_crf(reloaded)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(crf.transitions),
        keras.ops.convert_to_numpy(ner.find_crf(model).transitions),
    )
    assert crf.start_tags == [0, 1, 3]  # never I- first


def test_crf_tagger_learns_and_predicts_spans():
    # Type 0 spans every "a b" pair, type 1 every "c": the tagger learns it
    # and predict_spans decodes its constrained Viterbi paths back to spans.
    rng = np.random.default_rng(0)
    words = ["a b", "c", "d", "e"]
    examples = []
    for _ in range(64):
        toks, spans = [], []
        for w in rng.choice(words, size=rng.integers(2, 6)):
            parts = w.split()
            if w == "a b":
                spans.append((0, len(toks), len(toks) + 1))
            elif w == "c":
                spans.append((1, len(toks), len(toks)))
            toks.extend(parts)
        examples.append((toks, spans))
    vocab = ner.Vocabulary.build([t for t, _ in examples])
    model = ner.build_span_tagger(
        len(vocab), 2, encoder="bilstm", head="crf", embedding_dim=16, hidden=16
    )
    model.compile(keras.optimizers.Adam(0.05), loss=ner.tagger_loss(model))
    data = ner.SpanBatches(examples, vocab, 2, batch_size=16, targets="tags")
    model.fit(data, epochs=15, verbose=0)
    pred = ner.predict_spans(model, examples[:16], vocab, 2)
    gold = [s for _, s in examples[:16]]
    assert [[sp[:3] for sp in p] for p in pred] == gold
    assert all(np.isfinite(sp[3]) for p in pred for sp in p)
    scores = ner.entity_scores(gold, pred, ["x", "y"])
    assert scores["f1"] == 1.0


def test_rdrop_around_crf_tagger_fits():
    model = _tiny_crf(dropout=0.2)
    rdrop = RDropModel(model, alpha=1.0, kl="softmax")
    rdrop.compile("adam", loss=ner.tagger_loss(model))
    y = np.array([[1, 2, 0, 3, 0, 0], [3, 0, 0, 0, 0, 0]], "int32")
    history = rdrop.fit(IDS, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.all(np.isfinite(history.history["kl"]))
    assert history.history["kl"][-1] > 0
