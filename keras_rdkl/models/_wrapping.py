"""What the training wrappers (RDropModel, AdversarialModel) share."""

import math
import warnings

import keras
from keras import ops


def as_number(value, name, positive=False):
    """`value` as a float, checked finite and >= 0 (> 0 when `positive`)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(float(value))
        or float(value) < 0
        or (positive and float(value) == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(
            f"`{name}` must be a finite number {bound}. Received: {name}={value!r}"
        )
    return float(value)


def check_model(model, wrapper):
    """Raises unless `model` is a built single-output Keras model, not a wrapper."""
    from keras_rdkl.models.adversarial import AdversarialModel
    from keras_rdkl.models.rdrop import RDropModel

    if not isinstance(model, keras.layers.Layer):
        raise ValueError(f"`model` must be a Keras model. Received: model={model!r}")
    if not model.built:
        raise ValueError(
            "`model` must be built before it is wrapped (give it an Input, "
            f"call it once, or call `build`). Received: model={model.name!r} "
            "with built=False"
        )
    outputs = getattr(model, "outputs", None)
    if outputs is not None and len(keras.tree.flatten(outputs)) > 1:
        raise ValueError(
            f"`model` must have a single output; {wrapper} does not support "
            f"multi-output models. Received: model={model.name!r} with "
            f"{len(keras.tree.flatten(outputs))} outputs"
        )
    if isinstance(model, (RDropModel, AdversarialModel)):
        raise ValueError(
            f"`model` is a {type(model).__name__}; its training step would not "
            f"run inside {wrapper} (each wrapper makes its passes in its own "
            "step), so its regularizer would be silently off. Wrap the plain "
            f"model in one of them. Received: model={model.name!r}"
        )


def fresh(sample_weight):
    """A copy of the sample weights for one loss call.

    Keras' mask handling multiplies sample weights in place on the torch
    backend, which would compound over the loss calls of a step.
    """
    if sample_weight is None:
        return None
    return keras.tree.map_structure(lambda w: ops.multiply(w, 1), sample_weight)


def from_config(cls, config, custom_objects=None):
    """A wrapper rebuilt from its config: the wrapped model and a `kl` instance
    deserialized first, without the construction-time warnings."""
    config = dict(config)
    config["model"] = keras.saving.deserialize_keras_object(
        config["model"], custom_objects=custom_objects
    )
    if isinstance(config.get("kl"), dict):
        config["kl"] = keras.saving.deserialize_keras_object(
            config["kl"], custom_objects=custom_objects
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**config)
