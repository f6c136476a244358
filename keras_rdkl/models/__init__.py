"""keras_rdkl.models."""

from keras_rdkl.models._kl_choice import register_loss_family
from keras_rdkl.models.rdrop import RDropModel

__all__ = ["RDropModel", "register_loss_family"]
