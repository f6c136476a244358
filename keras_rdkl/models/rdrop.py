"""R-Drop: train any Keras model on two dropout samples of every batch."""

import collections
import warnings

import keras
from keras import ops

from keras_rdkl import _keras_internals as internals
from keras_rdkl import _numerics as num
from keras_rdkl.models import _kl_choice
from keras_rdkl.models import _wrapping


class TwoSamples(collections.namedtuple("TwoSamples", ["both"])):
    """What `call` returns inside a training step: the doubled pass.

    `both` holds the 2B output rows, the first dropout sample of the batch on
    top of the second; `halves()` splits them (Keras masks kept).
    """

    __slots__ = ()

    def halves(self):
        return _halves(self.both)


def _per_sample_losses():
    """Loss classes computed sample by sample (nothing across the batch).

    Their mean over the 2B doubled rows, with the targets and weights
    doubled, is the mean of the two halves' losses. Exact types only: a
    subclass may look across the batch.
    """
    from keras_rdkl import losses

    return (
        keras.losses.BinaryCrossentropy,
        keras.losses.BinaryFocalCrossentropy,
        keras.losses.CategoricalCrossentropy,
        keras.losses.CategoricalFocalCrossentropy,
        keras.losses.SparseCategoricalCrossentropy,
        keras.losses.KLDivergence,
        keras.losses.MeanSquaredError,
        keras.losses.MeanAbsoluteError,
        keras.losses.Huber,
        losses.MultilabelCategoricalCrossentropy,
        losses.SparseMultilabelCategoricalCrossentropy,
        losses.GammaCrossentropy,
        losses.SparseGammaCrossentropy,
        losses.CRFLoss,
    )


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


def _twice(structure):
    """Every tensor of `structure` stacked on itself along the batch axis."""

    def double(t):
        t = ops.convert_to_tensor(t)  # once, not once per copy
        return ops.concatenate([t, t], axis=0)

    if structure is None:
        return None
    return keras.tree.map_structure(double, structure)


def _halves(y_pred):
    """The 2B output rows split into two samples of B rows, masks kept."""
    y_pred = keras.tree.flatten(y_pred)[0]
    mask = internals.get_keras_mask(y_pred)
    first, second = ops.split(y_pred, 2, axis=0)
    if mask is not None:
        mask_first, mask_second = ops.split(mask, 2, axis=0)
        internals.set_keras_mask(first, mask_first)
        internals.set_keras_mask(second, mask_second)
    return first, second


@keras.saving.register_keras_serializable(package="keras_rdkl")
class RDropModel(keras.Model):
    """R-Drop wrapper: two dropout samples per batch and a symmetric KL between them.

    In each training step of `fit` the batch `x` of B rows goes through the
    wrapped model once as `[x; x]` (2B rows, concatenated on the batch axis;
    for dict or tuple inputs every input is doubled). Dropout draws an
    independent mask per row, so the two halves of the output are two
    sub-models' predictions `y1`, `y2`. The training loss is

    ```
    loss = 1/2 (L(y, y1) + L(y, y2)) + alpha * 1/2 * mean(D(y1, y2)) + reg
    ```

    with `L` the compiled loss (sample weights and Keras masks included), `D`
    a symmetric KL divergence from `keras_rdkl.losses`
    (`D = KL(P1||P2) + KL(P2||P1)`, so `alpha` is on the official R-Drop
    scale) averaged over samples (and over unmasked positions for sequence
    outputs) the way the compiled loss is, and `reg` the model's
    regularization losses counted once. The unscaled mean divergence is
    logged as `kl`.

    How it runs, top to bottom: `train_step` is Keras' own for the backend,
    run with one difference: inside it `call` makes the doubled pass and
    returns it marked as two samples (`TwoSamples`); `compute_loss` takes the
    compiled loss on each sample and adds the divergence (for Keras' and
    keras-rdkl's per-sample loss classes with a mean reduction, one call on
    the 2B rows with the targets doubled gives that mean, a loss evaluation
    saved); `compute_metrics` gives the compiled metrics the first sample. So
    TensorFlow (with or without XLA), JAX (stateless, jitted,
    `keras.distribution`) and PyTorch, loss scaling under `mixed_float16`,
    callbacks and validation data all work as for any Keras model. Anywhere
    else, `model(x, training=...)`, `predict` and `evaluate` make one pass of
    the wrapped model and return its B rows (Monte-Carlo dropout with
    `training=True` included).

    Notes:

    - Layers that look across the batch (BatchNormalization statistics,
      in-batch negatives) see 2B rows in training.
    - Weight regularizers are counted once. Keras 3.14 and later normalize
      activity regularizers by the batch size, so the doubled pass counts
      them once; before 3.14 they are sums over the 2B rows, twice a plain
      model's value. Losses added with `add_loss` in a `call` are computed
      on the 2B rows.
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
            `keras_rdkl.losses.SigmoidKLDivergence` instance.
            `"softmax"` compares one-class-per-row outputs, `"sigmoid"`
            independent classes (the GlobalPointer / multi-label divergence:
            sums over the class axis, over `(-2, -1)` for rank-4
            GlobalPointer outputs, or over the compiled loss' `axis`).
            Whether outputs are logits or probabilities is read from the
            compiled loss' `from_logits` (ZLPR losses take scores; Keras'
            function and string losses take probabilities) or, without such
            a hint, from the last layer's activation (sigmoid probabilities
            are mapped back to logits for `"sigmoid"`). `"auto"` picks the
            family of the compiled loss, recognised by type (Keras' and
            keras-rdkl's loss classes, their subclasses, and losses
            registered with `keras_rdkl.models.register_loss_family`; a
            function loss by identity, never by name), else the last
            layer's activation (softmax or sigmoid); anything else is a
            `ValueError` asking for `kl=`. The class axis comes from the
            loss' `get_config()`; Keras' `SparseCategoricalCrossentropy`
            leaves its `axis` out of it, so for a class axis other than the
            last pass `kl=SoftmaxKLDivergence(axis=...)`.
        **kwargs: Passed to `keras.Model` (`name`, ...).

    Call arguments:
        inputs: The wrapped model's inputs (tensor, list, tuple or dict).
        training: Passed to the wrapped model.

    Returns:
        The wrapped model's predictions for the B rows of `inputs` (inside
        `fit`'s training step, the two samples described above).

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
    >>> tuple(model(np.ones((5, 8)), training=True).shape)
    (5, 3)

    References:
        - Liang et al., "R-Drop: Regularized Dropout for Neural Networks",
          NeurIPS 2021.
        - Su Jianlin, "又是Dropout两次！这次它做到了有监督任务的SOTA" (2021).
    """

    def __init__(self, model, alpha=1.0, kl="auto", **kwargs):
        _wrapping.check_model(model, "RDropModel")
        alpha = _wrapping.as_number(alpha, "alpha")
        kl = _kl_choice.check_kl(kl)
        super().__init__(**kwargs)
        self.model = model
        self.alpha = alpha
        self.kl = kl
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self._set_attribute("_in_train_step", False)
        self._set_attribute("_divergence", (None, None))
        self._set_attribute("_per_sample", (None, None))
        if not any(_is_stochastic(layer) for layer in internals.flatten_layers(model)):
            warnings.warn(
                f"RDropModel: the wrapped model {model.name!r} has no Dropout-like "
                "layer, so both passes agree and the divergence `kl` will stay 0.",
                stacklevel=2,
            )
        self.built = True

    def _set_attribute(self, name, value):
        # Plain bookkeeping, kept out of Keras' attribute tracking.
        object.__setattr__(self, name, value)

    def train_step(self, *args, **kwargs):
        # Keras' own step for the backend; inside it `call` makes both passes.
        self._set_attribute("_in_train_step", True)
        try:
            return super().train_step(*args, **kwargs)
        finally:
            self._set_attribute("_in_train_step", False)

    def call(self, inputs, training=None):
        if training and self._in_train_step:
            return TwoSamples(self.model(_twice(inputs), training=True))
        return self.model(inputs, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not isinstance(y_pred, TwoSamples):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        first, second = y_pred.halves()
        if self._is_per_sample_loss():
            # One call on the 2B rows with the targets and weights doubled: the
            # mean of the two samples' losses, regularization losses once.
            loss = super().compute_loss(
                x,
                _twice(y),
                y_pred.both,
                _wrapping.fresh(_twice(sample_weight)),
                training,
            )
        else:
            # The compiled loss on each sample (your own loss may look across
            # the batch); each includes the regularization losses, which the
            # mean counts once.
            losses = [
                super(RDropModel, self).compute_loss(
                    x, y, sample, _wrapping.fresh(sample_weight), training=training
                )
                for sample in (first, second)
            ]
            loss = 0.5 * (num.to_compute(losses[0]) + num.to_compute(losses[1]))
        divergence = num.to_compute(
            self._kl(first, second, _wrapping.fresh(sample_weight))
        )
        self.kl_tracker.update_state(divergence)
        return num.to_compute(loss) + (0.5 * self.alpha) * divergence

    def _is_per_sample_loss(self):
        """Whether the compiled loss is one of `_per_sample_losses` with a mean."""
        compiled, known = self._per_sample
        if known is None or compiled is not self.loss:
            loss = self.loss
            known = type(loss) in _per_sample_losses() and loss.reduction in (
                "sum_over_batch_size",
                "mean",
            )
            self._set_attribute("_per_sample", (loss, known))
        return known

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, TwoSamples):
            y_pred = y_pred.halves()[0]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def _kl(self, y1, y2, sample_weight):
        """The mean divergence between the two samples (masks and weights applied)."""
        # Chosen once per compiled loss (and again after `compile`).
        compiled, chosen = self._divergence
        if chosen is None or compiled is not self.loss:
            chosen = _kl_choice.choose_divergence(
                self.kl, self.loss, self.model, len(y1.shape)
            )
            self._set_attribute("_divergence", (self.loss, chosen))
        return _kl_choice.mean_divergence(chosen, y1, y2, sample_weight)

    def get_config(self):
        kl = _kl_choice.serialize_kl(self.kl)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.model),
            "alpha": self.alpha,
            "kl": kl,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return _wrapping.from_config(cls, config, custom_objects)
