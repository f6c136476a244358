"""keras_rdkl.models."""

from keras_rdkl.models.rdrop import RDropModel

__all__ = ["RDropModel"]
