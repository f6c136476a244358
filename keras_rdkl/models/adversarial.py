"""Adversarial training for any Keras model: FGM, PGD and virtual adversarial training."""

import collections
import contextlib

import keras
from keras import ops

from keras_rdkl import _autodiff
from keras_rdkl import _keras_internals as internals
from keras_rdkl import _numerics as num
from keras_rdkl.models import _kl_choice
from keras_rdkl.models import _wrapping

METHODS = ("fgm", "pgd", "vat")
NORMS = ("token", "sequence", "batch")
# The attack gradient is taken on the loss times this under float16, so that
# it does not underflow in a float16 backward; its direction is what is used.
_FLOAT16_ATTACK_SCALE = 1024.0


class AdversarialPasses(
    collections.namedtuple("AdversarialPasses", ["clean", "adversarial", "clean_loss"])
):
    """What `call` returns inside a training step: the clean and perturbed
    outputs, and the compiled loss of the clean one where the attack took it
    (FGM, PGD; None for VAT)."""

    __slots__ = ()


class _Reached(Exception):
    """Stops a probing pass once the perturbed layer has run."""


def _as_count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )
    return value


def find_layer(model, embedding=None):
    """The layer whose output the adversary perturbs.

    `embedding=None`: the `keras.layers.Embedding` (or a subclass, such as
    keras-hub's `ReversibleEmbedding`) with the largest vocabulary among the
    model's layers, nested models included; a string: the layer of that name.
    """
    layers = internals.flatten_layers(model)
    if isinstance(embedding, keras.layers.Layer):
        if not any(layer is embedding for layer in layers):
            raise ValueError(
                f"`embedding` must be a layer of the wrapped model. Received: "
                f"embedding={embedding.name!r}, not found in {model.name!r}"
            )
        return embedding
    if isinstance(embedding, str):
        found = [layer for layer in layers if layer.name == embedding]
        if len(found) != 1:
            names = sorted(
                layer.name
                for layer in layers
                if isinstance(layer, keras.layers.Embedding)
            )
            raise ValueError(
                f"`embedding` must name exactly one layer of the wrapped model "
                f"(found {len(found)}; its Embedding layers: {names}). "
                f"Received: embedding={embedding!r}"
            )
        return found[0]
    if embedding is not None:
        raise ValueError(
            "`embedding` must be None, a layer name or a layer of the wrapped "
            f"model. Received: embedding={embedding!r}"
        )
    candidates = [
        layer for layer in layers if isinstance(layer, keras.layers.Embedding)
    ]
    if not candidates:
        raise ValueError(
            f"The wrapped model {model.name!r} has no `keras.layers.Embedding`; "
            "pass `embedding=` the name of the layer whose output to perturb. "
            "Received: embedding=None"
        )
    largest = max(layer.input_dim for layer in candidates)
    found = [layer for layer in candidates if layer.input_dim == largest]
    if len(found) > 1:
        raise ValueError(
            f"The wrapped model has {len(found)} Embedding layers of the same "
            f"vocabulary size ({[layer.name for layer in found]}); pass "
            "`embedding=` the name of the one to perturb. Received: embedding=None"
        )
    return found[0]


@contextlib.contextmanager
def _replaced_call(layer, wrap):
    """Runs `layer` with `wrap(original_call)` as its `call` (this instance only)."""
    original = layer.call
    object.__setattr__(layer, "call", wrap(original))
    try:
        yield
    finally:
        object.__delattr__(layer, "call")


def _plus(r):
    """A `call` wrapper adding `r` to the layer's first output in a pass."""

    def wrap(original):
        done = []

        def call(*args, **kwargs):
            outputs = original(*args, **kwargs)
            if done:
                return outputs
            done.append(True)
            return ops.add(outputs, ops.cast(r, outputs.dtype))

        return call

    return wrap


@keras.saving.register_keras_serializable(package="keras_rdkl")
class AdversarialModel(keras.Model):
    """Adversarial training: FGM, PGD or virtual adversarial training (VAT).

    In each training step of `fit` the token embeddings of the batch (the
    output of the wrapped model's embedding layer, a tensor `e` of shape
    `[B, L, D]`) are perturbed by a small `r` chosen to hurt the model most,
    and the loss on the perturbed pass is added to the clean one:

    ```
    fgm:  r = epsilon * g / ||g||,  g = d L(y, f(e + r)) / d r at r = 0
          loss = L(y, f(e)) + alpha * L(y, f(e + r))
    pgd:  r_0 = 0;  r_k = P(r_{k-1} + step_size * g_k / ||g_k||), k = 1..steps,
          g_k the gradient at r_{k-1}, P the projection onto ||r|| <= epsilon
          loss = L(y, f(e)) + alpha * L(y, f(e + r_steps))
    vat:  d ~ N(0, I);  repeat power_iterations times:
              d = d D(sg(p), f(e + xi * d / ||d||)) / d d
          r = epsilon * d / ||d||
          loss = L(y, f(e)) + alpha * D(sg(p), f(e + r)),  p = f(e)
    ```

    `L` is the compiled loss (sample weights and Keras masks included), `D` a
    symmetric divergence of `keras_rdkl.losses` chosen as `RDropModel`
    chooses it (`kl=`), `sg` stop-gradient: VAT pulls the perturbed
    prediction towards the clean one, held fixed. `r` is a constant for the
    weights' gradient (no second-order terms).

    Where and how: `r` is added to the output of one layer, found by
    `embedding` (by default the `keras.layers.Embedding` with the largest
    vocabulary: the token embedding of a tagger or of a keras-hub backbone,
    not its segment embedding), on the first call of that layer in each
    pass. `||.||` is the L2 norm per sequence (`norm="sequence"`: over each
    sample's `L x D` entries, as Miyato et al. do), per token (`"token"`) or
    over the whole batch (`"batch"`: bert4keras and bert4torch normalize the
    whole embedding-matrix gradient). Positions the embedding layer masks
    (`mask_zero=True`: padding) are not perturbed. All passes of a step draw
    the same dropout masks (each starts from the same random-seed state), so
    the adversarial term measures the perturbation only, not dropout noise
    (that is R-Drop's term).

    Semi-supervised VAT: VAT's term needs no labels and counts every row,
    whatever its sample weight. Give unlabeled rows any target of the right
    shape (zeros) and sample weight 0: the compiled loss skips them and VAT
    still uses them.

    Cost per step: FGM about two forward and two backward passes, PGD
    `steps + 1` of each, VAT `power_iterations + 2` forward passes
    (BENCHMARKS.md has the measured ratios). `epsilon=0` or `alpha=0` makes
    no extra pass: the model trains exactly as the plain one.

    `predict`, `evaluate` and `model(x, training=...)` outside `fit` make one
    plain pass of the wrapped model and return its output.

    Args:
        model: A built Keras model (Sequential, functional or subclassed) with
            a single output.
        method: `"fgm"`, `"pgd"` or `"vat"`.
        epsilon: Finite float >= 0, the size of the perturbation (`||r||`).
        alpha: Finite float >= 0, the weight of the adversarial term.
        embedding: None, or the name of the layer (or the layer) whose output
            is perturbed.
        norm: `"sequence"`, `"token"` or `"batch"`: the axes of `||.||`.
        steps: PGD's number of attack steps (integer >= 1).
        step_size: PGD's step size (finite float > 0).
        xi: VAT's size of the random start (finite float > 0), small
            against `epsilon`: the power iteration estimates the most
            sensitive direction at the clean point. bert4keras' VAT example
            uses 10 on its scale; on per-sentence norms of from-scratch
            embeddings (about 0.5 a token) that large a start stalled
            training in our runs (docs/adversarial.md).
        power_iterations: VAT's number of power iterations (integer >= 1).
        kl: VAT's divergence: `"auto"`, `"sigmoid"` (GlobalPointer and
            multi-label logits), `"softmax"`, or a
            `keras_rdkl.losses.SigmoidKLDivergence` /
            `SoftmaxKLDivergence` instance; as in `RDropModel`.
        seed: Seed of VAT's random start (int or None).
        **kwargs: Passed to `keras.Model` (`name`, ...).

    Example:

    >>> import numpy as np
    >>> tokens = keras.Input((None,), dtype="int32")
    >>> h = keras.layers.Embedding(50, 8, mask_zero=True)(tokens)
    >>> h = keras.layers.GlobalAveragePooling1D()(h)
    >>> base = keras.Model(tokens, keras.layers.Dense(3)(h))
    >>> model = AdversarialModel(base, method="fgm", epsilon=0.5)
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> history = model.fit(np.ones((4, 6)), np.zeros((4,)), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['adversarial_loss', 'loss']
    >>> tuple(model(np.ones((5, 6)), training=True).shape)
    (5, 3)

    References:
        - Goodfellow et al., "Explaining and Harnessing Adversarial Examples",
          ICLR 2015; Miyato et al., "Adversarial Training Methods for
          Semi-Supervised Text Classification", ICLR 2017 (FGM on embeddings).
        - Madry et al., "Towards Deep Learning Models Resistant to Adversarial
          Attacks", ICLR 2018 (PGD).
        - Miyato et al., "Virtual Adversarial Training: A Regularization
          Method for Supervised and Semi-Supervised Learning", TPAMI 2018.
        - Su Jianlin, "对抗训练浅谈：意义、方法和思考" (2020) and
          "泛化性乱弹：从随机噪声、梯度惩罚到虚拟对抗训练" (2020).
    """

    def __init__(
        self,
        model,
        method="fgm",
        epsilon=1.0,
        alpha=1.0,
        embedding=None,
        norm="sequence",
        steps=3,
        step_size=0.3,
        xi=1e-3,
        power_iterations=1,
        kl="auto",
        seed=None,
        **kwargs,
    ):
        _wrapping.check_model(model, "AdversarialModel")
        if method not in METHODS:
            raise ValueError(
                f"`method` must be one of {METHODS}. Received: method={method!r}"
            )
        if norm not in NORMS:
            raise ValueError(f"`norm` must be one of {NORMS}. Received: norm={norm!r}")
        layer = find_layer(model, embedding)
        super().__init__(**kwargs)
        self.model = model
        self.method = method
        self.epsilon = _wrapping.as_number(epsilon, "epsilon")
        self.alpha = _wrapping.as_number(alpha, "alpha")
        self.embedding = layer.name
        self.norm = norm
        self.steps = _as_count(steps, "steps")
        self.step_size = _wrapping.as_number(step_size, "step_size", positive=True)
        self.xi = _wrapping.as_number(xi, "xi", positive=True)
        self.power_iterations = _as_count(power_iterations, "power_iterations")
        self.kl = _kl_choice.check_kl(kl)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.adversarial_tracker = keras.metrics.Mean(name="adversarial_loss")
        self._set_attribute("_layer", layer)
        self._set_attribute("_batch", None)
        self._set_attribute("_divergence", (None, None))
        self.built = True

    def _set_attribute(self, name, value):
        # Plain bookkeeping, kept out of Keras' attribute tracking.
        object.__setattr__(self, name, value)

    @property
    def active(self):
        """False when `epsilon` or `alpha` is 0: training is then the plain model's."""
        return self.epsilon > 0 and self.alpha > 0

    def train_step(self, *args, **kwargs):
        # Keras' own step for the backend; `call` reads the targets from here.
        _, y, sample_weight = keras.utils.unpack_x_y_sample_weight(args[-1])
        self._set_attribute("_batch", (y, sample_weight))
        try:
            return super().train_step(*args, **kwargs)
        finally:
            self._set_attribute("_batch", None)

    def call(self, inputs, training=None):
        if not (training and self._batch is not None and self.active):
            return self.model(inputs, training=training)
        y, sample_weight = self._batch
        return AdversarialPasses(*self._passes(inputs, y, sample_weight))

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not isinstance(y_pred, AdversarialPasses):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = y_pred.clean_loss
        if loss is None:
            loss = super().compute_loss(
                x, y, y_pred.clean, _wrapping.fresh(sample_weight), training=training
            )
        if self.method == "vat":
            term = self._divergence_of(
                ops.stop_gradient(y_pred.clean), y_pred.adversarial
            )
        else:
            term = self._loss_object()(
                y, y_pred.adversarial, sample_weight=_wrapping.fresh(sample_weight)
            )
        term = num.to_compute(term)
        self.adversarial_tracker.update_state(term)
        return num.to_compute(loss) + self.alpha * term

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, AdversarialPasses):
            y_pred = y_pred.clean
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # ---- the perturbation -----------------------------------------------------

    def perturbation(self, x, y=None, sample_weight=None, start=None):
        """The perturbation `r` a training step on this batch would add.

        Args:
            x: The wrapped model's inputs for one batch.
            y: Targets (FGM and PGD; VAT needs none).
            sample_weight: Optional sample weights (FGM and PGD).
            start: VAT only: the start direction `d` (shaped as the embedding
                output) in place of a random one.

        Returns:
            `r`, shaped as the perturbed layer's output, in float32.
        """
        if self.method != "vat" and y is None:
            raise ValueError(
                f"`y` is needed for method={self.method!r}. Received: y=None"
            )
        r, _, _, _ = self._attack(x, y, sample_weight, start=start)
        return r

    def _passes(self, inputs, y, sample_weight):
        """The clean output, the output under the adversarial perturbation
        and the clean loss (or None)."""
        r, clean, clean_loss, seeds = self._attack(inputs, y, sample_weight)
        adversarial = self._run(inputs, ops.stop_gradient(r), seeds)
        return clean, adversarial, clean_loss

    def _seeds(self):
        """The random state every pass of a step starts from (same dropout masks).

        `(variable, value)` of every `SeedGenerator` state of the wrapped
        model (Keras counts them in `variables`, not in `weights`), and the
        backend generator's state where Keras dropout draws from it.
        """
        weights = {id(w) for w in self.model.weights}
        states = [
            (v, ops.copy(v.value)) for v in self.model.variables if id(v) not in weights
        ]
        return states, _autodiff.random_state()

    def _run(self, inputs, r, seeds):
        """A training pass with `r` added to the layer's output (None: nothing)."""
        states, backend_state = seeds
        for variable, value in states:
            variable.assign(value)
        _autodiff.set_random_state(backend_state)
        if r is None:
            return self.model(inputs, training=True)
        with _replaced_call(self._layer, _plus(r)):
            return self.model(inputs, training=True)

    def _attack(self, inputs, y, sample_weight, start=None):
        """`(r, clean output, clean loss or None, seeds)`."""
        seeds = self._seeds()
        shape, mask = self._probe(inputs)
        if self.method == "vat":
            return self._virtual_attack(inputs, shape, mask, seeds, start)
        self._loss_object()  # a clear error when nothing is compiled
        compiled = super().compute_loss
        scale = self._attack_scale()

        def objective(r):
            # The compiled loss (regularization included): the same direction
            # as the loss alone, and at r = 0 the step's clean loss.
            y_pred = self._run(inputs, r, seeds)
            sw = _wrapping.fresh(sample_weight)
            return scale * num.to_compute(compiled(inputs, y, y_pred, sw)), y_pred

        # The clean pass is the attack's first pass: its loss is the step's
        # clean loss, and its weight gradient is shared with the attack's
        # backward where the backend would otherwise run it twice.
        (value, clean), grad = _autodiff.value_and_grad(
            objective, ops.zeros(shape), self.model.variables, self.trainable_weights
        )
        clean_loss = value / scale
        if self.method == "fgm":
            return self.epsilon * self._unit(grad, mask), clean, clean_loss, seeds
        r = self._project(self.step_size * self._unit(grad, mask))
        for _ in range(self.steps - 1):
            _, grad = _autodiff.value_and_grad(objective, r, self.model.variables)
            r = self._project(r + self.step_size * self._unit(grad, mask))
        return r, clean, clean_loss, seeds

    def _virtual_attack(self, inputs, shape, mask, seeds, start):
        clean = self._run(inputs, None, seeds)
        target = ops.stop_gradient(clean)
        scale = self._attack_scale()
        if start is None:
            start = keras.random.normal(shape, seed=self.seed_generator)
        direction = ops.convert_to_tensor(start, "float32")

        def objective(r):
            y_pred = self._run(inputs, r, seeds)
            return scale * self._divergence_of(target, y_pred), None

        for _ in range(self.power_iterations):
            _, direction = _autodiff.value_and_grad(
                objective, self.xi * self._unit(direction, mask), self.model.variables
            )
        return self.epsilon * self._unit(direction, mask), clean, None, seeds

    def _probe(self, inputs):
        """Shape and Keras mask of the perturbed layer's output on `inputs`.

        Runs the model up to that layer and stops: free under `jit`, the
        layers before it otherwise (an embedding lookup for a tagger).
        """
        layer = self._layer
        found = []

        def wrap(original):
            def call(*args, **kwargs):
                outputs = original(*args, **kwargs)
                try:
                    mask = layer.compute_mask(*args[:1], kwargs.get("mask"))
                except (TypeError, ValueError, NotImplementedError):
                    mask = None
                found.append((ops.shape(outputs), mask))
                raise _Reached()

            return call

        with _replaced_call(layer, wrap):
            try:
                self.model(inputs, training=True)
            except _Reached:
                pass
            except Exception:
                # Keras may re-raise an exception as another type with call details.
                if not found:
                    raise
        if not found:
            raise ValueError(
                f"The layer {layer.name!r} (`embedding`) did not run when the "
                f"wrapped model {self.model.name!r} was called; name a layer the "
                f"model calls. Received: embedding={self.embedding!r}"
            )
        return found[0]

    def _axes(self, rank):
        if self.norm == "token":
            return (rank - 1,)
        if self.norm == "sequence":
            return tuple(range(1, rank))
        return tuple(range(rank))

    def _unit(self, g, mask):
        """`g / ||g||` over the norm's axes, 0 where masked or where `g` is 0."""
        g = ops.cast(g, "float32")
        if mask is not None:
            g = ops.where(ops.expand_dims(ops.cast(mask, "bool"), -1), g, 0.0)
        axes = self._axes(len(g.shape))
        # Divide by the largest entry first: the sum of squares of a tiny
        # gradient would underflow to 0.
        peak = ops.max(ops.abs(g), axis=axes, keepdims=True)
        g = ops.divide_no_nan(g, peak)
        norm = ops.sqrt(ops.sum(ops.square(g), axis=axes, keepdims=True))
        return ops.divide_no_nan(g, norm)

    def _project(self, r):
        """`r` scaled back onto the `epsilon`-ball where it left it."""
        axes = self._axes(len(r.shape))
        norm = ops.sqrt(ops.sum(ops.square(r), axis=axes, keepdims=True))
        return r * ops.minimum(1.0, ops.divide_no_nan(self.epsilon, norm))

    def _attack_scale(self):
        policy = keras.config.dtype_policy()
        compute = getattr(self.model.dtype_policy, "compute_dtype", None)
        float16 = "float16" in (policy.compute_dtype, compute)
        return _FLOAT16_ATTACK_SCALE if float16 else 1.0

    def _loss_object(self):
        """The compiled loss as a `keras.losses.Loss` (FGM's and PGD's `L`)."""
        loss = self.loss
        if isinstance(loss, (list, tuple)) and len(loss) == 1:
            loss = loss[0]
        if isinstance(loss, dict) and len(loss) == 1:
            loss = next(iter(loss.values()))
        if isinstance(loss, keras.losses.Loss):
            return loss
        fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        if not callable(fn):
            raise ValueError(
                "AdversarialModel needs one compiled loss (a Loss, a function or "
                f"its name). Received: loss={self.loss!r}"
            )
        return keras.losses.LossFunctionWrapper(fn)

    def _divergence_of(self, target, y_pred):
        compiled, chosen = self._divergence
        if chosen is None or compiled is not self.loss:
            chosen = _kl_choice.choose_divergence(
                self.kl, self.loss, self.model, len(y_pred.shape)
            )
            self._set_attribute("_divergence", (self.loss, chosen))
        return _kl_choice.mean_divergence(chosen, target, y_pred)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.model),
            "method": self.method,
            "epsilon": self.epsilon,
            "alpha": self.alpha,
            "embedding": self.embedding,
            "norm": self.norm,
            "steps": self.steps,
            "step_size": self.step_size,
            "xi": self.xi,
            "power_iterations": self.power_iterations,
            "kl": _kl_choice.serialize_kl(self.kl),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return _wrapping.from_config(cls, config, custom_objects)
