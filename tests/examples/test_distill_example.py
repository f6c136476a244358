"""Smoke run of examples/distill_global_pointer.py on real CLUENER data (tiny settings)."""

import json

import pytest

from tests.conftest import DATA_DIR
from tests.conftest import load_example
from tests.conftest import requires_data


@requires_data("cluener2020")
def test_distill_example_smoke(tmp_path):
    ex = load_example("distill_global_pointer")
    out = tmp_path / "run"
    teacher_path = tmp_path / "teacher.keras"
    args = [
            "--data-dir", str(DATA_DIR / "cluener2020"),
            "--output-dir", str(out), "--seeds", "0", "1",
            "--max-train", "64", "--max-eval", "32", "--max-len", "24",
            "--teacher-epochs", "1", "--student-epochs", "1", "--batch-size", "32",
            "--teacher-hidden", "16", "--teacher-layers", "1", "--student-hidden", "8",
            "--verbose", "0",
    ]  # fmt: skip
    results = ex.main(args + ["--teacher-path", str(teacher_path)])
    assert teacher_path.exists()
    saved = json.loads((out / "distill_global_pointer.json").read_text())
    names = [r["model"] for r in saved["rows"]]
    assert names == [
        "teacher",
        "student alone",
        "student distilled (zlpr)",
        "student distilled (sigmoid)",
    ]
    rows = {r["model"]: r for r in results["rows"]}
    for d in ("zlpr", "sigmoid"):
        assert (
            rows["student alone"]["params"]
            == rows[f"student distilled ({d})"]["params"]
        )
    assert rows["teacher"]["params"] > rows["student alone"]["params"]
    for r in results["rows"]:
        assert 0.0 <= r["f1"] <= 1.0
    for r in results["rows"][1:]:
        assert len(r["runs"]) == 2  # one per seed
        assert r["f1"] == pytest.approx(sum(x["f1"] for x in r["runs"]) / 2)
    # A second run loads the saved teacher: the same teacher F1.
    again = ex.main(
        args
        + ["--seeds", "0", "--divergences", "zlpr", "--teacher-path", str(teacher_path)]
    )
    assert again["rows"][0]["f1"] == pytest.approx(results["rows"][0]["f1"], abs=1e-6)


def test_char_ids_most_frequent_first_padded_and_cut():
    # What keras_rdkl.text.build_vocab / encode_tokens gave before the example
    # took keras_rdkl.ner.Vocabulary: 0 padding, 1 unknown, then by count
    # (ties by character), rows padded with 0 and cut at the length.
    ex = load_example("distill_global_pointer")
    vocab = ex.Vocabulary.build([list("abca"), list("cb")])
    assert vocab.tokens == ["[PAD]", "[UNK]", "a", "b", "c"]
    x = ex.encode([list("abz"), list("cbaab")], vocab, 4)
    assert x.dtype == "int32"
    assert x.tolist() == [[2, 3, 1, 0], [4, 3, 2, 2]]
