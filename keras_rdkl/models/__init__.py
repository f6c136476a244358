"""keras_rdkl.models: training wrappers for any Keras model."""

from keras_rdkl.models._kl_choice import register_loss_family
from keras_rdkl.models.adversarial import AdversarialModel
from keras_rdkl.models.rdrop import RDropModel

__all__ = ["AdversarialModel", "RDropModel", "register_loss_family"]
