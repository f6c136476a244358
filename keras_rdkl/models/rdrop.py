"""R-Drop: train any Keras model on two dropout samples of every batch."""

import inspect
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


def _loss_families():
    """(softmax, sigmoid) families of compiled losses: classes and functions.

    Losses are recognised by type (`isinstance`) or, for function-form
    losses, by identity; never by name. Built on first use so that the
    compat module is imported lazily.
    """
    from keras_rdkl import losses as rdkl_losses
    from keras_rdkl.compat import bert4keras

    softmax_classes = (
        keras.losses.CategoricalCrossentropy,
        keras.losses.SparseCategoricalCrossentropy,
        keras.losses.CategoricalFocalCrossentropy,
        keras.losses.KLDivergence,
        rdkl_losses.GammaCrossentropy,
        rdkl_losses.SparseGammaCrossentropy,
    )
    softmax_functions = (
        keras.losses.categorical_crossentropy,
        keras.losses.sparse_categorical_crossentropy,
        keras.losses.categorical_focal_crossentropy,
        keras.losses.kl_divergence,
        rdkl_losses.gamma_crossentropy,
        rdkl_losses.sparse_gamma_crossentropy,
    )
    sigmoid_classes = (
        keras.losses.BinaryCrossentropy,
        keras.losses.BinaryFocalCrossentropy,
        rdkl_losses.MultilabelCategoricalCrossentropy,
        rdkl_losses.SparseMultilabelCategoricalCrossentropy,
        # compat.bert4keras' GlobalPointer losses, also after a save/load round trip.
        bert4keras.GlobalPointerCrossentropy,
        bert4keras.SparseGlobalPointerCrossentropy,
    )
    sigmoid_functions = (
        keras.losses.binary_crossentropy,
        keras.losses.binary_focal_crossentropy,
        rdkl_losses.multilabel_categorical_crossentropy,
        rdkl_losses.sparse_multilabel_categorical_crossentropy,
        bert4keras.multilabel_categorical_crossentropy,
        bert4keras.sparse_multilabel_categorical_crossentropy,
        bert4keras.global_pointer_crossentropy,
        bert4keras.sparse_global_pointer_crossentropy,
    )
    # ZLPR losses take raw scores, Keras' KL divergence probabilities,
    # whatever their signatures say.
    scores = (sigmoid_classes[2:], sigmoid_functions[2:])
    probabilities = ((keras.losses.KLDivergence,), (keras.losses.kl_divergence,))
    return (
        (softmax_classes, softmax_functions),
        (sigmoid_classes, sigmoid_functions),
        scores,
        probabilities,
    )


def _in(obj, candidates):
    return any(obj is c for c in candidates)


def _describe_loss(loss):
    """`(kind, from_logits, axis)` of a compiled loss; each None when unknown.

    `loss` is what was passed to `compile`: a string, a function, a
    `keras.losses.Loss` instance (possibly a `LossFunctionWrapper` around a
    function) or None.
    """
    if loss is None:
        return None, None, None
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError):
            return None, None, None
    kwargs = {}
    target = loss
    softmax, sigmoid, scores, probabilities = _loss_families()
    fn = getattr(loss, "fn", None)
    if (
        isinstance(loss, keras.losses.Loss)
        and not isinstance(loss, softmax[0] + sigmoid[0])
        and callable(fn)
    ):
        # A loss object wrapping a function (Keras' LossFunctionWrapper): the
        # function says the family, the wrapper's config its arguments.
        target = fn
        config = loss.get_config()
        kwargs = {k: config[k] for k in ("from_logits", "axis") if k in config}
    if isinstance(target, softmax[0]) or _in(target, softmax[1]):
        kind = "softmax"
    elif isinstance(target, sigmoid[0]) or _in(target, sigmoid[1]):
        kind = "sigmoid"
    else:
        kind = None
    if isinstance(target, scores[0]) or _in(target, scores[1]):
        from_logits = True
    elif isinstance(target, probabilities[0]) or _in(target, probabilities[1]):
        from_logits = False
    elif "from_logits" in kwargs:
        from_logits = bool(kwargs["from_logits"])
    elif isinstance(target, keras.losses.Loss):
        value = getattr(target, "from_logits", None)
        from_logits = None if value is None else bool(value)
    else:
        from_logits = _default_argument(target, "from_logits")
    if "axis" in kwargs:
        axis = kwargs["axis"]
    elif isinstance(target, keras.losses.Loss):
        axis = getattr(target, "axis", None)
        if axis is None:
            # SparseCategoricalCrossentropy keeps its axis only here.
            axis = internals.loss_function_kwargs(target).get("axis")
    else:
        axis = _default_argument(target, "axis")
    if isinstance(axis, list):
        axis = tuple(axis)
    if not (axis is None or isinstance(axis, (int, tuple))):
        axis = None
    return kind, from_logits, axis


def _default_argument(fn, name):
    """The default of argument `name` of function `fn`, or None."""
    try:
        parameter = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


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


def _output_activation(model):
    """'softmax', 'sigmoid' or None: the activation of the model's last layer."""
    layers = getattr(model, "layers", None) or []
    if not layers:
        return None
    act = getattr(layers[-1], "activation", None)
    if isinstance(act, str):
        act = keras.activations.get(act)
    if act is keras.activations.softmax:
        return "softmax"
    if act is keras.activations.sigmoid:
        return "sigmoid"
    return None


def _is_stochastic(layer):
    name = type(layer).__name__.lower()
    if "dropout" in name or "noise" in name:
        return True
    for attr in ("dropout", "_dropout", "recurrent_dropout"):
        value = getattr(layer, attr, None)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value > 0
        ):
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


def _float32(x):
    """`x` as float32, without a cast op when it is one already."""
    if keras.backend.standardize_dtype(x.dtype) == "float32":
        return x
    return ops.cast(x, "float32")


def _double(t):
    """`t` stacked on itself along the batch axis."""
    if keras.backend.backend() == "torch" and ops.is_tensor(t):
        from keras_rdkl import _torch_kernels

        # `ops.concatenate`'s conversions cost eager PyTorch about 30 us.
        return _torch_kernels.twice(t)
    t = ops.convert_to_tensor(t)  # once, not once per copy
    return ops.concatenate([t, t], axis=0)


def _twice(structure):
    """Every tensor of `structure` stacked on itself along the batch axis."""
    if structure is None:
        return None
    if ops.is_tensor(structure):
        return _double(structure)
    return keras.tree.map_structure(_double, structure)


_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")

# Losses computed sample by sample (nothing across the batch), by name in
# keras.losses; keras-rdkl's own are added in `_per_sample_losses`. Dice,
# Tversky and Circle look across the batch and are not listed.
_KERAS_PER_SAMPLE = (
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
)
_KERAS_PER_SAMPLE_FUNCTIONS = (
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
)


def _per_sample_losses():
    """(classes, functions) whose loss on doubled rows is the mean of the halves'."""
    from keras_rdkl import losses as rdkl_losses

    classes = tuple(getattr(keras.losses, n) for n in _KERAS_PER_SAMPLE) + (
        rdkl_losses.MultilabelCategoricalCrossentropy,
        rdkl_losses.SparseMultilabelCategoricalCrossentropy,
        rdkl_losses.GammaCrossentropy,
        rdkl_losses.SparseGammaCrossentropy,
        rdkl_losses.SigmoidKLDivergence,
        rdkl_losses.SoftmaxKLDivergence,
        rdkl_losses.CRFLoss,
    )
    functions = tuple(getattr(keras.losses, n) for n in _KERAS_PER_SAMPLE_FUNCTIONS) + (
        rdkl_losses.multilabel_categorical_crossentropy,
        rdkl_losses.sparse_multilabel_categorical_crossentropy,
        rdkl_losses.gamma_crossentropy,
        rdkl_losses.sparse_gamma_crossentropy,
    )
    return classes, functions


def _is_mean_per_sample_loss(loss):
    """A compiled loss whose value on 2B doubled rows is the halves' mean.

    Only losses known to be computed sample by sample, with a mean
    reduction, exactly of a listed type (a subclass may look across the
    batch).
    """
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError):
            return False
    classes, functions = _per_sample_losses()
    if isinstance(loss, keras.losses.Loss):
        if loss.reduction not in _MEAN_REDUCTIONS:
            return False
        if type(loss) in classes:
            return True
        # Keras' own wrapper of a function loss, around a listed function.
        wrapper = type(loss)
        return (
            wrapper.__name__ == "LossFunctionWrapper"
            and wrapper.__module__.startswith("keras.")
            and _in(getattr(loss, "fn", None), functions)
        )
    # A function given to compile: Keras wraps it with "sum_over_batch_size".
    return _in(loss, functions)


def _probs_to_logits(p):
    eps = keras.config.epsilon()
    p = ops.clip(num.to_compute(p), eps, 1.0 - eps)
    return ops.log(p) - ops.log1p(-p)


class _DivergenceMean(keras.metrics.Mean):
    """RDropModel's `kl` metric: a `keras.metrics.Mean` whose `result` on
    PyTorch is one division.

    Keras reads every metric's result after each training step; Mean's
    `divide_no_nan` costs eager PyTorch about 30 us a step. `count` holds
    the number of updates (an integer), so `total / max(count, 1)` equals
    it exactly, 0 included.
    """

    def result(self):
        if keras.backend.backend() != "torch":
            return super().result()
        return self.total.value / self.count.value.clamp_min(1.0)


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
    - Weight regularizers are counted once. Keras 3.14 and later normalize
      activity regularizers by the batch size, so the doubled pass counts
      them once; before 3.14 they are sums over the 2B rows, twice a plain
      model's value.
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
            Losses are recognised by type (Keras' and keras-rdkl's loss
            classes) or, for function-form losses (`keras.losses.*`,
            `keras_rdkl.losses.*`, `keras_rdkl.compat.bert4keras.*`), by
            identity; a user loss is never taken for one by its name.
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
        if not isinstance(model, keras.Model) and not isinstance(
            model, keras.layers.Layer
        ):
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
        self.kl_tracker = _DivergenceMean(name="kl")
        self._set_doubled(False)
        if not any(_is_stochastic(layer) for layer in internals.flatten_layers(model)):
            warnings.warn(
                f"RDropModel: the wrapped model {model.name!r} has no Dropout-like "
                "layer, so both passes agree and the divergence `kl` will stay 0.",
                stacklevel=2,
            )
        self.built = True

    def _set_doubled(self, doubled):
        # A plain attribute, set past Layer.__setattr__'s tracking (which
        # eager PyTorch would pay for on every step).
        object.__setattr__(self, "_doubled", doubled)

    def call(self, inputs, training=None):
        if training:
            self._set_doubled(True)
            doubled = _twice(inputs)
            call = self.model
            if keras.backend.backend() == "torch":
                # Eager PyTorch pays for a second Layer.__call__ on every step.
                call = internals.graph_call(self.model, self) or call
            outputs = call(doubled, training=True)
        else:
            self._set_doubled(False)
            outputs = self.model(inputs, training=training)
        if not ops.is_tensor(outputs) and len(keras.tree.flatten(outputs)) != 1:
            raise ValueError(
                "`model` must have a single output; RDropModel does not support "
                f"multi-output models. Received: {len(keras.tree.flatten(outputs))} outputs"
            )
        return outputs

    # The concatenated pass comes back as 2B rows; split it, keeping masks.
    @staticmethod
    def _halves(y_pred):
        y_pred = keras.tree.flatten(y_pred)[0]
        mask = internals.get_keras_mask(y_pred)
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
        loss_kind, from_logits, axis = _describe_loss(loss)
        activation = _output_activation(self.model)
        if from_logits is None:
            from_logits = activation is None
        kind = self.kl
        if kind == "auto":
            if loss_kind is not None:
                kind = loss_kind
            elif activation is not None:
                kind = activation
            else:
                raise ValueError(
                    "`kl='auto'` cannot tell the divergence from the compiled loss "
                    f"{loss!r} or the output activation; pass kl='softmax' or "
                    "kl='sigmoid'. Received: kl='auto'"
                )
        return (kind, from_logits, axis)

    def _divergence_loss(self, rank):
        """`(loss, to_logits)`: the divergence as a Loss, built once per compiled loss.

        `to_logits`: the outputs are sigmoid probabilities, mapped back to
        logits for the sigmoid divergence. `rank`: that of the outputs.
        """
        cached = getattr(self, "_kl_cache", None)
        if (
            cached is not None
            and cached[0] is self.loss
            and cached[1] is self.kl
            and cached[2] == rank
        ):
            return cached[3]
        kind, from_logits, axis = self._resolve_kl()
        to_logits = False
        if kind == "instance":
            loss = self.kl
        elif kind == "softmax":
            loss = SoftmaxKLDivergence(
                from_logits=from_logits, axis=-1 if axis is None else axis
            )
        else:
            to_logits = not from_logits
            if axis is None:
                axis = (-2, -1) if rank == 4 else -1
            loss = SigmoidKLDivergence(axis=axis)
        self._kl_cache = (self.loss, self.kl, rank, (loss, to_logits))
        return loss, to_logits

    def _divergence(self, y1, y2, sample_weight):
        loss, to_logits = self._divergence_loss(len(y1.shape))
        mask = internals.get_keras_mask(y1)
        if to_logits:
            y1, y2 = _probs_to_logits(y1), _probs_to_logits(y2)
            if mask is not None:
                internals.set_keras_mask(y1, mask)
        if (
            sample_weight is None
            and mask is None
            and loss.reduction == "sum_over_batch_size"
        ):
            # What Loss.__call__ computes here, without its per-call overhead.
            return ops.mean(loss.call(y2, y1))
        return loss(y2, y1, sample_weight=sample_weight)

    def _fused_logits(self, y_pred):
        """`(y_pred, divergence loss, class axis)` where a fused PyTorch node
        may take the doubled output, else None.

        The common classifier case: softmax divergence on float32 logits (a
        real tensor, no Keras mask), outside a `StatelessScope` (whose
        variables the node could not update in place).
        """
        if keras.backend.backend() != "torch" or internals.in_stateless_scope():
            return None
        if not ops.is_tensor(y_pred):
            y_pred = keras.tree.flatten(y_pred)[0]
        if not ops.is_tensor(y_pred) or internals.get_keras_mask(y_pred) is not None:
            return None
        rank = len(y_pred.shape)
        loss, axis = self._fused_axis(rank)
        if (
            axis is None
            or keras.backend.standardize_dtype(y_pred.dtype) != "float32"
            or y_pred.numel() == 0
        ):
            return None
        return y_pred, loss, axis

    def _fused_crossentropy(self, y, y_pred):
        """PyTorch: the whole loss, `ce + alpha/2 * kl`, in one autograd node, or None.

        Where the compiled loss is Keras' `SparseCategoricalCrossentropy` or
        `CategoricalCrossentropy` from logits over the last axis, as built
        by default (no ignored class, label smoothing, loss weight or
        regularization loss), and no sample weights: the node computes the
        cross-entropy that Keras' loss gives on the doubled targets and the
        divergence from one softmax, with closed-form gradients
        (`_torch_kernels.rdrop_crossentropy_kl`), which saves Keras' loss
        machinery its Python per step. Same values and gradients as the
        general path (tests/models/test_rdrop.py).
        """
        kind = self._fused_crossentropy_kind()
        if kind is None or not ops.is_tensor(y):
            return None
        found = self._fused_logits(y_pred)
        if found is None:
            return None
        y_pred, loss, axis = found
        rank = len(y_pred.shape)
        if axis != rank - 1 or y.device != y_pred.device or self.losses:
            return None
        half = (y_pred.shape[0] // 2, *y_pred.shape[1:])
        dtype = keras.backend.standardize_dtype(y.dtype)
        if kind == "sparse":
            if len(y.shape) == rank and y.shape[-1] == 1:
                y = y[..., 0]
            # Float labels go the general way, as Keras converts them.
            if not dtype.startswith(("int", "uint")) or tuple(y.shape) != half[:-1]:
                return None
        elif not dtype.startswith(("float", "bfloat")) or tuple(y.shape) != half:
            return None
        else:
            y = _float32(y)
        from keras_rdkl import _torch_kernels

        total, count = internals.mean_state(self.kl_tracker)
        return _torch_kernels.rdrop_crossentropy_kl(
            y_pred,
            y,
            kind == "sparse",
            0.5 * self.alpha,
            loss.temperature,
            total.value,
            count.value,
        )

    def _fused_crossentropy_kind(self):
        """Which compiled loss the node may compute: "sparse", "categorical" or None.

        Decided once per `compile` (its loss and loss weights).
        """
        weights = internals.compiled_loss_weights(self)
        cached = getattr(self, "_ce_cache", None)
        if cached is not None and cached[0] is self.loss and cached[1] is weights:
            return cached[2]
        loss = self.loss
        kind = None
        expected = {"from_logits": True, "axis": -1}
        if type(loss) is keras.losses.SparseCategoricalCrossentropy:
            kind, expected["ignore_class"] = "sparse", None
        elif type(loss) is keras.losses.CategoricalCrossentropy:
            kind, expected["label_smoothing"] = "categorical", 0.0
        if kind is not None and (
            internals.loss_function_kwargs(loss) != expected
            or loss.reduction != "sum_over_batch_size"
            or keras.backend.standardize_dtype(loss.dtype) != "float32"
            or weights is not None
        ):
            kind = None
        self._ce_cache = (self.loss, weights, kind)
        return kind

    def _fused_divergence(self, y_pred, base):
        """PyTorch: `base + alpha/2 * kl` in one autograd node (logging `kl`), or None.

        The common classifier case (softmax divergence on float32 logits, no
        Keras mask, no sample weights, mean reduction) runs as one node that
        splits, masks, differentiates and updates the `kl` metric in place
        (`_torch_kernels.rdrop_softmax_kl`); every other case, and every
        other backend, takes the general path. Both give the same values and
        gradients (tests/models/test_rdrop.py).
        """
        found = self._fused_logits(y_pred)
        if found is None:
            return None
        y_pred, loss, axis = found
        from keras_rdkl import _torch_kernels

        total, count = internals.mean_state(self.kl_tracker)
        return _torch_kernels.rdrop_softmax_kl(
            y_pred,
            _float32(base),
            0.5 * self.alpha,
            loss.temperature,
            axis,
            total.value,
            count.value,
        )

    def _fused_axis(self, rank):
        """`(divergence loss, class axis >= 1)`; the axis is None where the
        fused PyTorch divergence does not apply."""
        loss, to_logits = self._divergence_loss(rank)
        if (
            type(loss) is not SoftmaxKLDivergence
            or not loss.from_logits
            or to_logits
            or loss.reduction != "sum_over_batch_size"
            or not isinstance(loss.axis, int)
            or not -rank <= loss.axis < rank
        ):
            return loss, None
        axis = loss.axis % rank
        return loss, (axis if axis > 0 else None)

    def _mean_of_halves(self):
        """Whether the compiled loss of the 2B rows is the mean of the halves' losses.

        True for Keras' and keras-rdkl's own per-sample losses with a mean
        reduction, where one call on `[y; y]` and the doubled predictions
        equals `(L(y, y1) + L(y, y2)) / 2` and saves a loss evaluation per
        step. Anything else (user losses, which may look across the batch,
        and `"sum"` reductions) is evaluated on each half.
        """
        cached = getattr(self, "_halves_cache", None)
        if cached is not None and cached[0] is self.loss:
            return cached[1]
        result = _is_mean_per_sample_loss(self.loss)
        self._halves_cache = (self.loss, result)
        return result

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not (training and self._doubled):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if sample_weight is None:
            fused = self._fused_crossentropy(y, y_pred)
            if fused is not None:
                return fused
        terms = []
        halves = None  # the split output, made once where needed
        if self.loss is None and self.losses:
            # Only regularization losses: counted once.
            loss = super().compute_loss(x, y, y_pred, None, training=training)
            terms.append(_float32(loss))
        elif self.loss is not None and self._mean_of_halves():
            # One call on the 2B rows with the targets (and weights) doubled:
            # the mean of the two halves' losses, plus the regularization
            # losses once.
            loss = super().compute_loss(
                x, _twice(y), y_pred, _twice(sample_weight), training=training
            )
            terms.append(_float32(loss))
        elif self.loss is not None:
            # Keras' own loss on each half: the compiled loss (sample weights
            # and masks included) plus the regularization losses, which the
            # average of the two counts once.
            halves = self._halves(y_pred)
            l1 = super().compute_loss(
                x, y, halves[0], _fresh(sample_weight), training=training
            )
            l2 = super().compute_loss(
                x, y, halves[1], _fresh(sample_weight), training=training
            )
            terms.append(0.5 * (_float32(l1) + _float32(l2)))
        if terms and sample_weight is None:
            fused = self._fused_divergence(y_pred, terms[0])
            if fused is not None:
                return fused
        y1, y2 = halves or self._halves(y_pred)
        d = _float32(self._divergence(y1, y2, _fresh(sample_weight)))
        self.kl_tracker.update_state(d)
        terms.append(d * (0.5 * self.alpha))
        return terms[0] + terms[1] if len(terms) > 1 else terms[0]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Compiled metrics see the first half; without any, y_pred is unused.
        if self._doubled and internals.has_compiled_metrics(self):
            y_pred = self._halves(y_pred)[0]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        kl = (
            self.kl
            if isinstance(self.kl, str)
            else keras.saving.serialize_keras_object(self.kl)
        )
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
