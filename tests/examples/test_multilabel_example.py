"""Smoke run of examples/multilabel_goemotions.py on real GoEmotions data (tiny settings)."""

import json

import numpy as np

from tests.conftest import DATA_DIR
from tests.conftest import load_example
from tests.conftest import requires_data


def test_helpers_f1_against_hand_count():
    ex = load_example("multilabel_goemotions")
    y = np.array([[1, 0, 1], [0, 1, 0]], bool)
    p = np.array([[1, 1, 0], [0, 1, 0]], bool)
    # label 0: tp1; label 1: tp1 fp1; label 2: fn1 -> micro 2*2/(4+1+1)
    micro, macro = ex.f1_scores(y, p)
    assert abs(micro - 4 / 6) < 1e-12
    assert abs(macro - np.mean([1.0, 2 / 3, 0.0])) < 1e-12


@requires_data("goemotions")
def test_multilabel_example_smoke(tmp_path):
    ex = load_example("multilabel_goemotions")
    out = tmp_path / "run"
    results = ex.main(
        [
            "--data-dir", str(DATA_DIR / "goemotions"),
            "--output-dir", str(out),
            "--max-train", "600", "--max-eval", "200",
            "--epochs", "1", "--batch-size", "100",
            "--vocab-size", "2000", "--embed-dim", "16", "--hidden", "16",
            "--verbose", "0",
        ]
    )  # fmt: skip
    saved = json.loads((out / "multilabel_goemotions.json").read_text())
    assert (out / "multilabel_goemotions_reliability.png").stat().st_size > 0
    assert "| ZLPR | sigmoid(2s) |" in (out / "multilabel_goemotions.md").read_text()
    assert [r["model"] for r in saved["f1"]] == ["ZLPR", "BCE"]
    for r in results["f1"]:
        for k in ("micro_f1@natural", "macro_f1@natural", "micro_f1@tuned"):
            assert 0.0 <= r[k] <= 1.0
    for r in results["calibration"]:
        assert 0.0 <= r["ece"] <= 1.0 and 0.0 <= r["brier"] <= 1.0


@requires_data("goemotions")
def test_multilabel_example_with_fgm_trains_one_classifier(tmp_path):
    ex = load_example("multilabel_goemotions")
    out = tmp_path / "fgm"
    results = ex.main(
        [
            "--data-dir", str(DATA_DIR / "goemotions"),
            "--output-dir", str(out),
            "--max-train", "300", "--max-eval", "100",
            "--epochs", "1", "--batch-size", "100",
            "--vocab-size", "1000", "--embed-dim", "8", "--hidden", "8",
            "--losses", "zlpr", "--adversarial", "fgm", "--adversarial-epsilon", "0.3",
            "--verbose", "0",
        ]
    )  # fmt: skip
    assert [r["model"] for r in results["f1"]] == ["ZLPR"]
    assert set(results["train_seconds"]) == {"zlpr"}
    assert results["args"]["adversarial"] == "fgm"
