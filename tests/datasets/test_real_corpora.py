"""The real corpora in ../shared/data parse to the counts in their PROVENANCE.md."""

import collections

import pytest

from keras_rdkl import datasets
from tests.conftest import DATA_DIR
from tests.conftest import requires_data


def _count(examples):
    return (
        len(examples),
        sum(len(t) for t, _ in examples),
        sum(len(s) for _, s in examples),
    )


@requires_data("cluener2020")
@pytest.mark.parametrize(
    "split,records,mentions", [("train", 10748, 23971), ("dev", 1343, 3072)]
)
def test_cluener_counts(split, records, mentions):
    examples, labels = datasets.load_cluener(split, path=DATA_DIR / "cluener2020")
    n, _, m = _count(examples)
    assert (n, m) == (records, mentions)
    assert len(labels) == 10 and max(len(t) for t, _ in examples) == 50
    if split == "dev":
        per_type = collections.Counter(t for _, s in examples for t, _, _ in s)
        assert per_type["name"] == 465 and per_type["scene"] == 209


@requires_data("cluener2020")
def test_cluener_test_unlabeled():
    examples, labels = datasets.load_cluener("test", path=DATA_DIR / "cluener2020")
    assert (
        len(examples) == 1345 and all(not s for _, s in examples) and len(labels) == 10
    )


@requires_data("germeval2014_nested_ner")
@pytest.mark.parametrize(
    "split,sentences,tokens,outer,embedded",
    [("dev", 2200, 41653, 2674, 212), ("test", 5100, 96499, 6178, 515)],
)
def test_germeval_counts(split, sentences, tokens, outer, embedded):
    folder = DATA_DIR / "germeval2014_nested_ner"
    examples, labels = datasets.load_germeval(split, path=folder)
    assert _count(examples) == (sentences, tokens, outer + embedded)
    assert len(labels) == 12
    outer_only, _ = datasets.load_germeval(split, path=folder, nested=False)
    assert _count(outer_only)[2] == outer


@requires_data("wnut17")
@pytest.mark.parametrize(
    "split,sentences,tokens,entities,person",
    [
        ("train", 3394, 62730, 1975, 660),
        ("dev", 1009, 15733, 836, 470),
        ("test", 1287, 23394, 1079, 429),
    ],
)
def test_wnut17_counts(split, sentences, tokens, entities, person):
    examples, labels = datasets.load_wnut17(split, path=DATA_DIR / "wnut17")
    assert _count(examples) == (sentences, tokens, entities)
    assert sum(t == "person" for _, s in examples for t, _, _ in s) == person
    assert labels == sorted(labels) and len(labels) == 6


@requires_data("wnut17")
def test_wnut17_train_needs_no_repairs():
    from keras_rdkl.datasets.wnut17 import _FILES

    path = DATA_DIR / "wnut17" / _FILES["train"]
    _, _, stats = datasets.read_conll(path, return_stats=True)
    assert stats["repaired_sequences"] == 0 and stats["sentences"] == 3394


@requires_data("goemotions")
@pytest.mark.parametrize(
    "split,records,labels_total,one_label",
    [
        ("train", 43410, 51103, 36308),
        ("dev", 5426, 6380, 4548),
        ("test", 5427, 6329, 4590),
    ],
)
def test_goemotions_counts(split, records, labels_total, one_label):
    examples, labels = datasets.load_goemotions(split)  # found through $KERAS_RDKL_DATA
    assert len(examples) == records
    assert sum(len(ids) for _, ids in examples) == labels_total
    assert sum(len(ids) == 1 for _, ids in examples) == one_label
    assert labels == datasets.GOEMOTIONS_LABELS and labels[27] == "neutral"
    names = (
        (DATA_DIR / "goemotions" / "emotions.txt").read_text(encoding="utf-8").split()
    )
    assert names == labels
