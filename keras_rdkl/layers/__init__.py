"""keras_rdkl.layers."""

from keras_rdkl.layers.crf import ConditionalRandomField
from keras_rdkl.layers.efficient_global_pointer import EfficientGlobalPointer
from keras_rdkl.layers.global_pointer import GlobalPointer
from keras_rdkl.layers.rotary import apply_rotary
from keras_rdkl.layers.rotary import sinusoidal_embeddings
from keras_rdkl.layers.sinusoidal import SinusoidalPositionEmbedding

__all__ = [
    "ConditionalRandomField",
    "EfficientGlobalPointer",
    "GlobalPointer",
    "SinusoidalPositionEmbedding",
    "apply_rotary",
    "sinusoidal_embeddings",
]
