"""R-Drop: train any Keras model on two dropout samples of every batch."""

import math
import warnings

import keras
from keras import ops

from keras_rdkl import _keras_internals as internals
from keras_rdkl import _numerics as num
from keras_rdkl.losses.divergence import SigmoidKLDivergence
from keras_rdkl.losses.divergence import SoftmaxKLDivergence
from keras_rdkl.losses.divergence import _Divergence

_KL_NAMES = ("auto", "softmax", "sigmoid")

# Compiled losses that say which divergence fits the output.
_SOFTMAX_LOSSES = (
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "categoricalcrossentropy",
    "sparsecategoricalcrossentropy",
    "categoricalfocalcrossentropy",
    "categorical_focal_crossentropy",
    "kl_divergence",
    "kldivergence",
    "gammacrossentropy",
    "sparsegammacrossentropy",
)
_SIGMOID_LOSSES = (
    "binary_crossentropy",
    "binarycrossentropy",
    "binaryfocalcrossentropy",
    "binary_focal_crossentropy",
    "multilabelcategoricalcrossentropy",
    "sparsemultilabelcategoricalcrossentropy",
)


def _as_number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"`{name}` must be a finite number >= 0. Received: {name}={value!r}"
        )
    if not math.isfinite(float(value)) or float(value) < 0:
        raise ValueError(
            f"`{name}` must be a finite number >= 0. Received: {name}={value!r}"
        )
    return float(value)


def _loss_key(loss):
    """Lower-case name of a compiled loss (string, function or object)."""
    if isinstance(loss, str):
        return loss.lower()
    if isinstance(loss, keras.losses.Loss) and type(loss).__name__ != "LossFunctionWrapper":
        return type(loss).__name__.lower()
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", type(loss).__name__).lower()


def _loss_from_logits(loss):
    """The compiled loss' `from_logits`, or None when it does not say."""
    if isinstance(loss, str):
        return False  # Keras' string losses take probabilities.
    if hasattr(loss, "from_logits"):
        return bool(loss.from_logits)
    kwargs = getattr(loss, "_fn_kwargs", None) or {}
    if "from_logits" in kwargs:
        return bool(kwargs["from_logits"])
    key = _loss_key(loss)
    if key in ("multilabelcategoricalcrossentropy", "sparsemultilabelcategoricalcrossentropy"):
        return True
    return None


def _output_activation(model):
    """'softmax', 'sigmoid' or None: the activation of the model's last layer."""
    layers = getattr(model, "layers", None) or []
    if not layers:
        return None
    act = getattr(layers[-1], "activation", None)
    name = getattr(act, "__name__", None) or (act if isinstance(act, str) else None)
    if name in ("softmax", "sigmoid"):
        return name
    return None


def _is_stochastic(layer):
    name = type(layer).__name__.lower()
    if "dropout" in name or "noise" in name:
        return True
    for attr in ("dropout", "_dropout", "recurrent_dropout"):
        value = getattr(layer, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return True
    return False


def _fresh(sample_weight):
    """A copy of the sample weights for each loss call.

    Keras' mask handling multiplies sample weights in place on the torch
    backend, which would compound over the three loss calls of a step.
    """
    if sample_weight is None:
        return None
    return keras.tree.map_structure(lambda w: ops.multiply(w, 1), sample_weight)


def _probs_to_logits(p):
    eps = keras.config.epsilon()
    p = ops.clip(num.to_compute(p), eps, 1.0 - eps)
    return ops.log(p) - ops.log1p(-p)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class RDropModel(keras.Model):
    """R-Drop wrapper: two dropout samples per batch and a symmetric KL between them.

    In training every batch `x` of B rows goes through the wrapped model once
    as `[x; x]` (2B rows, concatenated on the batch axis; for dict or tuple
    inputs every input is doubled). Dropout draws an independent mask per
    row, so the two halves of the output are two sub-models' predictions
    `y1`, `y2`. The training loss is

    ```
    loss = 1/2 (L(y, y1) + L(y, y2)) + alpha * 1/2 * mean(D(y1, y2)) + reg
    ```

    with `L` the compiled loss (sample weights included), `D` a symmetric KL
    divergence from `keras_rdkl.losses` (`D = KL(P1||P2) + KL(P2||P1)`, so
    `alpha` is on the official R-Drop scale) averaged over samples (and over
    unmasked positions for sequence outputs) the way the compiled loss is,
    and `reg` the model's regularization losses counted once. The unscaled
    mean divergence is logged as `kl`.

    Because the whole step is expressed through `call` and `compute_loss`,
    the stock `train_step` of every backend runs unchanged: TensorFlow (with
    or without XLA), JAX (stateless, jitted, `keras.distribution`) and
    PyTorch, as do loss scaling under `mixed_float16`, callbacks and
    validation data. `evaluate` and `predict` make one deterministic pass.

    Notes:

    - Compiled metrics in training see the first half (`y1`) with `y`.
    - In training `call` returns the 2B rows (`y1` on top of `y2`); in
      inference it returns the wrapped model's output for B rows.
    - Layers that look across the batch (BatchNormalization statistics,
      in-batch negatives) see 2B rows in training.
    - Activity regularizers are normalized by the batch size in Keras, so the
      doubled pass counts them once; weight regularizers are counted once.
      Losses added with `add_loss` in a `call` are computed on the 2B rows.
    - Positions whose logits are masked (`<= keras_rdkl.MASK_THRESHOLD`,
      such as a GlobalPointer's padding and lower triangle), positions under
      a Keras mask and rows with sample weight 0 add nothing to `D`.
    - `val_kl` stays 0: evaluation makes a single pass.

    Args:
        model: A built Keras model (Sequential, functional or subclassed)
            with a single output.
        alpha: Finite float >= 0, the weight of the divergence (official
            R-Drop scale; bert4keras' `alpha` is twice this value).
        kl: `"auto"`, `"softmax"`, `"sigmoid"` or a
            `keras_rdkl.losses.SoftmaxKLDivergence` /
            `keras_rdkl.losses.SigmoidKLDivergence` instance. `"softmax"`
            takes probabilities when the compiled loss says
            `from_logits=False` (or is given by name, as Keras' string losses
            take probabilities) or, without such a hint, when the last layer
            has a softmax activation; logits otherwise. `"sigmoid"` is the
            GlobalPointer / multi-label divergence (sums over the class axis;
            over `(-2, -1)` for rank-4 GlobalPointer outputs, or over the
            compiled loss' `axis`); sigmoid probabilities are mapped back to
            logits first. `"auto"` picks softmax for categorical losses,
            sigmoid for binary / ZLPR losses, else by the last activation.
        **kwargs: Passed to `keras.Model` (`name`, ...).

    Call arguments:
        inputs: The wrapped model's inputs (tensor, list, tuple or dict).
        training: In training, the doubled pass described above.

    Returns:
        The wrapped model's predictions (2B rows in training).

    Example:

    >>> inputs = keras.Input((8,))
    >>> h = keras.layers.Dropout(0.1)(keras.layers.Dense(16, activation="relu")(inputs))
    >>> base = keras.Model(inputs, keras.layers.Dense(3)(h))
    >>> model = RDropModel(base, alpha=1.0)
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> import numpy as np
    >>> history = model.fit(np.ones((4, 8)), np.zeros((4,)), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['kl', 'loss']

    References:
        - Liang et al., "R-Drop: Regularized Dropout for Neural Networks",
          NeurIPS 2021.
        - Su Jianlin, "又是Dropout两次！这次它做到了有监督任务的SOTA" (2021).
    """

    def __init__(self, model, alpha=1.0, kl="auto", **kwargs):
        if not isinstance(model, keras.Model) and not isinstance(model, keras.layers.Layer):
            raise ValueError(
                f"`model` must be a Keras model. Received: model={model!r}"
            )
        if not model.built:
            raise ValueError(
                "`model` must be built before it is wrapped (give it an Input, "
                f"call it once, or call `build`). Received: model={model.name!r} "
                "with built=False"
            )
        outputs = getattr(model, "outputs", None)
        if outputs is not None and len(keras.tree.flatten(outputs)) > 1:
            raise ValueError(
                "`model` must have a single output; RDropModel does not support "
                f"multi-output models. Received: model={model.name!r} with "
                f"{len(keras.tree.flatten(outputs))} outputs"
            )
        alpha = _as_number(alpha, "alpha")
        if isinstance(kl, str):
            if kl not in _KL_NAMES:
                raise ValueError(
                    f"`kl` must be one of {_KL_NAMES} or a keras_rdkl divergence "
                    f"instance. Received: kl={kl!r}"
                )
        elif isinstance(kl, dict):
            kl = keras.saving.deserialize_keras_object(kl)
        if not isinstance(kl, (str, _Divergence)):
            raise ValueError(
                f"`kl` must be one of {_KL_NAMES} or a keras_rdkl divergence "
                "instance (SoftmaxKLDivergence, SigmoidKLDivergence). "
                f"Received: kl={kl!r}"
            )
        super().__init__(**kwargs)
        self.model = model
        self.alpha = alpha
        self.kl = kl
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self._doubled = False
        if not any(_is_stochastic(layer) for layer in model._flatten_layers()):
            warnings.warn(
                f"RDropModel: the wrapped model {model.name!r} has no Dropout-like "
                "layer, so both passes agree and the divergence `kl` will stay 0.",
                stacklevel=2,
            )
        self.built = True

    def call(self, inputs, training=None):
        if training:
            self._doubled = True
            doubled = keras.tree.map_structure(
                lambda t: ops.concatenate([t, t], axis=0), inputs
            )
            outputs = self.model(doubled, training=True)
        else:
            self._doubled = False
            outputs = self.model(inputs, training=training)
        if len(keras.tree.flatten(outputs)) != 1:
            raise ValueError(
                "`model` must have a single output; RDropModel does not support "
                f"multi-output models. Received: {len(keras.tree.flatten(outputs))} outputs"
            )
        return outputs

    # The concatenated pass comes back as 2B rows; split it, keeping masks.
    @staticmethod
    def _halves(y_pred):
        y_pred = keras.tree.flatten(y_pred)[0]
        mask = keras.src.backend.get_keras_mask(y_pred)
        y1, y2 = ops.split(y_pred, 2, axis=0)
        if mask is not None:
            m1, m2 = ops.split(mask, 2, axis=0)
            internals.set_keras_mask(y1, m1)
            internals.set_keras_mask(y2, m2)
        return y1, y2

    def _resolve_kl(self):
        if isinstance(self.kl, _Divergence):
            return ("instance", None, None)
        loss = self.loss
        if isinstance(loss, (list, tuple)) and len(loss) == 1:
            loss = loss[0]
        if isinstance(loss, dict) and len(loss) == 1:
            loss = next(iter(loss.values()))
        key = _loss_key(loss) if loss else None
        from_logits = _loss_from_logits(loss) if loss else None
        activation = _output_activation(self.model)
        if from_logits is None:
            from_logits = activation is None
        axis = getattr(loss, "axis", None) if not isinstance(loss, str) else None
        kind = self.kl
        if kind == "auto":
            if key in _SOFTMAX_LOSSES:
                kind = "softmax"
            elif key in _SIGMOID_LOSSES:
                kind = "sigmoid"
            elif activation is not None:
                kind = activation
            else:
                raise ValueError(
                    "`kl='auto'` cannot tell the divergence from the compiled loss "
                    f"{loss!r} or the output activation; pass kl='softmax' or "
                    "kl='sigmoid'. Received: kl='auto'"
                )
        return (kind, from_logits, axis)

    def _divergence(self, y1, y2, sample_weight):
        kind, from_logits, axis = self._resolve_kl()
        if kind == "instance":
            return self.kl(y2, y1, sample_weight=sample_weight)
        if kind == "softmax":
            loss = SoftmaxKLDivergence(from_logits=from_logits, axis=-1 if axis is None else axis)
            return loss(y2, y1, sample_weight=sample_weight)
        if not from_logits:
            mask = keras.src.backend.get_keras_mask(y1)
            y1, y2 = _probs_to_logits(y1), _probs_to_logits(y2)
            if mask is not None:
                internals.set_keras_mask(y1, mask)
        if axis is None:
            axis = (-2, -1) if len(y1.shape) == 4 else -1
        return SigmoidKLDivergence(axis=axis)(y2, y1, sample_weight=sample_weight)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not (training and self._doubled):
            return super().compute_loss(
                x, y, y_pred, sample_weight, training=training
            )
        y1, y2 = self._halves(y_pred)
        terms = []
        if self._compile_loss is not None:
            l1 = self._compile_loss(y, y1, _fresh(sample_weight))
            l2 = self._compile_loss(y, y2, _fresh(sample_weight))
            if l1 is not None:
                terms.append(0.5 * (ops.cast(l1, "float32") + ops.cast(l2, "float32")))
        d = ops.cast(self._divergence(y1, y2, _fresh(sample_weight)), "float32")
        self.kl_tracker.update_state(d)
        terms.append(self.alpha * 0.5 * d)
        for loss in self.losses:
            terms.append(ops.cast(self._aggregate_additional_loss(loss), "float32"))
        return ops.sum(ops.stack(terms)) if len(terms) > 1 else terms[0]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._doubled:
            y_pred = self._halves(y_pred)[0]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        kl = self.kl if isinstance(self.kl, str) else keras.saving.serialize_keras_object(self.kl)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.model),
            "alpha": self.alpha,
            "kl": kl,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
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
