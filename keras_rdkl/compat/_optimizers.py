"""bert4keras' optimizers (0.11.5) on Keras 3's own optimizer machinery.

bert4keras scripts build their optimizer from `Adam` and the
`extend_with_*` class factories. Here each factory returns a subclass that
takes bert4keras' argument and hands it to the Keras 3 feature that does the
same job, so the result trains inside `model.fit` on every backend and saves
with the model:

| bert4keras                                   | Keras 3                                        |
|----------------------------------------------|------------------------------------------------|
| `Adam(epsilon=1e-6, bias_correction=True)`   | an `Optimizer` with bert4keras' update rule    |
| `extend_with_piecewise_linear_lr`: `lr_schedule` | `PiecewiseLinearSchedule` as `learning_rate`  |
| `extend_with_weight_decay`: `weight_decay_rate`, `exclude_from_weight_decay` | `weight_decay=`, `exclude_from_weight_decay(var_list=...)` |
| `extend_with_gradient_accumulation`: `grad_accum_steps` | `gradient_accumulation_steps=`       |
| `extend_with_exponential_moving_average`: `ema_momentum`, `apply_ema_weights`, `reset_old_weights` | `use_ema=True`, `ema_momentum=`, `finalize_variable_values` |

The `_v2` spellings (bert4keras' tf.keras variants) are the same functions.
Factories compose as in bert4keras, e.g.
`extend_with_piecewise_linear_lr(extend_with_weight_decay(Adam))`.

Every class a factory makes is registered for saving as
`"keras_rdkl.compat>{name}"`; as with bert4keras' `custom_objects`, a script
that reloads a saved model runs its `extend_with_*` lines before
`keras.saving.load_model`. Calling a factory again with the same base and
name returns the same class.

Where Keras 3 does a thing differently, it is said where it matters:
gradient accumulation applies the mean of the last `grad_accum_steps`
gradients on the step that completes them (bert4keras applies them one batch
later), and the moving average starts from the first step's weights instead
of zeros, so `apply_ema_weights` needs no bias correction but weights the
first step more until `ema_momentum**steps` is small.
"""

import inspect
import itertools
import numbers
import re

import keras
import numpy as np
from keras import ops

from keras_rdkl import _checks as checks

__all__ = [
    "Adam",
    "PiecewiseLinearSchedule",
    "extend_with_exponential_moving_average",
    "extend_with_exponential_moving_average_v2",
    "extend_with_gradient_accumulation",
    "extend_with_gradient_accumulation_v2",
    "extend_with_piecewise_linear_lr",
    "extend_with_piecewise_linear_lr_v2",
    "extend_with_weight_decay",
    "extend_with_weight_decay_v2",
    "piecewise_linear",
]

_PACKAGE = "keras_rdkl.compat"
_register = keras.saving.register_keras_serializable(package=_PACKAGE)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_real(value, name, low, high, high_open=False):
    """Returns `float(value)`; ValueError unless it is a number in [low, high]."""
    ok = _is_real(value) and np.isfinite(value) and low <= value
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        bracket = ")" if high_open else "]"
        raise ValueError(
            f"`{name}` must be a number in [{low}, {high}{bracket}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def _as_learning_rate(value, name="learning_rate"):
    """A Python float, a `LearningRateSchedule` or a callable, as Keras takes it.

    bert4keras (tf.keras) also took integers and NumPy scalars, which Keras 3
    refuses; they become floats here.
    """
    if isinstance(value, dict):  # a serialized schedule, from a saved config
        value = keras.saving.deserialize_keras_object(value)
    if _is_real(value):
        return float(value)
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    raise ValueError(
        f"`{name}` must be a number or a "
        "`keras.optimizers.schedules.LearningRateSchedule`. "
        f"Received: {name}={value!r}"
    )


def _schedule_points(schedule, from_zero, name="schedule"):
    """bert4keras' `{step: value}` as sorted `(int step, float value)` pairs.

    Steps may be integers or their strings (JSON turns the keys of a saved
    config into strings), as bert4keras' `int(step)` allows.
    """
    if not isinstance(schedule, dict) or not schedule:
        raise ValueError(
            f"`{name}` must be a non-empty dict {{step: value}}, e.g. "
            f"{{1000: 1, 2000: 0.1}}. Received: {name}={schedule!r}"
        )
    points = {}
    for step, value in schedule.items():
        try:
            int_step = int(step)
            integral = float(step) == int_step
        except (TypeError, ValueError):
            integral = False
        if not integral or int_step < 0:
            raise ValueError(
                f"`{name}` must have integer steps >= 0 as keys. "
                f"Received: {name}={schedule!r}"
            )
        if not _is_real(value) or not np.isfinite(value):
            raise ValueError(
                f"`{name}` must map steps to finite numbers. "
                f"Received: {name}={schedule!r}"
            )
        if int_step in points:
            raise ValueError(
                f"`{name}` names step {int_step} twice. Received: {name}={schedule!r}"
            )
        points[int_step] = float(value)
    points = sorted(points.items())
    if from_zero and points[0][0] != 0:
        points = [(0, 0.0)] + points
    return points


def _interpolate(t, points):
    """The piecewise-linear function through `points`, at float32 tensor `t`."""
    ones = ops.ones_like(t)
    value = ones * points[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        slope = (v1 - v0) / (t1 - t0)
        value = ops.where(t >= t0, v0 + slope * (t - t0), value)
    return ops.where(t >= points[-1][0], ones * points[-1][1], value)


def piecewise_linear(t, schedule, from_zero=True):
    """bert4keras' piecewise-linear function of the step, in `keras.ops`.

    Between two points of `schedule` the value moves linearly; before the
    first point it holds the first value, after the last it holds the last.
    With `from_zero=True` (bert4keras' default) a schedule whose first step
    is not 0 gets the point `(0, 0.0)` in front, so `{1000: 1, 2000: 0.1}`
    rises from 0 to 1 over steps 0..1000, falls to 0.1 by step 2000 and stays
    there.

    Args:
        t: the step: a Python number or a scalar (or any-shaped) tensor.
        schedule: a non-empty dict `{step: value}` with integer steps >= 0.
        from_zero: whether to start from the value 0 at step 0.

    Returns:
        A float32 tensor shaped like `t`.

    Example:

    >>> schedule = {1000: 1, 2000: 0.1}
    >>> [round(float(piecewise_linear(t, schedule)), 4) for t in (0, 500, 1500, 9000)]
    [0.0, 0.5, 0.55, 0.1]
    """
    points = _schedule_points(schedule, from_zero)
    return _interpolate(ops.cast(t, "float32"), points)


@_register
class PiecewiseLinearSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate times bert4keras' piecewise-linear multiplier of the step.

    This is what bert4keras' `extend_with_piecewise_linear_lr` does to the
    learning rate, as a Keras `LearningRateSchedule`: any Keras optimizer can
    take it as its `learning_rate`.

    Formula:

    ```
    lr(step) = learning_rate * piecewise_linear(step, schedule, from_zero)
    ```

    Args:
        learning_rate: the base learning rate: a number or a
            `keras.optimizers.schedules.LearningRateSchedule` (then its value
            at the step is multiplied).
        schedule: a non-empty dict `{step: multiplier}` with integer steps
            >= 0, e.g. `{1000: 1, 2000: 0.1}`: warm up linearly from 0 to the
            full rate over 1000 steps, decay linearly to 10% by step 2000,
            then hold 10%.
        from_zero: whether the multiplier starts from 0 at step 0 when the
            first step in `schedule` is not 0 (bert4keras always does).

    Example:

    >>> lr = PiecewiseLinearSchedule(1e-3, {1000: 1, 2000: 0.1})
    >>> [round(float(lr(step)), 6) for step in (0, 500, 1000, 1500, 3000)]
    [0.0, 0.0005, 0.001, 0.00055, 0.0001]
    >>> optimizer = keras.optimizers.SGD(learning_rate=lr)
    """

    def __init__(self, learning_rate, schedule, from_zero=True):
        self.learning_rate = _as_learning_rate(learning_rate)
        self.from_zero = bool(from_zero)
        self.schedule = dict(_schedule_points(schedule, False))
        self._points = _schedule_points(self.schedule, self.from_zero)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = self.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = ops.cast(rate(step), "float32")
        return rate * _interpolate(step, self._points)

    def get_config(self):
        rate = self.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = keras.saving.serialize_keras_object(rate)
        return {
            "learning_rate": rate,
            "schedule": dict(self.schedule),
            "from_zero": self.from_zero,
        }


@_register
class Adam(keras.optimizers.Optimizer):
    """bert4keras' Adam: epsilon added to the bias-corrected second moment.

    bert4keras (and the Adam paper's Algorithm 1) divides the bias-corrected
    first moment by `sqrt(v_hat) + epsilon`; `keras.optimizers.Adam` folds
    the bias correction into the step size and adds its epsilon to the
    uncorrected `sqrt(v)`, which for the same `epsilon` is a larger epsilon
    early in training. This class keeps bert4keras' rule and defaults
    (`epsilon=1e-6`), and can turn the bias correction off.

    Formula (`t` counts updates from 1):

    ```
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    m_hat, v_hat = m / (1 - beta_1**t), v / (1 - beta_2**t)  # bias_correction
    w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)
    ```

    Args:
        learning_rate: a number, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable,
            as Keras takes it. Defaults to `0.001`.
        beta_1: decay of the first-moment estimate, in [0, 1). Defaults to
            `0.9`.
        beta_2: decay of the second-moment estimate, in [0, 1). Defaults to
            `0.999`.
        epsilon: added to `sqrt(v_hat)`. Defaults to `1e-6`; `None` or 0
            means `keras.config.epsilon()`, as in bert4keras.
        bias_correction: whether to divide the moments by `1 - beta**t`.
            Defaults to `True`.
        **kwargs: the arguments of every Keras optimizer (`weight_decay`,
            `clipnorm`, `global_clipnorm`, `use_ema`,
            `gradient_accumulation_steps`, `name`, ...).

    Example:

    >>> optimizer = Adam(learning_rate=0.1)
    >>> w = keras.Variable([1.0, -2.0])
    >>> optimizer.apply([ops.convert_to_tensor([0.5, -1e-6])], [w])
    >>> [round(x, 4) for x in ops.convert_to_numpy(w).tolist()]
    [0.9, -1.95]

    The first step moves each weight by `learning_rate * g / (|g| + 1e-6)`:
    a gradient of -1e-6 gets half a step (`keras.optimizers.Adam` with the
    same epsilon gives it 3%).
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        bias_correction=True,
        **kwargs,
    ):
        if not callable(learning_rate):
            learning_rate = _as_learning_rate(learning_rate)
        beta_1 = _check_real(beta_1, "beta_1", 0, 1, high_open=True)
        beta_2 = _check_real(beta_2, "beta_2", 0, 1, high_open=True)
        if epsilon is None or epsilon == 0:
            epsilon = keras.config.epsilon()
        epsilon = _check_real(epsilon, "epsilon", 0, np.inf)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.bias_correction = bool(bias_correction)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        # The index of `variable` among the optimizer's slots: the pattern of
        # Keras' own optimizers and of its custom-optimizer docstring.
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign(m, beta_1 * m + (1.0 - beta_1) * gradient)
        self.assign(v, beta_2 * v + (1.0 - beta_2) * ops.square(gradient))
        m_hat, v_hat = m, v
        if self.bias_correction:
            step = ops.cast(self.iterations + 1, dtype)
            m_hat = m / (1.0 - ops.power(beta_1, step))
            v_hat = v / (1.0 - ops.power(beta_2, step))
        epsilon = ops.cast(self.epsilon, dtype)
        self.assign_sub(variable, lr * m_hat / (ops.sqrt(v_hat) + epsilon))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "bias_correction": self.bias_correction,
            }
        )
        return config


class _Untracked:
    """Holds a list out of Keras' tracking (an optimizer adopts every Variable
    assigned to it, and must not adopt the model's)."""

    __slots__ = ("items",)

    def __init__(self, items=None):
        self.items = items


# (feature, base class, name) -> the class a factory made, so that a second
# call returns the same class and its registration stays the one.
_MADE = {}


def _prepare(BaseOptimizer, name, feature, suffix):
    """Checks a factory's arguments; returns the class name to give and the
    class made before for the same arguments (None the first time)."""
    if not (
        inspect.isclass(BaseOptimizer)
        and issubclass(BaseOptimizer, keras.optimizers.Optimizer)
    ):
        raise ValueError(
            "`BaseOptimizer` must be a Keras optimizer class (a subclass of "
            "`keras.optimizers.Optimizer`, e.g. `Adam`), not an instance. "
            f"Received: BaseOptimizer={BaseOptimizer!r}"
        )
    if feature in getattr(BaseOptimizer, "_bert4keras_extensions", ()):
        raise ValueError(
            f"`BaseOptimizer` is already extended with {feature}; bert4keras "
            "extensions apply once each. "
            f"Received: BaseOptimizer={BaseOptimizer.__name__}"
        )
    if name is None:
        name = BaseOptimizer.__name__ + suffix
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"`name` must be a Python identifier (the class name). Received: name={name!r}"
        )
    return name, _MADE.get((feature, BaseOptimizer, name))


def _finish(cls, BaseOptimizer, name, feature):
    """Names and registers a class a factory made."""
    cls.__name__ = cls.__qualname__ = name
    cls.__module__ = __name__
    cls._bert4keras_extensions = frozenset(
        getattr(BaseOptimizer, "_bert4keras_extensions", ())
    ) | {feature}
    registered = f"{_PACKAGE}>{name}"
    taken = keras.saving.get_registered_object(registered)
    if taken is not None:
        raise ValueError(
            f"`name` is taken: {registered!r} is already registered for saving "
            f"as {taken!r}, and two classes under one name reload as the wrong "
            f"one. Give this optimizer another name. Received: name={name!r}"
        )
    _register(cls)
    _MADE[(feature, BaseOptimizer, name)] = cls
    return cls


def _default_learning_rate(BaseOptimizer):
    """The default `learning_rate` of the first class in the MRO that names one."""
    for klass in BaseOptimizer.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get("learning_rate")
        if parameter is not None:
            if parameter.default is inspect.Parameter.empty:
                return None
            return parameter.default
    return None


def extend_with_weight_decay(BaseOptimizer, name=None):
    """Returns `BaseOptimizer` with bert4keras' decoupled weight decay.

    The class takes two more arguments: `weight_decay_rate=0.01` and
    `exclude_from_weight_decay=[]`, regular expressions (usually plain
    substrings) searched in each variable's path, e.g.
    `"Transformer-0-FeedForward-Norm/gamma"`; a variable any of them matches
    is not decayed. They become Keras' `weight_decay` and
    `exclude_from_weight_decay(var_list=...)`: before each update every other
    variable is scaled by `1 - learning_rate * weight_decay_rate`, with the
    learning rate of that step, as bert4keras does.

    bert4keras matched the variable's full name (layer name included); Keras'
    own `exclude_from_weight_decay(var_names=...)` matches only the last part
    (`"gamma"`), so this class matches the path itself.

    Args:
        BaseOptimizer: a Keras optimizer class, e.g. `Adam` or one an
            `extend_with_*` returned.
        name: the new class's name, registered for saving as
            `"keras_rdkl.compat>{name}"`. Defaults to the base's name plus `W`.

    Returns:
        A subclass of `BaseOptimizer`.

    Example:

    >>> AdamW = extend_with_weight_decay(Adam, "AdamW")
    >>> optimizer = AdamW(
    ...     learning_rate=1e-3,
    ...     weight_decay_rate=0.01,
    ...     exclude_from_weight_decay=["Norm", "bias"],
    ... )
    >>> optimizer.weight_decay
    0.01
    """
    name, made = _prepare(BaseOptimizer, name, "weight decay", "W")
    if made is not None:
        return made

    class WeightDecay(BaseOptimizer):
        def __init__(
            self,
            *args,
            weight_decay_rate=0.01,
            exclude_from_weight_decay=None,
            **kwargs,
        ):
            if "weight_decay" in kwargs:
                raise ValueError(
                    "Pass the decay as `weight_decay_rate` (bert4keras' spelling) "
                    "to an `extend_with_weight_decay` optimizer, not as "
                    f"`weight_decay`. Received: weight_decay={kwargs['weight_decay']!r}"
                )
            rate = _check_real(weight_decay_rate, "weight_decay_rate", 0, np.inf)
            patterns = _check_patterns(exclude_from_weight_decay)
            super().__init__(*args, weight_decay=rate, **kwargs)
            self.weight_decay_rate = rate
            self.weight_decay_exclusions = patterns

        def build(self, variables):
            if not self.built:
                self.exclude_from_weight_decay(
                    var_list=[
                        v
                        for v in variables
                        if any(
                            re.search(p, _path(v)) for p in self.weight_decay_exclusions
                        )
                    ]
                )
            super().build(variables)

        def get_config(self):
            config = super().get_config()
            config.pop("weight_decay", None)
            config["weight_decay_rate"] = self.weight_decay_rate
            config["exclude_from_weight_decay"] = list(self.weight_decay_exclusions)
            return config

    return _finish(WeightDecay, BaseOptimizer, name, "weight decay")


def _path(variable):
    return getattr(variable, "path", None) or variable.name


def _check_patterns(patterns):
    """`exclude_from_weight_decay` as a list of valid regular expressions."""
    if patterns is None:
        return []
    if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(
            "`exclude_from_weight_decay` must be a list of strings (regular "
            "expressions searched in variable paths), e.g. ['Norm', 'bias']. "
            f"Received: exclude_from_weight_decay={patterns!r}"
        )
    for p in patterns:
        try:
            re.compile(p)
        except re.error as error:
            raise ValueError(
                "`exclude_from_weight_decay` must hold valid regular expressions; "
                f"{p!r} is not ({error}). "
                f"Received: exclude_from_weight_decay={patterns!r}"
            ) from None
    return list(patterns)


def extend_with_piecewise_linear_lr(BaseOptimizer, name=None):
    """Returns `BaseOptimizer` with bert4keras' piecewise-linear learning rate.

    The class takes one more argument, `lr_schedule={0: 1}`: a dict
    `{step: multiplier}` for the learning rate, interpolated linearly between
    steps and starting from 0 at step 0 when its first step is not 0 (see
    `piecewise_linear`). `{1000: 1, 2000: 0.1}` warms up over 1000 steps,
    decays to 10% by step 2000 and holds 10%. It becomes a
    `PiecewiseLinearSchedule` passed to Keras as `learning_rate`; the step is
    the optimizer's call count, as in bert4keras (with gradient accumulation
    it counts batches, not updates).

    Args:
        BaseOptimizer: a Keras optimizer class, e.g. `Adam` or one an
            `extend_with_*` returned.
        name: the new class's name, registered for saving as
            `"keras_rdkl.compat>{name}"`. Defaults to the base's name plus `LR`.

    Returns:
        A subclass of `BaseOptimizer`.

    Example:

    >>> AdamLR = extend_with_piecewise_linear_lr(Adam, name="AdamLR")
    >>> optimizer = AdamLR(learning_rate=1e-3, lr_schedule={1000: 1, 2000: 0.1})
    >>> float(optimizer.learning_rate)  # step 0: the warm-up starts from zero
    0.0
    """
    name, made = _prepare(BaseOptimizer, name, "a piecewise linear learning rate", "LR")
    if made is not None:
        return made
    default_learning_rate = _default_learning_rate(BaseOptimizer)

    class PiecewiseLinearLR(BaseOptimizer):
        def __init__(self, *args, lr_schedule=None, **kwargs):
            if lr_schedule is None:
                lr_schedule = {0: 1}
            if args:
                learning_rate, args = args[0], args[1:]
            elif "learning_rate" in kwargs:
                learning_rate = kwargs.pop("learning_rate")
            elif default_learning_rate is not None:
                learning_rate = default_learning_rate
            else:
                raise ValueError(
                    f"`learning_rate` must be given: {BaseOptimizer.__name__} has "
                    "no default. Received: learning_rate=None"
                )
            _schedule_points(lr_schedule, False, "lr_schedule")  # names the argument
            schedule = PiecewiseLinearSchedule(learning_rate, lr_schedule)
            super().__init__(schedule, *args, **kwargs)
            self.lr_schedule = dict(schedule.schedule)
            self._piecewise_learning_rate = schedule

        def get_config(self):
            config = super().get_config()
            base_rate = self._piecewise_learning_rate.learning_rate
            if isinstance(base_rate, keras.optimizers.schedules.LearningRateSchedule):
                base_rate = keras.saving.serialize_keras_object(base_rate)
            config["learning_rate"] = base_rate
            config["lr_schedule"] = dict(self.lr_schedule)
            return config

    return _finish(
        PiecewiseLinearLR, BaseOptimizer, name, "a piecewise linear learning rate"
    )


def extend_with_gradient_accumulation(BaseOptimizer, name=None):
    """Returns `BaseOptimizer` with bert4keras' gradient accumulation.

    The class takes one more argument, `grad_accum_steps=2`, which becomes
    Keras' `gradient_accumulation_steps` (1 means none): the variables change
    once every `grad_accum_steps` batches, by one update with the mean of
    those batches' gradients.

    bert4keras (tf.keras) applied the mean of `grad_accum_steps` gradients
    one batch later (on the batch after the last of them, and a zero update
    on the first batch), and counted the batches, not the updates, in Adam's
    bias correction; Keras applies it on the batch that completes them and
    counts updates, as large-batch training would.

    Args:
        BaseOptimizer: a Keras optimizer class, e.g. `Adam` or one an
            `extend_with_*` returned.
        name: the new class's name, registered for saving as
            `"keras_rdkl.compat>{name}"`. Defaults to the base's name plus `GA`.

    Returns:
        A subclass of `BaseOptimizer`.

    Example:

    >>> AdamGA = extend_with_gradient_accumulation(Adam, name="AdamGA")
    >>> optimizer = AdamGA(learning_rate=1e-3, grad_accum_steps=4)
    >>> optimizer.gradient_accumulation_steps
    4
    """
    name, made = _prepare(BaseOptimizer, name, "gradient accumulation", "GA")
    if made is not None:
        return made

    class GradientAccumulation(BaseOptimizer):
        def __init__(self, *args, grad_accum_steps=2, **kwargs):
            if "gradient_accumulation_steps" in kwargs:
                raise ValueError(
                    "Pass the number of steps as `grad_accum_steps` (bert4keras' "
                    "spelling) to an `extend_with_gradient_accumulation` "
                    "optimizer, not as `gradient_accumulation_steps`. Received: "
                    "gradient_accumulation_steps="
                    f"{kwargs['gradient_accumulation_steps']!r}"
                )
            steps = checks.check_positive_int(grad_accum_steps, "grad_accum_steps")
            super().__init__(
                *args,
                gradient_accumulation_steps=steps if steps > 1 else None,
                **kwargs,
            )
            self.grad_accum_steps = steps

        def get_config(self):
            config = super().get_config()
            config.pop("gradient_accumulation_steps", None)
            config["grad_accum_steps"] = self.grad_accum_steps
            return config

    return _finish(GradientAccumulation, BaseOptimizer, name, "gradient accumulation")


def extend_with_exponential_moving_average(BaseOptimizer, name=None):
    """Returns `BaseOptimizer` with bert4keras' moving average of the weights.

    The class takes one more argument, `ema_momentum=0.999`, and keeps Keras'
    moving average of the trained variables (`use_ema=True`), updated after
    every step: `average = ema_momentum * average + (1 - ema_momentum) * w`.
    As in bert4keras, training leaves the model with its trained weights
    (Keras would swap the averages in at the end of `fit`; this class does
    not), and two methods swap them:

    - `apply_ema_weights(bias_correction=True)` keeps a copy of the trained
      weights and puts the averages into the model (to evaluate or save);
    - `reset_old_weights()` puts the kept trained weights back.

    bert4keras starts the average from zeros and divides it by
    `1 - ema_momentum**t` in `apply_ema_weights`; Keras starts it from the
    first step's weights, which needs no correction. The two weight the early
    steps differently: after `t` steps Keras gives the first step's weights
    the share `ema_momentum**(t - 1)`, bert4keras spreads that share over
    all the steps, so the two agree once `ema_momentum**t` is small (after
    about `5 / (1 - ema_momentum)` steps). `bias_correction=False` (the
    uncorrected, zero-started average) has no Keras counterpart and raises.

    Args:
        BaseOptimizer: a Keras optimizer class, e.g. `Adam` or one an
            `extend_with_*` returned.
        name: the new class's name, registered for saving as
            `"keras_rdkl.compat>{name}"`. Defaults to the base's name plus `EMA`.

    Returns:
        A subclass of `BaseOptimizer`.

    Example:

    >>> AdamEMA = extend_with_exponential_moving_average(Adam, name="AdamEMA")
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=AdamEMA(learning_rate=0.1, ema_momentum=0.9), loss="mse")
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, verbose=0)
    >>> trained = model.get_weights()
    >>> model.optimizer.apply_ema_weights()  # evaluate with the averages ...
    >>> model.optimizer.reset_old_weights()  # ... then back to the trained weights
    >>> all(np.array_equal(a, b) for a, b in zip(trained, model.get_weights()))
    True
    """
    name, made = _prepare(BaseOptimizer, name, "a moving average", "EMA")
    if made is not None:
        return made

    class MovingAverage(BaseOptimizer):
        def __init__(self, *args, ema_momentum=0.999, **kwargs):
            use_ema = kwargs.pop("use_ema", True)
            if use_ema is not True:
                raise ValueError(
                    "`use_ema` is always True for an "
                    "`extend_with_exponential_moving_average` optimizer. "
                    f"Received: use_ema={use_ema!r}"
                )
            momentum = _check_real(ema_momentum, "ema_momentum", 0, 1)
            super().__init__(*args, use_ema=True, ema_momentum=momentum, **kwargs)
            self._ema_model_variables = _Untracked([])
            self._ema_old_weights = _Untracked(None)

        def build(self, variables):
            if not self.built:
                self._ema_model_variables.items = list(variables)
            super().build(variables)

        def finalize_variable_values(self, var_list):
            """Leaves the trained weights in the model, as bert4keras does.

            Keras calls this at the end of `fit`; call `apply_ema_weights()`
            to use the averages.
            """

        def apply_ema_weights(self, bias_correction=True):
            """Keeps the trained weights and puts the moving averages into the model.

            Args:
                bias_correction: must be True (bert4keras' default): Keras'
                    average starts from the first step's weights and needs
                    no correction.
            """
            if bias_correction is not True:
                raise ValueError(
                    "`bias_correction` must be True: Keras starts the moving "
                    "average from the first step's weights, so there is no "
                    "zero-started average to leave uncorrected. "
                    f"Received: bias_correction={bias_correction!r}"
                )
            variables = self._ema_model_variables.items
            if not self.built or not variables:
                raise ValueError(
                    "`apply_ema_weights()` needs the optimizer to have trained a "
                    "model (there is no average before the first step)."
                )
            self._ema_old_weights.items = [ops.convert_to_numpy(v) for v in variables]
            super().finalize_variable_values(variables)

        def reset_old_weights(self):
            """Puts back the weights `apply_ema_weights()` kept."""
            if self._ema_old_weights.items is None:
                raise ValueError(
                    "`reset_old_weights()` restores the weights that "
                    "`apply_ema_weights()` kept; call that first."
                )
            for variable, value in zip(
                self._ema_model_variables.items,
                self._ema_old_weights.items,
                strict=True,
            ):
                variable.assign(value)

        def get_config(self):
            config = super().get_config()
            config.pop("use_ema", None)
            return config

    return _finish(MovingAverage, BaseOptimizer, name, "a moving average")


# bert4keras' tf.keras spellings; Keras 3 has one optimizer API.
extend_with_weight_decay_v2 = extend_with_weight_decay
extend_with_piecewise_linear_lr_v2 = extend_with_piecewise_linear_lr
extend_with_gradient_accumulation_v2 = extend_with_gradient_accumulation
extend_with_exponential_moving_average_v2 = extend_with_exponential_moving_average
