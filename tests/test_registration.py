"""Registered names: one object per `package>Name`, and the two padding masks reload as themselves."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_rdkl import ner
from keras_rdkl.compat import _bert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in a fresh interpreter: every `register_keras_serializable` call made
# while the whole package is imported is recorded, then the public registry is
# read back for every class and function the package's modules define.
_RECORD = r"""
import importlib
import json
import pkgutil

import keras

calls = []
_register = keras.saving.register_keras_serializable


def recording(package="Custom", name=None):
    decorate = _register(package=package, name=name)

    def wrapped(obj):
        out = decorate(obj)
        calls.append(
            [keras.saving.get_registered_name(obj), f"{obj.__module__}.{obj.__qualname__}"]
        )
        return out

    return wrapped


keras.saving.register_keras_serializable = recording
keras.utils.register_keras_serializable = recording

import keras_rdkl

modules = ["keras_rdkl"]
for info in pkgutil.walk_packages(keras_rdkl.__path__, "keras_rdkl."):
    importlib.import_module(info.name)
    modules.append(info.name)
try:  # classes defined on first use
    import keras_hub  # noqa: F401
except ImportError:
    pass
else:
    keras_rdkl.compat._bert._backbone_class()

found = []
for module_name in modules:
    module = importlib.import_module(module_name)
    for obj in vars(module).values():
        if not (callable(obj) and hasattr(obj, "__qualname__")):
            continue
        if not str(getattr(obj, "__module__", "")).startswith("keras_rdkl"):
            continue
        name = keras.saving.get_registered_name(obj)
        if ">" in name:
            found.append([name, f"{obj.__module__}.{obj.__qualname__}"])
print("RESULT " + json.dumps({"modules": modules, "calls": calls, "found": found}))
"""


@pytest.fixture(scope="module")
def registrations():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", _RECORD],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _owners(pairs):
    owners = {}
    for name, obj in pairs:
        owners.setdefault(name, set()).add(obj)
    return owners


def test_every_submodule_is_imported(registrations):
    for module in (
        "keras_rdkl.compat.bert4keras",
        "keras_rdkl.compat._bert",
        "keras_rdkl.ner.encoders",
        "keras_rdkl.datasets",
        "keras_rdkl.distillation",
    ):
        assert module in registrations["modules"]


def test_no_two_objects_share_a_registered_name(registrations):
    # Every decoration, including classes made inside functions ...
    calls = _owners(registrations["calls"])
    assert len(calls) > 30
    shared = {n: sorted(o) for n, o in calls.items() if len(o) > 1}
    assert not shared, f"registered under one name: {shared}"
    # ... and the registry as the public API reads it for every module attribute.
    found = _owners(registrations["found"])
    shared = {n: sorted(o) for n, o in found.items() if len(o) > 1}
    assert not shared, f"registered under one name: {shared}"
    for name in found:
        assert keras.saving.get_registered_object(name) is not None, name


def test_the_two_padding_masks_have_their_own_names():
    assert keras.saving.get_registered_name(ner.PaddingMask) == "keras_rdkl>PaddingMask"
    assert (
        keras.saving.get_registered_name(_bert.PaddingMask)
        == "keras_rdkl.compat>PaddingMask"
    )
    assert (
        keras.saving.get_registered_object("keras_rdkl>PaddingMask") is ner.PaddingMask
    )
    assert (
        keras.saving.get_registered_object("keras_rdkl.compat>PaddingMask")
        is _bert.PaddingMask
    )


def _mask_model(layer_class, name="mask"):
    ids = keras.Input((None,), dtype="int32")
    return keras.Model(ids, layer_class(name=name)(ids))


IDS = np.array([[5, 3, 0, 0], [7, 0, 0, 0]], "int32")


@pytest.mark.parametrize(
    "layer_class, dtype",
    [(_bert.PaddingMask, "int32"), (ner.PaddingMask, "bool")],
    ids=["compat", "ner"],
)
def test_padding_mask_save_load_round_trip(layer_class, dtype, tmp_path):
    model = _mask_model(layer_class)
    path = tmp_path / "mask.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("mask")) is layer_class
    out = keras.ops.convert_to_numpy(loaded(IDS))
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_array_equal(out, (IDS != 0).astype(dtype))


def _with_old_name(path, old):
    """A copy of a saved file as written before the compat mask had its own name."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                text = data.decode("utf-8")
                assert '"keras_rdkl.compat>PaddingMask"' in text
                data = text.replace(
                    '"keras_rdkl.compat>PaddingMask"', '"keras_rdkl>PaddingMask"'
                ).encode("utf-8")
            dst.writestr(item, data)


def test_compat_mask_saved_under_the_old_name_reloads_as_the_compat_mask(tmp_path):
    # build_transformer_model names the layer "Padding-Mask": the NER class'
    # from_config hands it to the compat class.
    path = tmp_path / "mask.keras"
    _mask_model(_bert.PaddingMask, name="Padding-Mask").save(path)
    _with_old_name(path, tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert type(loaded.get_layer("Padding-Mask")) is _bert.PaddingMask
    out = keras.ops.convert_to_numpy(loaded(IDS))
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    np.testing.assert_array_equal(out, (IDS != 0).astype("int32"))
