"""`--dataset conll:...` edge cases on fixture files written here: CRLF, long sentences, bad tags."""

import importlib.util

import pytest

from keras_rdkl import ner
from tests.conftest import ROOT


def _example():
    spec = importlib.util.spec_from_file_location(
        "ner_global_pointer", ROOT / "examples" / "ner_global_pointer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    example = _example()
    lf = example.load_corpus(f"conll:{_write(tmp_path / 'lf.txt', [LONG, SHORT])}")
    crlf = example.load_corpus(
        f"conll:{_write(tmp_path / 'crlf.txt', [LONG, SHORT], newline=chr(13) + chr(10))}"
    )
    assert crlf["train"] + crlf["dev"] == lf["train"] + lf["dev"]
    tokens = [t for t, _ in crlf["train"] + crlf["dev"]]
    assert all(not tok.endswith("\r") for sent in tokens for tok in sent)
    assert crlf["labels"] == ["LOC", "PER"]


def test_long_sentences_become_windows_with_counts(tmp_path):
    example = _example()
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
    example = _example()
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
    example = _example()
    path = _write(tmp_path / "odd.txt", [[("a", "X-PER")]])
    with pytest.raises(ValueError, match="odd.txt"):
        example.load_corpus(f"conll:{path}")


def test_bad_dataset_spec():
    example = _example()
    with pytest.raises(ValueError, match="--dataset"):
        example.load_corpus("conll2003")
    with pytest.raises(ValueError, match="TRAIN"):
        example.load_corpus("conll:a,b,c,d")
