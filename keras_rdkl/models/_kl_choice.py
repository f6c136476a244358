"""Which divergence `RDropModel(kl="auto")` pairs with a compiled loss.

A loss is matched by type (a `keras.losses.Loss` class, or a subclass of
one) or, for a loss given as a function, by identity: never by name, so a
user's loss that happens to share a Keras name is not taken for it. Each
known loss says the family of outputs it compares (`"softmax"`: one class per
row; `"sigmoid"`: independent classes) and whether it takes logits; a loss
object's `get_config()` may override `from_logits` and `axis`.

Other modules add their own losses with `register_loss_family` when they are
imported (keras_rdkl.compat.bert4keras does), so the core never imports them.
"""

import keras
from keras import ops

from keras_rdkl import _keras_internals as internals
from keras_rdkl import _numerics as num

KL_NAMES = ("auto", "softmax", "sigmoid")

# (class or function, kind, from_logits, axis); from_logits None: unknown.
# Keras' and keras-rdkl's own losses are added on first use (`_match`).
_FAMILIES = []
_BUILTIN = []


def register_loss_family(loss, kind, from_logits, axis=-1):
    """Declares the divergence family of `loss` (a Loss class or a function).

    Args:
        loss: A `keras.losses.Loss` subclass (its instances and subclasses'
            match) or a loss function (matched by identity).
        kind: `"softmax"` or `"sigmoid"`.
        from_logits: True when the loss takes raw scores, False when it takes
            probabilities, None when only its config or the model can tell.
        axis: Its class axis (an int, a tuple, or None for "the last").
    """
    if kind not in ("softmax", "sigmoid"):
        raise ValueError(
            f"`kind` must be 'softmax' or 'sigmoid'. Received: kind={kind!r}"
        )
    _FAMILIES.append((loss, kind, from_logits, axis))


def _register_builtin():
    from keras_rdkl import losses

    softmax = (
        (keras.losses.CategoricalCrossentropy, None),
        (keras.losses.SparseCategoricalCrossentropy, None),
        (keras.losses.CategoricalFocalCrossentropy, None),
        (keras.losses.KLDivergence, False),
        (losses.GammaCrossentropy, None),
        (losses.SparseGammaCrossentropy, None),
        # Keras' function losses take probabilities unless told otherwise,
        # and `compile` calls them with their defaults.
        (keras.losses.categorical_crossentropy, False),
        (keras.losses.sparse_categorical_crossentropy, False),
        (keras.losses.categorical_focal_crossentropy, False),
        (keras.losses.kl_divergence, False),
        (losses.gamma_crossentropy, False),
        (losses.sparse_gamma_crossentropy, False),
    )
    sigmoid = (
        (keras.losses.BinaryCrossentropy, None),
        (keras.losses.BinaryFocalCrossentropy, None),
        (keras.losses.binary_crossentropy, False),
        (keras.losses.binary_focal_crossentropy, False),
        # ZLPR takes scores, whatever its arguments.
        (losses.MultilabelCategoricalCrossentropy, True),
        (losses.SparseMultilabelCategoricalCrossentropy, True),
        (losses.multilabel_categorical_crossentropy, True),
        (losses.sparse_multilabel_categorical_crossentropy, True),
    )
    for kind, entries in (("softmax", softmax), ("sigmoid", sigmoid)):
        for loss, from_logits in entries:
            # Keras' KL divergence has no axis argument (it sums the last).
            no_axis = loss in (keras.losses.KLDivergence, keras.losses.kl_divergence)
            register_loss_family(loss, kind, from_logits, None if no_axis else -1)


def _match(loss):
    if not _BUILTIN:
        _BUILTIN.append(True)
        _register_builtin()
    for target, kind, from_logits, axis in _FAMILIES:
        if loss is target or (isinstance(target, type) and isinstance(loss, target)):
            return kind, from_logits, axis
    return None


def describe_loss(loss):
    """`(kind, from_logits, axis)` of a compiled loss; each None when unknown.

    `loss` is what was given to `compile`: a string, a function, a
    `keras.losses.Loss`, a one-element list or dict of those, or None.
    """
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError):
            return None, None, None
    found = _match(loss)
    config = {}
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        if found is None and callable(getattr(loss, "fn", None)):
            # Keras' wrapper of a function loss: the function says the family.
            found = _match(loss.fn)
    if found is None:
        return None, None, None
    kind, from_logits, axis = found
    if from_logits is None and "from_logits" in config:
        from_logits = bool(config["from_logits"])
    axis = config.get("axis", axis)
    if isinstance(axis, list):
        axis = tuple(axis)
    return kind, from_logits, axis


def output_activation(model):
    """`"softmax"`, `"sigmoid"` or None: the activation of the model's last layer."""
    layers = getattr(model, "layers", None) or []
    if not layers:
        return None
    activation = getattr(layers[-1], "activation", None)
    if isinstance(activation, str):
        activation = keras.activations.get(activation)
    if activation is keras.activations.softmax:
        return "softmax"
    if activation is keras.activations.sigmoid:
        return "sigmoid"
    return None


def check_kl(kl):
    """`kl` as a wrapper takes it: a name of `KL_NAMES` or a divergence instance."""
    from keras_rdkl.losses.divergence import _Divergence

    if isinstance(kl, dict):
        kl = keras.saving.deserialize_keras_object(kl)
    if not (kl in KL_NAMES if isinstance(kl, str) else isinstance(kl, _Divergence)):
        raise ValueError(
            f"`kl` must be one of {KL_NAMES} or a keras_rdkl divergence "
            "instance (SoftmaxKLDivergence, SigmoidKLDivergence). "
            f"Received: kl={kl!r}"
        )
    return kl


def serialize_kl(kl):
    return kl if isinstance(kl, str) else keras.saving.serialize_keras_object(kl)


def resolve(kl, loss, model):
    """`(kind, from_logits, axis)` of the divergence a wrapper's `kl` names.

    `loss` is the compiled loss, `model` the wrapped model; `kind` is
    `"softmax"` or `"sigmoid"`, `from_logits` whether the outputs are logits,
    `axis` the class axis (None: the default for the output's rank).
    """
    kind, from_logits, axis = describe_loss(loss)
    activation = output_activation(model)
    if from_logits is None:
        from_logits = activation is None
    if kl != "auto":
        kind = kl
    elif kind is None:
        kind = activation
    if kind is None:
        raise ValueError(
            "`kl='auto'` cannot tell the divergence from the compiled loss "
            f"{loss!r} or the output activation; pass kl='softmax' or "
            "kl='sigmoid'. Received: kl='auto'"
        )
    return kind, from_logits, axis


def choose_divergence(kl, loss, model, rank):
    """`(divergence loss, to_logits)` for a wrapper's `kl` argument.

    `kl` is a name of `KL_NAMES` (see `resolve`) or a divergence instance,
    used as it is; `rank` is that of the model's output; `to_logits`: the
    outputs are sigmoid probabilities, mapped back to logits before the
    sigmoid divergence.
    """
    from keras_rdkl.losses.divergence import SigmoidKLDivergence
    from keras_rdkl.losses.divergence import SoftmaxKLDivergence

    if not isinstance(kl, str):
        return kl, False
    kind, from_logits, axis = resolve(kl, loss, model)
    if kind == "softmax":
        axis = -1 if axis is None else axis
        return SoftmaxKLDivergence(from_logits=from_logits, axis=axis), False
    if axis is None:
        axis = (-2, -1) if rank == 4 else -1
    return SigmoidKLDivergence(axis=axis), not from_logits


def _probs_to_logits(p):
    eps = keras.config.epsilon()
    p = ops.clip(num.to_compute(p), eps, 1.0 - eps)
    return ops.log(p) - ops.log1p(-p)


def mean_divergence(chosen, y1, y2, sample_weight=None):
    """The divergence `chosen` (from `choose_divergence`) between two outputs.

    Averaged as the compiled loss averages (over samples, and over positions a
    Keras mask keeps); masked logits and rows of weight 0 add nothing.
    """
    loss, to_logits = chosen
    if to_logits:
        mask = internals.get_keras_mask(y1)
        y1, y2 = _probs_to_logits(y1), _probs_to_logits(y2)
        if mask is not None:
            internals.set_keras_mask(y1, mask)
    if (
        sample_weight is None
        and internals.get_keras_mask(y1) is None
        and loss.reduction == "sum_over_batch_size"
    ):
        # What Loss.__call__ computes here, without its per-call overhead.
        return ops.mean(loss.call(y2, y1))
    return loss(y2, y1, sample_weight=sample_weight)
