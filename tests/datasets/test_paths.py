"""Where loaders find files: path, $KERAS_RDKL_DATA, shared folder, Keras cache, download."""

import json

import pytest

from keras_rdkl.datasets import _paths
from keras_rdkl.datasets import load_cluener
from keras_rdkl.datasets import load_wnut17


def _cluener_dir(root, text):
    d = root / "cluener2020"
    d.mkdir(parents=True)
    (d / "dev.json").write_text(json.dumps({"text": text, "label": {}}), encoding="utf-8")
    return d


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, an empty shared folder and Keras cache, and no network."""
    monkeypatch.delenv(_paths.ENV_VAR, raising=False)
    monkeypatch.setattr(_paths, "SHARED_DATA_DIR", tmp_path / "shared")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    calls = []

    def offline(**kwargs):
        calls.append(kwargs)
        raise OSError("network is unreachable")

    monkeypatch.setattr(_paths.keras.utils, "get_file", offline)
    return tmp_path, calls


def _text(examples):
    return "".join(examples[0][0])


def test_resolution_order(isolated, monkeypatch):
    tmp, calls = isolated
    cache = tmp / "keras_home" / "datasets" / "keras_rdkl"
    _cluener_dir(cache, "cache")
    assert _text(load_cluener("dev")[0]) == "cache"
    _cluener_dir(tmp / "shared", "shared")
    assert _text(load_cluener("dev")[0]) == "shared"
    _cluener_dir(tmp / "env", "env")
    monkeypatch.setenv(_paths.ENV_VAR, str(tmp / "env"))
    assert _text(load_cluener("dev")[0]) == "env"
    explicit = _cluener_dir(tmp / "explicit", "explicit")
    assert _text(load_cluener("dev", path=explicit)[0]) == "explicit"
    assert _text(load_cluener("dev", path=explicit / "dev.json")[0]) == "explicit"
    assert calls == []


def test_download_when_missing(isolated, monkeypatch):
    tmp, _ = isolated
    seen = {}

    def fake_get_file(fname, origin, file_hash, cache_subdir, cache_dir):
        seen.update(fname=fname, origin=origin, file_hash=file_hash)
        d = tmp / "dl"
        d.mkdir(exist_ok=True)
        (d / fname).write_text("w\tB-person\n", encoding="utf-8")
        return str(d / fname)

    monkeypatch.setattr(_paths.keras.utils, "get_file", fake_get_file)
    examples, labels = load_wnut17("test")
    assert examples == [(["w"], [("person", 0, 0)])]
    assert seen["fname"] == "emerging.test.annotated"
    assert seen["origin"].startswith("https://") and seen["origin"].endswith(seen["fname"])
    assert len(seen["file_hash"]) == 64


def test_offline_message_says_where(isolated, monkeypatch):
    tmp, calls = isolated
    monkeypatch.setenv(_paths.ENV_VAR, str(tmp / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_cluener("train")
    msg = str(info.value)
    assert len(calls) == 1
    assert "KERAS_RDKL_DATA" in msg and "train.json" in msg
    assert str(tmp / "env" / "cluener2020" / "train.json") in msg
    assert str(tmp / "shared" / "cluener2020") in msg


def test_explicit_path_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        load_cluener("dev", path=tmp_path / "nowhere")
