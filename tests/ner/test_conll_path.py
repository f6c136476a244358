"""`--dataset conll:...` edge cases on fixture files written here: CRLF, long sentences, bad tags."""

import keras
import numpy as np
import pytest

from keras_rdkl import ner
from tests.conftest import load_example


def _write(path, sentences, newline="\n"):
    lines = []
    for sent in sentences:
        lines += [f"{tok} {tag}" for tok, tag in sent] + [""]
    path.write_bytes(newline.join(lines).encode("utf-8"))
    return path


LONG = [(f"w{i}", "O") for i in range(12)]
LONG[3], LONG[4], LONG[5] = ("Anna", "B-PER"), ("Maria", "I-PER"), ("Schmidt", "I-PER")
LONG[9], LONG[10] = ("New", "B-LOC"), ("York", "I-LOC")
SHORT = [("in", "O"), ("Berlin", "B-LOC")]


def test_crlf_file_reads_like_lf(tmp_path):
    example = load_example("ner_global_pointer")
    lf = example.load_corpus(f"conll:{_write(tmp_path / 'lf.txt', [LONG, SHORT])}")
    crlf = example.load_corpus(
        f"conll:{_write(tmp_path / 'crlf.txt', [LONG, SHORT], newline=chr(13) + chr(10))}"
    )
    assert crlf["train"] + crlf["dev"] == lf["train"] + lf["dev"]
    tokens = [t for t, _ in crlf["train"] + crlf["dev"]]
    assert all(not tok.endswith("\r") for sent in tokens for tok in sent)
    assert crlf["labels"] == ["LOC", "PER"]


def test_long_sentences_become_windows_with_counts(tmp_path):
    example = load_example("ner_global_pointer")
    path = _write(tmp_path / "train.txt", [LONG, SHORT])
    corpus = example.load_corpus(f"conll:{path},{path}")
    examples = ner.index_spans(corpus["train"], corpus["labels"])
    windows, origins, stats = ner.split_windows(examples, max_length=5)
    assert stats["split_sentences"] == 1 and stats["cut_spans"] == 0
    assert all(len(t) <= 5 for t, _ in windows)
    merged = ner.merge_windows([s for _, s in windows], origins, len(examples))
    assert merged == [
        sorted(s, key=lambda sp: (sp[1], sp[2], sp[0])) for _, s in examples
    ]
    # A span longer than the window is cut, and counted.
    _, _, stats = ner.split_windows(examples, max_length=2)
    assert stats["cut_spans"] == 1


def test_repairs_counted_when_the_reader_reports_them(tmp_path):
    example = load_example("ner_global_pointer")
    bad = [("a", "O"), ("b", "I-PER"), ("c", "O")]
    path = _write(tmp_path / "bad.txt", [bad, SHORT])
    corpus = example.load_corpus(f"conll:{path},{path}")
    # conlleval reads an I- after O as the start of an entity.
    assert ("PER", 1, 1) in corpus["train"][0][1] + corpus["dev"][0][1] or (
        ("PER", 1, 1) in corpus["dev"][0][1]
    )
    if corpus["repairs"] is not None:  # read_conll(return_stats=True) is available
        counts = corpus["repairs"][str(path)]
        assert counts["repaired_sequences"] == 1


def test_unknown_tag_is_a_clear_error(tmp_path):
    example = load_example("ner_global_pointer")
    path = _write(tmp_path / "odd.txt", [[("a", "X-PER")]])
    with pytest.raises(ValueError, match="odd.txt"):
        example.load_corpus(f"conll:{path}")


def test_bad_dataset_spec():
    example = load_example("ner_global_pointer")
    with pytest.raises(ValueError, match="--dataset"):
        example.load_corpus("conll2003")
    with pytest.raises(ValueError, match="TRAIN"):
        example.load_corpus("conll:a,b,c,d")


def test_train_on_dev_moves_the_first_share_and_keeps_the_rest(tmp_path):
    example = load_example("ner_global_pointer")
    dev_sents = [[(f"d{i}", "O"), ("Paris", "B-LOC")] for i in range(10)]
    train = _write(tmp_path / "train.txt", [LONG, SHORT])
    dev = _write(tmp_path / "dev.txt", dev_sents)
    corpus = example.load_corpus(f"conll:{train},{dev},{train}")
    moved = example.add_dev_to_train(corpus, 0.7)
    assert moved["train"] == corpus["train"] + corpus["dev"][:7]
    assert moved["dev"] == corpus["dev"][7:] and moved["test"] == corpus["test"]
    assert "first 7 dev sentences" in moved["notes"] and "other 3" in moved["notes"]
    assert len(corpus["train"]) == 2  # the input is left as it was

    with pytest.raises(ValueError, match="test split"):
        example.add_dev_to_train(example.load_corpus(f"conll:{train},{dev}"), 0.5)
    with pytest.raises(ValueError, match="one must stay"):
        example.add_dev_to_train(corpus, 0.99)
    with pytest.raises(SystemExit):
        example.parse_args(["--train-on-dev", "1"])


def test_train_on_dev_end_to_end(tmp_path):
    example = load_example("ner_global_pointer")
    sents = [[(f"w{i}", "O"), ("Berlin", "B-LOC"), ("Anna", "B-PER")] for i in range(8)]
    train = _write(tmp_path / "train.txt", sents)
    dev = _write(tmp_path / "dev.txt", sents[:4])
    summary = example.main(
        [
            "--dataset",
            f"conll:{train},{dev},{train}",
            "--train-on-dev",
            "0.5",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--hidden",
            "8",
            "--embedding-dim",
            "8",
            "--verbose",
            "0",
            "--output-dir",
            str(tmp_path / "run"),
        ]
    )
    assert summary["train_sentences"] == 10 and summary["dev"]["gold"] == 4
    assert "first 2 dev sentences" in summary["notes"]
    assert summary["args"]["train_on_dev"] == 0.5 and summary["test"]["gold"] == 16


def test_word_vectors_join_the_vocabulary_and_stay_frozen(tmp_path, capsys):
    example = load_example("ner_global_pointer")
    sents = [[(f"w{i}", "O"), ("Berlin", "B-LOC"), ("Anna", "B-PER")] for i in range(6)]
    train = _write(tmp_path / "train.txt", sents)
    ner.save_word_vectors(
        tmp_path / "v.txt",
        ["berlin", "hamburg", "w0", "anna"],
        np.arange(4 * 6, dtype="float32").reshape(4, 6) / 10.0,
    )
    summary = example.main(
        [
            "--dataset",
            f"conll:{train},{train}",
            "--word-vectors",
            str(tmp_path / "v.txt"),
        ]
        + ["--freeze-embeddings", "--epochs", "1", "--batch-size", "4", "--hidden", "8"]
        + ["--verbose", "0", "--output-dir", str(tmp_path / "run")]
    )
    assert "word vectors" in capsys.readouterr().out
    vocab = summary["vocab"]
    # Case kept (CoNLL files); "hamburg" was never seen in training but has an id.
    assert (
        vocab.encode(["hamburg"]) != [vocab.unk_id]
        and len(vocab) == summary["vocab_size"]
    )
    layer = summary["model"].get_layer("token_embedding")
    assert layer.output_dim == 6 and not layer.trainable
    start = ner.embedding_matrix(
        vocab, *ner.load_word_vectors(tmp_path / "v.txt"), seed=1
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.embeddings), start
    )  # frozen through training
    model, again = ner.load_tagger(tmp_path / "run")
    assert again.tokens == vocab.tokens
    with pytest.raises(SystemExit):
        example.parse_args(["--freeze-embeddings"])
    with pytest.raises(SystemExit):
        example.parse_args(["--word-vectors", "v.txt", "--embedding-dim", "0"])


def test_word_shapes_token_dropout_and_gazetteer_flags(tmp_path, capsys):
    example = load_example("ner_global_pointer")
    sents = [
        [(f"w{i}", "O"), ("Berlin", "B-LOC"), ("@anna", "B-PER")] for i in range(6)
    ]
    train = _write(tmp_path / "train.txt", sents)
    lists = tmp_path / "lists.json"
    lists.write_text('{"city": ["Berlin"], "first_name": ["Anna"]}')
    summary = example.main(
        ["--dataset", f"conll:{train},{train}", "--word-shapes", "on"]
        + ["--token-dropout", "0.25", "--gazetteer", str(lists)]
        + ["--epochs", "1", "--batch-size", "4", "--hidden", "8"]
        + ["--embedding-dim", "8", "--verbose", "0"]
        + ["--output-dir", str(tmp_path / "run")]
    )
    assert "+ word shapes + gazetteer (city, first_name)" in capsys.readouterr().out
    assert summary["vocab"].shapes
    assert "shape_ids" in {t.name.split(":")[0] for t in summary["model"].inputs}
    assert summary["model"].get_layer("token_dropout").rate == 0.25
    assert summary["vocab"].num_gazetteer_features == 4
    assert "gazetteer" in {t.name.split(":")[0] for t in summary["model"].inputs}
    model, vocab = ner.load_tagger(tmp_path / "run")
    assert vocab.shapes and vocab.gazetteer.names == ["city", "first_name"]
    tokens = [[t for t, _ in s] for s in sents[:2]]
    before = ner.predict_spans(summary["model"], tokens, vocab, 2)
    after = ner.predict_spans(model, tokens, vocab, 2)
    assert [[s[:3] for s in p] for p in after] == [[s[:3] for s in p] for p in before]
    with pytest.raises(SystemExit):
        example.parse_args(["--word-shapes", "on", "--bert-dir", "some/bert"])
    for bad in (
        ["--token-dropout", "1"],
        ["--token-dropout", "0.1", "--bert-dir", "b"],
    ):
        with pytest.raises(SystemExit):
            example.parse_args(bad)


def test_split_marks_applies_to_every_split_with_counts(tmp_path):
    example = load_example("ner_global_pointer")
    train = _write(tmp_path / "train.txt", [[("RT", "O"), ("@anna", "B-PER")], SHORT])
    test = _write(tmp_path / "test.txt", [[("#paris", "B-LOC"), ("@", "O")]])
    corpus = example.load_corpus(f"conll:{train},{train},{test}")
    out = example.split_corpus_marks(corpus, "@#")
    assert out["train"][0] == (["RT", "@", "anna"], [("PER", 2, 2)])
    assert out["test"][0] == (["#", "paris", "@"], [("LOC", 1, 1)])
    assert "train 1, dev 1, test 1" in out["notes"]
    assert example.parse_args(["--split-marks", "@#"]).split_marks == "@#"
