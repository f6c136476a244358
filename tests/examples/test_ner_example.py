"""Smoke run of examples/ner_global_pointer.py on real CLUENER data; the saved model reloads."""

import importlib.util
import json

import keras
import numpy as np
import pytest

from tests.conftest import DATA_DIR
from tests.conftest import ROOT
from tests.conftest import requires_data

SCRIPT = ROOT / "examples" / "ner_global_pointer.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("ner_global_pointer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = [
    "--max-train", "48", "--max-eval", "16", "--epochs", "1", "--steps-per-epoch", "2",
    "--batch-size", "16", "--hidden", "32", "--layers", "1", "--attention-heads", "2",
    "--head-size", "8", "--max-length", "16", "--time-budget", "0", "--verbose", "0",
]


def test_bad_flags_exit():
    example = _load_example()
    with pytest.raises(SystemExit):
        example.parse_args(["--head", "crf"])
    with pytest.raises(SystemExit):
        example.parse_args(["--rdrop-alpha", "-1"])
    with pytest.raises(ValueError, match="--dataset"):
        example.load_corpus("conll2003")


@requires_data("cluener2020")
def test_smoke_run_and_reload(tmp_path, monkeypatch):
    # One small run (R-Drop on, so the doubled pass and the KL are exercised);
    # the plain path (alpha 0) is the same model without the wrapper.
    head, alpha = "efficient_global_pointer", "1.0"
    monkeypatch.setenv("KERAS_RDKL_DATA", str(DATA_DIR))
    example = _load_example()
    out = tmp_path / "run"
    summary = example.main(
        TINY + ["--dataset", "cluener", "--head", head, "--rdrop-alpha", alpha,
                "--output-dir", str(out)]
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["backend"] == keras.backend.backend()
    assert saved["epochs_run"] == 1 and saved["train_sentences"] == 48
    assert "test" not in saved  # CLUENER's test split is unlabeled
    dev = saved["dev"]
    assert 0.0 <= dev["f1"] <= 1.0 and dev["gold"] > 0
    assert np.isfinite(dev["loss"])
    if alpha != "0":
        assert "kl" in saved["history"] and np.isfinite(saved["history"]["kl"][0])
    assert (out / "curves.png").stat().st_size > 0

    # The .keras file reloads (registered keras_rdkl layers) and predicts the same spans.
    labels = saved["labels"]
    ids = summary["inputs"]["dev"]
    before = example.predict_spans(summary["model"], ids, labels)
    reloaded = keras.saving.load_model(out / "model.keras", compile=False)
    after = example.predict_spans(reloaded, ids, labels)
    assert after == before
    # Same batch shape as above (one compiled function per model on JAX).
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded.predict(ids, batch_size=64, verbose=0)),
        keras.ops.convert_to_numpy(summary["model"].predict(ids, batch_size=64, verbose=0)),
        rtol=1e-5, atol=1e-4,
    )


@requires_data("cluener2020")
def test_grid_runner_writes_a_table_per_corpus(tmp_path):
    """examples/run_ner_grid.py: one row per (head, alpha), F1 and command as run."""
    spec = importlib.util.spec_from_file_location(
        "run_ner_grid", ROOT / "examples" / "run_ner_grid.py"
    )
    grid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid)
    extra = " ".join(TINY[: TINY.index("--time-budget")])  # the runner sets budget, verbosity
    grid.main([
        "--datasets", "cluener", "--heads", "efficient_global_pointer", "--alphas", "0", "1.0",
        "--seeds", "1", "--extra", extra, "--out", str(tmp_path), "--suffix", "_smoke",
    ])  # fmt: skip
    table = (tmp_path / "ner_cluener_smoke.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| efficient_global_pointer")]
    assert len(rows) == 2
    runs = sorted((tmp_path / "ner_runs").glob("*.json"))
    assert len(runs) == 2
    for path, row in zip(runs, rows, strict=True):
        summary = json.loads(path.read_text())
        assert summary["args"]["epochs"] == 1
        assert f"{summary['dev']['f1']:.4f} +- 0.0000" in row
