"""Span taggers on a BERT (a tiny random Google-format checkpoint) and the example's --bert-dir."""

import json

import keras
import numpy as np
import pytest

pytest.importorskip("keras_hub", reason="the BERT backbone needs keras-hub")
pytest.importorskip("tokenizers", reason="the BERT tokenizer needs tokenizers")

from keras_rdkl import MASK_THRESHOLD  # noqa: E402
from keras_rdkl import ner  # noqa: E402
from keras_rdkl.compat.bert4keras import load_bert_dir  # noqa: E402
from keras_rdkl.models import RDropModel  # noqa: E402
from tests.compat import test_bert_port as port  # noqa: E402
from tests.conftest import DATA_DIR  # noqa: E402
from tests.conftest import load_example  # noqa: E402
from tests.conftest import requires_data  # noqa: E402
from tests.examples.test_ner_example import TINY  # noqa: E402


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert_dir")
    port._write(folder, port.WEIGHTS)
    vocab = [str(t) for t in port.DATA["vocab"]]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return folder


def test_vocabulary_maps_characters_to_bert_ids(bert_dir):
    tokenizer, _ = load_bert_dir(bert_dir)
    vocab = ner.bert_vocabulary(tokenizer, labels=["LOC"])
    ids = vocab.encode(list("我爱北京龘"))
    assert ids[:4] == tokenizer.tokens_to_ids(list("我爱北京"))
    assert ids[4] == tokenizer._token_unk_id  # not in the tiny vocabulary
    again = ner.Vocabulary(**vocab.get_config())
    assert again.encode(list("我爱北京龘")) == ids


@pytest.mark.parametrize("head", ["global_pointer", "crf"])
def test_bert_tagger_matches_bert_with_cls_sep_and_reloads(bert_dir, tmp_path, head):
    tokenizer, bert = load_bert_dir(bert_dir)
    cls_id, sep_id = tokenizer._token_start_id, tokenizer._token_end_id
    tagger = ner.build_bert_tagger(
        bert, 2, cls_id, sep_id, head=head, head_size=8, dropout=0.0
    )
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 0, 0, 0, 0]], "int32")
    out = keras.ops.convert_to_numpy(tagger.predict_on_batch(ids))
    # The BERT sees [CLS] tokens [SEP] (segments 0); the head sees positions 1..L.
    full = np.array(
        [[cls_id, 5, 6, 7, 8, sep_id, 0, 0], [cls_id, 9, 10, sep_id, 0, 0, 0, 0]]
    )
    hidden = bert([full, np.zeros_like(full)])[:, 1:-1]
    mask = ids != 0
    if head == "crf":
        emissions = tagger.get_layer("crf_emissions")(hidden)
        expected = tagger.get_layer("crf")(emissions, mask=mask)
    else:
        expected = tagger.get_layer("global_pointer")(hidden, mask=mask)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(expected), atol=1e-5)
    # Padding does not reach the tokens: the first row alone gives its scores.
    alone = keras.ops.convert_to_numpy(tagger.predict_on_batch(ids[:1, :4]))
    if head == "crf":
        assert out.shape == (2, 6, 5)
        np.testing.assert_allclose(out[0, :4], alone[0], atol=1e-4)
        assert np.all(out[1, 2:] <= MASK_THRESHOLD)
    else:
        assert out.shape == (2, 2, 6, 6)
        np.testing.assert_allclose(out[0, :, :4, :4], alone[0], atol=1e-4)
        assert np.all(out[1, :, 2:, :] <= MASK_THRESHOLD)
    path = tmp_path / "bert_tagger.keras"
    tagger.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded.predict_on_batch(ids)), out, atol=1e-4
    )


def test_bert_tagger_trains_with_rdrop(bert_dir):
    tokenizer, bert = load_bert_dir(bert_dir)
    tagger = ner.build_bert_tagger(
        bert, 2, tokenizer._token_start_id, tokenizer._token_end_id, head_size=8
    )
    model = RDropModel(tagger, alpha=1.0, kl="sigmoid")
    model.compile(keras.optimizers.Adam(1e-3), loss=ner.tagger_loss(tagger))
    examples = [(list("我爱北京"), [(0, 2, 3)]), (list("天安门"), [(1, 0, 2)])] * 4
    vocab = ner.bert_vocabulary(tokenizer, labels=["LOC", "ORG"])
    data = ner.SpanBatches(examples, vocab, 2, batch_size=4)
    history = model.fit(data, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


@requires_data("cluener2020")
def test_example_bert_dir_smoke_run(bert_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_RDKL_DATA", str(DATA_DIR))
    example = load_example("ner_global_pointer")
    out = tmp_path / "run"
    args = [a for a in TINY]
    args[args.index("--hidden") : args.index("--hidden") + 2] = []
    example.main(
        args
        + ["--dataset", "cluener", "--bert-dir", str(bert_dir), "--max-length", "60"]
        + ["--learning-rate", "1e-3", "--output-dir", str(out)]
    )
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("dev F1 = ")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["encoder"] == "bert" and saved["vocab_size"] == 102
    model, vocab = ner.load_tagger(out)
    assert vocab.unk_token == "[UNK]"
    ents = ner.predict_entities(model, vocab, "我爱北京天安门。")
    assert isinstance(ents, list)
    with pytest.raises(ValueError, match="character-level"):
        example.main(
            TINY
            + ["--dataset", "wnut17", "--bert-dir", str(bert_dir)]
            + ["--output-dir", str(tmp_path / "w")]
        )
