"""keras-rdkl: ZLPR, gamma-CE, symmetric KL, GlobalPointer and R-Drop for Keras 3."""

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
from keras_rdkl import text
from keras_rdkl import viterbi
from keras_rdkl.masking import MASK_THRESHOLD
from keras_rdkl.masking import mask_value
from keras_rdkl.models import RDropModel

__all__ = [
    "MASK_THRESHOLD",
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
    "text",
    "viterbi",
]

# The one place that holds the version (pyproject.toml reads it from here).
__version__ = "0.1.0"
