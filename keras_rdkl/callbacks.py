"""Callbacks: a schedule for the gamma of the gamma-cross-entropy losses."""

import keras

from keras_rdkl import _checks as checks
from keras_rdkl import _keras_internals as internals


class _GammaState(keras.metrics.Metric):
    """Carries a gamma variable in the model's metric state.

    On JAX a compiled train step only sees variables that belong to the
    model's state; any other variable is frozen into the trace as a constant.
    Tracking gamma as a (never reset) metric variable makes it part of that
    state on every backend, and shows the current gamma in the training logs.
    """

    def __init__(self, variable, name="gamma"):
        super().__init__(name=name, dtype="float32")
        self.gamma = variable

    def update_state(self, *args, **kwargs):
        pass

    def reset_state(self):
        pass  # gamma is owned by the loss and the schedule, not by epochs

    def result(self):
        return self.gamma.value


def _find_gamma_losses(loss):
    from keras_rdkl.losses.gamma import _GammaLoss

    if isinstance(loss, _GammaLoss):
        return [loss]
    if isinstance(loss, dict):
        loss = list(loss.values())
    if isinstance(loss, (list, tuple)):
        return [g for item in loss for g in _find_gamma_losses(item)]
    return []


class GammaScheduler(keras.callbacks.Callback):
    """Moves the gamma of a `GammaCrossentropy` / `SparseGammaCrossentropy` loss.

    The TaiLr article's advice for training from scratch is to start at
    gamma = 0 (plain cross-entropy) and raise gamma as the model improves.
    The default schedule does that linearly over `steps` optimizer steps,
    then holds `target`. Works on TensorFlow, JAX and PyTorch, with or without
    `jit_compile`, without recompiling; the current gamma appears in the logs
    as `gamma`.

    Args:
        target: Final gamma in [0, 1] (linear schedule).
        steps: Number of training steps (batches) to reach `target`.
        start: Initial gamma in [0, 1] (default 0).
        schedule: Instead of target/steps/start, a callable `step -> gamma`
            (step counts batches from 0 across epochs).
        loss: The loss instance to drive. Default: the (only) gamma loss
            found in `model.loss`.

    Example:

    >>> loss = keras_rdkl.losses.SparseGammaCrossentropy(gamma=0.0, from_logits=True)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    >>> model.compile("sgd", loss=loss)
    >>> history = model.fit(
    ...     np.ones((8, 3)), np.zeros((8,)), batch_size=2, epochs=2, verbose=0,
    ...     callbacks=[GammaScheduler(target=0.5, steps=4)])
    >>> [round(float(g), 3) for g in history.history["gamma"]]
    [0.375, 0.5]
    >>> round(float(loss.gamma), 3)
    0.5
    """

    def __init__(self, target=None, steps=None, start=0.0, schedule=None, loss=None):
        super().__init__()
        if schedule is None:
            if target is None or steps is None:
                raise ValueError(
                    "Pass either `schedule` (a callable step -> gamma) or both "
                    f"`target` and `steps`. Received: target={target}, steps={steps}"
                )
            checks.check_unit_interval(target, "target")
            checks.check_unit_interval(start, "start")
            if not isinstance(steps, int) or steps < 1:
                raise ValueError(
                    f"`steps` must be an int >= 1. Received: steps={steps}"
                )

            def schedule(step, _a=float(start), _b=float(target), _n=steps):
                return _a + (_b - _a) * min(step, _n) / _n

        elif not callable(schedule):
            raise ValueError(
                f"`schedule` must be callable. Received: schedule={schedule}"
            )
        self.schedule = schedule
        self.loss = loss
        self.step = 0
        self._state = None
        self._current = None

    def _resolve_loss(self):
        if self.loss is not None:
            found = _find_gamma_losses(self.loss)
        else:
            found = _find_gamma_losses(getattr(self.model, "loss", None))
        if len(found) != 1:
            raise ValueError(
                "GammaScheduler needs exactly one GammaCrossentropy or "
                "SparseGammaCrossentropy loss: pass it as `loss=`, or compile the "
                f"model with one. Found {len(found)} in model.loss."
            )
        return found[0]

    def on_train_begin(self, logs=None):
        self._loss = self._resolve_loss()
        if self._state is None or self._state.gamma is not self._loss.gamma_variable:
            self._state = _GammaState(self._loss.gamma_variable)
            # Tracked as a model metric: part of the compiled step's state.
            internals.attach_metric(self.model, self._state)
        self._set(self.schedule(self.step))

    def _set(self, value):
        value = float(value)
        checks.check_unit_interval(value, "gamma (from the schedule)")
        if value == self._current:
            return
        # On JAX the trainer keeps the state outside the variables during an
        # epoch; reading the public `Callback.model` writes it back (Keras'
        # own sync for callbacks) and makes the trainer re-read the state,
        # gamma included, before the next step.
        self._model_with_state()
        self._loss.gamma_variable.assign(value)
        self._current = value

    def _model_with_state(self):
        return self.model

    def on_train_batch_begin(self, batch, logs=None):
        self._set(self.schedule(self.step))

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
