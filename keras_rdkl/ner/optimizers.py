"""Fine-tuning a pretrained tagger: AdamW with a learning rate per variable, warm-up and decay.

The usual recipe for a pretrained backbone under a new head is a small
learning rate for the backbone (2e-5 to 5e-5), a larger one for the head,
linear warm-up over the first steps, then linear decay to 0, and decoupled
weight decay except on biases and normalization scales.
`fine_tuning_optimizer(tagger, total_steps=...)` returns that optimizer.
Keras' own optimizers have one learning rate for every variable, so
`ScaledAdamW` multiplies it per variable (by variable path).
"""

import numbers

import keras
from keras import ops

__all__ = ["ScaledAdamW", "WarmupLinearDecay", "find_backbone", "fine_tuning_optimizer"]

# Variable names (the last part of a path) left out of weight decay: biases
# and the normalization layers' scales and offsets.
NO_DECAY = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="keras_rdkl")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak`, then linear decay to `end`.

    Formula:

    ```
    lr(step) = peak * step / warmup_steps                  step < warmup_steps
             = end + (peak - end) * (total_steps - step)
                   / (total_steps - warmup_steps)          after, 0 past the end
    ```

    Args:
        peak: the learning rate at the end of warm-up.
        warmup_steps: steps of warm-up (0: none).
        total_steps: the step where the rate reaches `end`.
        end: the final rate.

    Example:

    >>> lr = WarmupLinearDecay(1.0, warmup_steps=2, total_steps=6)
    >>> [round(float(lr(s)), 2) for s in range(8)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    def __init__(self, peak, warmup_steps, total_steps, end=0.0):
        if not 0 <= int(warmup_steps) <= int(total_steps) or int(total_steps) < 1:
            raise ValueError(
                "`warmup_steps` and `total_steps` must satisfy 0 <= warmup_steps "
                f"<= total_steps, total_steps >= 1. Received: warmup_steps="
                f"{warmup_steps!r}, total_steps={total_steps!r}"
            )
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.end = float(end)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * step / max(self.warmup_steps, 1)
        left = ops.maximum(float(self.total_steps) - step, 0.0)
        decay = self.end + (self.peak - self.end) * left / max(
            self.total_steps - self.warmup_steps, 1
        )
        return ops.where(step < self.warmup_steps, warm, decay)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "end": self.end,
        }


@keras.saving.register_keras_serializable(package="keras_rdkl")
class ScaledAdamW(keras.optimizers.Optimizer):
    """AdamW whose learning rate is multiplied per variable.

    Formula (PyTorch's and Hugging Face's AdamW; `lr_v = multiplier(v) *
    learning_rate`, `t` counts from 1):

    ```
    v <- v - lr_v * weight_decay * v          (unless excluded from decay)
    m <- beta_1 * m + (1 - beta_1) * g
    s <- beta_2 * s + (1 - beta_2) * g ** 2
    v <- v - lr_v * (m / (1 - beta_1 ** t)) / (sqrt(s / (1 - beta_2 ** t)) + epsilon)
    ```

    The update is written in `keras.ops` in `update_step`, so it runs the
    same on every backend (Keras' PyTorch versions of its own optimizers
    update through fused calls that would skip a per-variable rate).

    Args:
        learning_rate: a float or a `LearningRateSchedule` (the head's rate).
        multipliers: `{variable.path: factor}`; variables not listed keep
            factor 1.
        weight_decay: decoupled weight decay (0: none).
        no_decay: optional list of patterns; a variable whose name (the last
            part of its path) contains one gets no weight decay (Keras'
            `exclude_from_weight_decay(var_names=...)`, kept in the config).
        beta_1, beta_2, epsilon: Adam's constants.
        name: optimizer name.
        **kwargs: base optimizer keyword arguments (`clipnorm`,
            `gradient_accumulation_steps`, ...).

    Example:

    >>> v = keras.Variable([1.0, 2.0], name="w")
    >>> opt = ScaledAdamW(0.1, multipliers={v.path: 0.5}, weight_decay=0.0)
    >>> opt.apply([keras.ops.convert_to_tensor([1.0, -1.0])], [v])
    >>> np.round(keras.ops.convert_to_numpy(v), 4).tolist()  # lr 0.05, sign steps
    [0.95, 2.05]

    Reference:
        - Loshchilov and Hutter, "Decoupled Weight Decay Regularization", 2019.
    """

    def __init__(
        self,
        learning_rate=1e-3,
        multipliers=None,
        weight_decay=0.01,
        no_decay=None,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        name="scaled_adamw",
        **kwargs,
    ):
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        multipliers = dict(multipliers or {})
        for key, value in multipliers.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not value >= 0
            ):
                raise ValueError(
                    "`multipliers` values must be numbers >= 0. Received: "
                    f"multipliers[{key!r}]={value!r}"
                )
        if not 0 <= float(weight_decay):
            raise ValueError(
                f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay!r}"
            )
        self.multipliers = {str(k): float(v) for k, v in multipliers.items()}
        self.decay = float(weight_decay)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.no_decay = None if no_decay is None else [str(n) for n in no_decay]
        if self.no_decay:
            self.exclude_from_weight_decay(var_names=self.no_decay)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        # Per variable index: `update_step` may receive the backend's own
        # variable (TensorFlow), which has neither Keras' path nor its name.
        self._factors = [self.multiplier(v) for v in var_list]
        self._decayed = [
            bool(self.decay) and self._use_weight_decay(v) for v in var_list
        ]

    def multiplier(self, variable):
        """The factor of `variable`'s learning rate (1 when not listed)."""
        return self.multipliers.get(variable.path, 1.0)

    def _apply_weight_decay(self, variables):
        # Decoupled decay happens in `update_step`, at each variable's rate.
        return

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, dtype) * self._factors[index]
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        correction_1 = 1 - ops.power(ops.cast(self.beta_1, dtype), step)
        correction_2 = 1 - ops.power(ops.cast(self.beta_2, dtype), step)
        m = self._momentums[index]
        s = self._velocities[index]
        if self._decayed[index]:
            self.assign_sub(variable, variable * (lr * self.decay))
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(s, (ops.square(gradient) - s) * (1 - self.beta_2))
        denominator = ops.sqrt(s / correction_2) + self.epsilon
        self.assign_sub(variable, lr * (m / correction_1) / denominator)

    def get_config(self):
        return {
            **super().get_config(),
            "multipliers": dict(self.multipliers),
            "weight_decay": self.decay,
            "no_decay": self.no_decay,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


def find_backbone(model):
    """The pretrained backbone inside a tagger (or inside a wrapper of one).

    The backbone is the tagger's one nested model: `build_pretrained_tagger`
    and `build_bert_tagger` nest it beside their own head layers. A wrapper
    without weights of its own (`RDropModel`) is looked through.

    Raises:
        ValueError: when no single nested model is found.
    """
    children = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    own = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.Model) and layer.weights
    ]
    if len(children) == 1:
        return children[0] if own else find_backbone(children[0])
    raise ValueError(
        "No single pretrained backbone found in the model (a tagger of "
        "`build_pretrained_tagger` / `build_bert_tagger`, or a wrapper of one): "
        f"pass `backbone`. Received: model {model.name!r} with nested models "
        f"{[c.name for c in children]}"
    )


def fine_tuning_optimizer(
    model,
    total_steps,
    backbone_learning_rate=3e-5,
    head_learning_rate=1e-3,
    warmup=0.1,
    weight_decay=0.01,
    backbone=None,
    **kwargs,
):
    """AdamW for fine-tuning a pretrained tagger: two learning rates, warm-up, decay.

    Args:
        model: the tagger (or a wrapper such as `RDropModel`).
        total_steps: training steps in all (epochs x steps per epoch); the
            rates reach 0 there.
        backbone_learning_rate: peak rate of the backbone's variables.
        head_learning_rate: peak rate of every other variable (the head).
        warmup: warm-up as a fraction of `total_steps` (< 1) or a number of
            steps (>= 1).
        weight_decay: decoupled weight decay, not applied to biases and
            normalization parameters (`NO_DECAY`).
        backbone: the backbone layer (default: `find_backbone(model)`).
        **kwargs: passed to `ScaledAdamW` (`clipnorm`, `epsilon`, ...).

    Returns:
        A `ScaledAdamW` whose learning rate is a `WarmupLinearDecay` to
        `head_learning_rate`, with multiplier `backbone_learning_rate /
        head_learning_rate` on the backbone's trainable variables.
    """
    for key, value in (
        ("backbone_learning_rate", backbone_learning_rate),
        ("head_learning_rate", head_learning_rate),
    ):
        if not float(value) > 0:
            raise ValueError(f"`{key}` must be > 0. Received: {key}={value!r}")
    if not 0 <= float(warmup):
        raise ValueError(f"`warmup` must be >= 0. Received: warmup={warmup!r}")
    total_steps = int(total_steps)
    warmup_steps = int(round(warmup * total_steps)) if warmup < 1 else int(warmup)
    backbone = find_backbone(model) if backbone is None else backbone
    paths = {v.path for v in backbone.trainable_variables}
    backbone_ids = {id(v) for v in backbone.trainable_variables}
    clash = sorted(
        v.path
        for v in model.trainable_variables
        if v.path in paths and id(v) not in backbone_ids
    )
    if clash:
        raise ValueError(
            "Some head variables share a path with backbone variables, so their "
            f"learning rates cannot be told apart: {clash[:5]}. Rename the head "
            "layers."
        )
    ratio = float(backbone_learning_rate) / float(head_learning_rate)
    schedule = WarmupLinearDecay(
        float(head_learning_rate), min(warmup_steps, total_steps), total_steps
    )
    optimizer = ScaledAdamW(
        schedule,
        multipliers={path: ratio for path in sorted(paths)},
        weight_decay=weight_decay,
        no_decay=list(NO_DECAY),
        **kwargs,
    )
    return optimizer
