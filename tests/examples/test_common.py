"""examples/_common.py: the reproducing command and the report files the examples write."""

import json
import sys

import _common
import keras

import keras_rdkl
from tests.conftest import ROOT


def test_run_info_names_the_command_from_the_repository_root(monkeypatch):
    script = str(ROOT / "examples" / "distill_global_pointer.py")
    info = _common.run_info(script, ["--seeds", "0"])
    assert info["command"] == (
        f"KERAS_BACKEND={keras.backend.backend()} python "
        "examples/distill_global_pointer.py --seeds 0"
    )
    assert info["versions"]["keras_rdkl"] == keras_rdkl.__version__
    assert info["versions"]["backend"] == keras.backend.backend()
    monkeypatch.setattr(sys, "argv", ["x.py", "--epochs", "2"])
    assert _common.run_info(script)["command"].endswith(
        "distill_global_pointer.py --epochs 2"
    )


def test_write_report_writes_json_and_markdown(tmp_path):
    info = _common.run_info(str(ROOT / "examples" / "x.py"), [])
    _common.write_report(tmp_path, "run", "A title", info, "| a |\n|---|", {"f1": 0.5})
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["f1"] == 0.5 and saved["command"] == info["command"]
    text = (tmp_path / "run.md").read_text()
    assert text.startswith("# A title\n\nCommand: `KERAS_BACKEND=")
    assert text.endswith("| a |\n|---|\n")


def test_the_library_has_no_example_helpers():
    assert not hasattr(keras_rdkl, "text")
    assert "text" not in keras_rdkl.__all__
