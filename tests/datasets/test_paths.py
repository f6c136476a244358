"""Where loaders find files: path, $KERAS_RDKL_DATA, Keras cache, download (never real)."""

import json

import pytest

from keras_rdkl.datasets import _paths
from keras_rdkl.datasets import load_cluener
from keras_rdkl.datasets import load_goemotions
from keras_rdkl.datasets import load_wnut17


def _cluener_dir(root, text):
    d = root / "cluener2020"
    d.mkdir(parents=True)
    (d / "dev.json").write_text(
        json.dumps({"text": text, "label": {}}), encoding="utf-8"
    )
    return d


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, an empty Keras cache, and no network (get_file is mocked)."""
    monkeypatch.delenv(_paths.ENV_VAR, raising=False)
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
    _cluener_dir(tmp / "env", "env")
    monkeypatch.setenv(_paths.ENV_VAR, str(tmp / "env"))
    assert _text(load_cluener("dev")[0]) == "env"
    explicit = _cluener_dir(tmp / "explicit", "explicit")
    assert _text(load_cluener("dev", path=explicit)[0]) == "explicit"
    assert _text(load_cluener("dev", path=explicit / "dev.json")[0]) == "explicit"
    assert calls == []


def test_env_var_folder_without_the_file_falls_through(isolated, monkeypatch):
    tmp, calls = isolated
    (tmp / "env" / "cluener2020").mkdir(parents=True)  # folder, but no dev.json
    monkeypatch.setenv(_paths.ENV_VAR, str(tmp / "env"))
    _cluener_dir(tmp / "keras_home" / "datasets" / "keras_rdkl", "cache")
    assert _text(load_cluener("dev")[0]) == "cache"
    assert calls == []


def test_no_repository_relative_folder(isolated):
    # Only the env var and the Keras cache are searched: nothing relative to
    # where the package is installed.
    tmp, _ = isolated
    dirs = _paths.candidate_dirs("cluener2020")
    assert dirs == [tmp / "keras_home" / "datasets" / "keras_rdkl" / "cluener2020"]
    assert not hasattr(_paths, "SHARED_DATA_DIR")


def test_keras_home_default(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _paths.cache_dir("wnut17") == (
        tmp_path / ".keras" / "datasets" / "keras_rdkl" / "wnut17"
    )


@pytest.mark.parametrize(
    "loader,split,fname",
    [
        (load_wnut17, "test", "emerging.test.annotated"),
        (load_goemotions, "dev", "dev.tsv"),
        (load_cluener, "train", "train.json"),
    ],
)
def test_download_when_missing(isolated, monkeypatch, loader, split, fname):
    tmp, _ = isolated
    seen = {}
    content = {
        "emerging.test.annotated": "w\tB-person\n",
        "dev.tsv": "hi\t15\tid\n",
        "train.json": '{"text": "w", "label": {}}\n',
    }

    def fake_get_file(fname, origin, file_hash, cache_subdir, cache_dir):
        seen.update(fname=fname, origin=origin, file_hash=file_hash)
        seen.update(cache_subdir=cache_subdir, cache_dir=cache_dir)
        d = tmp / "dl"
        d.mkdir(exist_ok=True)
        (d / fname).write_text(content[fname], encoding="utf-8")
        return str(d / fname)

    monkeypatch.setattr(_paths.keras.utils, "get_file", fake_get_file)
    examples, _ = loader(split)
    assert len(examples) == 1
    assert seen["fname"] == fname
    assert seen["origin"].startswith("https://") and seen["origin"].endswith(fname)
    assert len(seen["file_hash"]) == 64
    assert seen["cache_dir"] == str(tmp / "keras_home")
    assert seen["cache_subdir"].replace("\\", "/").startswith("datasets/keras_rdkl/")


def test_offline_message_says_where(isolated, monkeypatch):
    tmp, calls = isolated
    monkeypatch.setenv(_paths.ENV_VAR, str(tmp / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_cluener("train")
    msg = str(info.value)
    assert len(calls) == 1
    assert "KERAS_RDKL_DATA" in msg and "train.json" in msg and "path=" in msg
    assert str(tmp / "env" / "cluener2020" / "train.json") in msg
    assert str(tmp / "keras_home" / "datasets" / "keras_rdkl" / "cluener2020") in msg
    assert "network is unreachable" in msg


def test_explicit_path_missing(isolated):
    tmp, calls = isolated
    with pytest.raises(FileNotFoundError, match="path"):
        load_cluener("dev", path=tmp / "nowhere")
    assert calls == []  # an explicit path never falls back to a download


def test_suite_never_downloads(tmp_path, monkeypatch):
    # tests/conftest.py replaces keras.utils.get_file for every test.
    monkeypatch.setenv(_paths.ENV_VAR, str(tmp_path / "empty"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with pytest.raises(FileNotFoundError, match="tests do not download"):
        load_wnut17("dev")
