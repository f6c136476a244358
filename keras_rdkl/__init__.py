"""keras-rdkl: ZLPR, gamma-CE, symmetric KL, GlobalPointer and R-Drop for Keras 3."""

import json
import os

# Keras imports its backend when it is imported; a backend that is not
# installed fails deep inside Keras ("No module named 'tensorflow'"). Say which
# backend Keras chose, why, and what to install.
try:
    import keras
except ModuleNotFoundError as error:
    # The backend as Keras picks it: KERAS_BACKEND, keras.json, "tensorflow".
    _backends = ("tensorflow", "jax", "torch")
    _backend = os.environ.get("KERAS_BACKEND")
    _why = f"KERAS_BACKEND={_backend}"
    if not _backend:
        _dir = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
        _path = os.path.join(_dir, "keras.json")
        try:
            with open(_path) as _file:
                _backend = json.load(_file)["backend"]
            _why = f"KERAS_BACKEND is unset; {_path} names it"
        except (OSError, ValueError, KeyError, TypeError):
            _backend, _why = "tensorflow", "Keras' default: KERAS_BACKEND is unset"
    if _backend not in _backends or (error.name or "").split(".")[0] != _backend:
        raise
    _others = [b for b in _backends if b != _backend]
    raise ModuleNotFoundError(
        f"keras_rdkl: Keras could not import its backend {_backend!r} ({_why}): "
        f"{error}. Either install it:\n"
        f'    pip install "keras-rdkl[{_backend}]"   '
        f'(from a checkout: pip install -e ".[{_backend}]")\n'
        "or install another backend and select it before importing keras_rdkl:\n"
        + "".join(
            f'    pip install "keras-rdkl[{b}]"   and set KERAS_BACKEND={b}\n'
            for b in _others
        )
        + "([torch] pulls PyTorch's default wheel, multi-GB with CUDA on Linux; "
        "CPU only: pip install torch --index-url "
        "https://download.pytorch.org/whl/cpu)",
        name=error.name,
    ) from error

from keras_rdkl import callbacks
from keras_rdkl import compat
from keras_rdkl import datasets
from keras_rdkl import distillation
from keras_rdkl import layers
from keras_rdkl import losses
from keras_rdkl import masking
from keras_rdkl import metrics
from keras_rdkl import models
from keras_rdkl import ner
from keras_rdkl import spans
from keras_rdkl import viterbi
from keras_rdkl.masking import MASK_THRESHOLD
from keras_rdkl.masking import mask_value
from keras_rdkl.models import AdversarialModel
from keras_rdkl.models import RDropModel

__all__ = [
    "MASK_THRESHOLD",
    "AdversarialModel",
    "RDropModel",
    "mask_value",
    "callbacks",
    "compat",
    "datasets",
    "distillation",
    "layers",
    "losses",
    "masking",
    "metrics",
    "models",
    "ner",
    "spans",
    "viterbi",
]

# The one place that holds the version (pyproject.toml reads it from here).
__version__ = "0.1.0"
