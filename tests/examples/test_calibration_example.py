"""Smoke run of examples/calibration_gamma_ce.py on real GoEmotions data (tiny settings)."""

import json

import pytest

from tests.conftest import DATA_DIR
from tests.conftest import load_example
from tests.conftest import requires_data


def test_parse_settings():
    ex = load_example("calibration_gamma_ce")
    assert ex.parse_settings("0.1:0.3,0.5:0.2") == [(0.1, 0.3), (0.5, 0.2)]
    assert ex.parse_settings("") == []
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="gamma"):
        ex.parse_settings("0.1")
    with pytest.raises(argparse.ArgumentTypeError, match="gamma"):
        ex.parse_settings("1.5:0.1")


@requires_data("goemotions")
def test_calibration_example_smoke(tmp_path):
    ex = load_example("calibration_gamma_ce")
    out = tmp_path / "run"
    results = ex.main(
        [
            "--data-dir", str(DATA_DIR / "goemotions"),
            "--output-dir", str(out),
            "--max-train", "400", "--max-eval", "150",
            "--epochs", "1", "--batch-size", "100", "--seeds", "0",
            "--vocab-size", "1500", "--embed-dim", "16", "--hidden", "16",
            "--gamma-settings", "", "--schedule-target", "0.5",
        ]
    )  # fmt: skip
    saved = json.loads((out / "calibration.json").read_text())
    names = [s["config"] for s in saved["summary"]]
    assert names[0] == "CE" and len(names) == 2 and "scheduled" in names[1]
    assert (out / "calibration_reliability.png").stat().st_size > 0
    for s in results["summary"]:
        assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["ece"] <= 1.0 and s["nll"] > 0
    for r in results["runs"]:
        counts = r["reliability"]["count"]
        assert sum(counts) == pytest.approx(150)
