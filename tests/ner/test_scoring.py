"""entity_scores against hand-worked cases: nested, empty, per type."""

import pytest

from keras_rdkl import ner


def test_hand_worked_nested_and_per_type():
    # Sentence 1: gold PER(0,3) with nested LOC(2,3); predicted both plus a wrong LOC(0,0).
    # Sentence 2: gold ORG(1,1); predicted ORG(1,2) (boundary error).
    gold = [[("PER", 0, 3), ("LOC", 2, 3)], [("ORG", 1, 1)]]
    pred = [[("PER", 0, 3), ("LOC", 2, 3), ("LOC", 0, 0)], [("ORG", 1, 2)]]
    s = ner.entity_scores(gold, pred)
    # tp 2, predicted 4, gold 3: P 1/2, R 2/3, F1 = 2*2/(4+3) = 4/7.
    assert (s["tp"], s["predicted"], s["gold"]) == (2, 4, 3)
    assert s["precision"] == pytest.approx(0.5)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 7)
    per = s["per_type"]
    assert per["PER"]["f1"] == pytest.approx(1.0)
    assert per["LOC"]["precision"] == pytest.approx(0.5) and per["LOC"]["recall"] == 1.0
    assert per["LOC"]["f1"] == pytest.approx(2 / 3)
    assert per["ORG"] == dict(
        precision=0.0, recall=0.0, f1=0.0, tp=0, predicted=1, gold=1
    )


def test_empty_cases_are_zero_not_nan():
    s = ner.entity_scores([[], []], [[], []])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    s = ner.entity_scores([[(0, 1, 1)]], [[]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    s = ner.entity_scores([[]], [[(0, 1, 1)]])
    assert (s["precision"], s["f1"], s["predicted"]) == (0.0, 0.0, 1)


def test_integer_types_named_by_labels_scores_ignored_and_duplicates_once():
    gold = [[(0, 0, 0), (1, 2, 3)]]
    pred = [[(0, 0, 0, 4.2), (0, 0, 0, 4.2), (1, 2, 2, 0.5)]]
    s = ner.entity_scores(gold, pred, labels=["A", "B", "C"])
    assert list(s["per_type"]) == ["A", "B", "C"]
    assert s["per_type"]["A"]["f1"] == 1.0 and s["per_type"]["B"]["f1"] == 0.0
    assert s["per_type"]["C"]["gold"] == 0
    assert (s["tp"], s["predicted"], s["gold"]) == (1, 2, 2)
    assert "| **all** |" in ner.format_scores(s)


def test_corpus_level_not_batch_average():
    # Sentence-wise F1 would average 1.0 and 0.0; corpus F1 pools the counts.
    gold = [[(0, 0, 0)], [(0, 0, 0), (0, 1, 1), (0, 2, 2)]]
    pred = [[(0, 0, 0)], []]
    assert ner.entity_scores(gold, pred)["f1"] == pytest.approx(2 * 1 / (1 + 4))


def test_length_mismatch():
    with pytest.raises(ValueError, match="one entry per sentence"):
        ner.entity_scores([[]], [])
