"""bert4keras' optimizers on Keras 3, against NumPy references of bert4keras 0.11.5.

The references are written here from bert4keras' formulas (`piecewise_linear`
in bert4keras/backend.py, `Adam._resource_apply_dense` in
bert4keras/optimizers.py) and checked against what the optimizers do inside
`model.fit` on every backend.
"""

import itertools
import json

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.compat._optimizers import Adam
from keras_rdkl.compat._optimizers import PiecewiseLinearSchedule
from keras_rdkl.compat._optimizers import extend_with_exponential_moving_average
from keras_rdkl.compat._optimizers import extend_with_exponential_moving_average_v2
from keras_rdkl.compat._optimizers import extend_with_gradient_accumulation
from keras_rdkl.compat._optimizers import extend_with_gradient_accumulation_v2
from keras_rdkl.compat._optimizers import extend_with_piecewise_linear_lr
from keras_rdkl.compat._optimizers import extend_with_piecewise_linear_lr_v2
from keras_rdkl.compat._optimizers import extend_with_weight_decay
from keras_rdkl.compat._optimizers import extend_with_weight_decay_v2
from keras_rdkl.compat._optimizers import piecewise_linear

# As bert4keras scripts write them (the docstring examples make the same ones).
AdamLR = extend_with_piecewise_linear_lr(Adam, name="AdamLR")
AdamW = extend_with_weight_decay(Adam, "AdamW")
AdamGA = extend_with_gradient_accumulation(Adam, name="AdamGA")
AdamEMA = extend_with_exponential_moving_average(Adam, name="AdamEMA")
AdamWLR = extend_with_piecewise_linear_lr(AdamW, name="AdamWLR")
AdamAll = extend_with_exponential_moving_average(
    extend_with_gradient_accumulation(AdamWLR, name="AdamWLRGA"), name="AdamAll"
)


# ---------------------------------------------------------------- references


def b4k_piecewise_linear(t, schedule, from_zero=True):
    """bert4keras.backend.piecewise_linear, in float64 NumPy."""
    schedule = sorted((int(k), float(v)) for k, v in schedule.items())
    if from_zero and schedule[0][0] != 0:
        schedule = [(0, 0.0)] + schedule
    t = np.asarray(t, dtype=np.float64)
    x = np.ones_like(t) * schedule[0][1]
    for i, (t_begin, x_i) in enumerate(schedule):
        x_begin = x
        if i != len(schedule) - 1:
            t_next, x_next = schedule[i + 1]
            x = x_i + (x_next - x_i) / (t_next - t_begin) * (t - t_begin)
        else:
            x = np.ones_like(t) * x_i
        x = np.where(t >= t_begin, x, x_begin)
    return x


def mse_grad(w, x, y):
    """Gradient of Keras' "mse" for `x @ w` (a bias-free Dense(1))."""
    return 2.0 / len(x) * x.T @ (x @ w - y)


def adam_step(w, g, m, v, t, lr, bias_correction=True, keras_epsilon=False):
    """One Adam update of bert4keras (or, with keras_epsilon, keras.optimizers.Adam)."""
    beta_1, beta_2, eps = 0.9, 0.999, 1e-6
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    if keras_epsilon:
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        return w - alpha * m / (np.sqrt(v) + eps), m, v
    m_hat, v_hat = m, v
    if bias_correction:
        m_hat, v_hat = m / (1 - beta_1**t), v / (1 - beta_2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adam_trajectory(w0, x, y, batch, lrs, accumulate=1, **kwargs):
    """Weights after each batch of bert4keras' Adam on a bias-free Dense(1) + mse.

    With `accumulate=k`, the mean gradient of k batches is applied on the k-th
    (Keras' `gradient_accumulation_steps`).
    """
    w, m, v = w0.astype(np.float64), 0.0, 0.0
    out, pending = [], []
    for step, lr in enumerate(lrs):
        xb, yb = (
            x[step * batch : (step + 1) * batch],
            y[step * batch : (step + 1) * batch],
        )
        pending.append(mse_grad(w, xb, yb))
        if len(pending) == accumulate:
            update = (step + 1) // accumulate
            w, m, v = adam_step(w, np.mean(pending, axis=0), m, v, update, lr, **kwargs)
            pending = []
        out.append(w.copy())
    return np.array(out)


# ---------------------------------------------------------------- helpers


class RecordWeights(keras.callbacks.Callback):
    """The model's weights after every training batch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])


def linear_model(optimizer, w0):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([w0.astype("float32")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def linear_data(steps, batch, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(steps * batch, 3)) * scale).astype("float32")
    y = (rng.normal(size=(steps * batch, 1)) * scale).astype("float32")
    w0 = np.array([[0.5], [-1.0], [2.0]], dtype="float32")
    return x, y, w0


def fit_recording(model, x, y, batch):
    record = RecordWeights()
    model.fit(x, y, batch_size=batch, shuffle=False, verbose=0, callbacks=[record])
    return record.weights


# ---------------------------------------------------------------- piecewise_linear

SCHEDULES = [
    ({1000: 1, 2000: 0.1}, True),
    ({0: 1}, True),
    ({0: 0.5}, True),
    ({500: 2.0}, True),
    ({500: 2.0}, False),
    ({0: 0.5, 10: 1.0, 20: 0.0, 25: 0.3}, True),
    ({"7": 1, "3": 0.5, "12": 0.2}, True),  # string steps, as JSON returns them
    ({10: 1.0, 20: 0.5}, False),
]


def _steps_around(schedule):
    points = sorted(int(k) for k in schedule)
    steps = {0, 1, points[-1] * 3 + 7}
    for p in points:
        steps |= {max(p - 1, 0), p, p + 1}
    for a, b in itertools.pairwise(points):
        steps |= {(a + b) // 2, a + (b - a) // 3}
    return np.array(sorted(steps))


@pytest.mark.parametrize("schedule,from_zero", SCHEDULES)
def test_piecewise_linear_matches_bert4keras(schedule, from_zero):
    steps = _steps_around(schedule)
    expected = b4k_piecewise_linear(steps, schedule, from_zero)
    got = ops.convert_to_numpy(piecewise_linear(steps, schedule, from_zero))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    lr = PiecewiseLinearSchedule(2e-3, schedule, from_zero=from_zero)
    got = ops.convert_to_numpy(lr(ops.convert_to_tensor(steps, dtype="int32")))
    np.testing.assert_allclose(got, 2e-3 * expected, rtol=1e-6, atol=1e-9)


def test_piecewise_linear_shapes_of_note():
    # Warm-up from zero, hold after the last point, constant one-point schedules.
    f = lambda t, s, z=True: float(piecewise_linear(t, s, z))  # noqa: E731
    assert f(0, {1000: 1, 2000: 0.1}) == 0.0
    assert f(10**6, {1000: 1, 2000: 0.1}) == pytest.approx(0.1)
    assert f(123, {0: 0.7}) == pytest.approx(0.7)
    assert f(3, {500: 2.0}) == pytest.approx(3 * 2.0 / 500)
    assert f(3, {500: 2.0}, False) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "schedule",
    [{}, {-1: 1.0}, {1.5: 1.0}, {"a": 1.0}, {10: float("nan")}, {10: "1"}, [(0, 1)]],
)
def test_bad_schedules_raise(schedule):
    with pytest.raises(ValueError, match="schedule"):
        piecewise_linear(3, schedule)
    with pytest.raises(ValueError, match="lr_schedule"):
        AdamLR(learning_rate=1e-3, lr_schedule=schedule)


def test_schedule_config_round_trip_through_json():
    base = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    for rate in (1e-3, base):
        lr = PiecewiseLinearSchedule(rate, {10: 1, 30: 0.2})
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(lr)))
        again = keras.saving.deserialize_keras_object(config)
        assert isinstance(again, PiecewiseLinearSchedule)
        for step in (0, 5, 10, 20, 40):
            assert float(again(step)) == pytest.approx(float(lr(step)), rel=1e-6)
    assert float(lr(20)) == pytest.approx(
        1e-3 * 0.5**2 * b4k_piecewise_linear(20, {10: 1, 30: 0.2}), rel=1e-6
    )


# ---------------------------------------------------------------- Adam in fit


@pytest.mark.parametrize(
    "scale,bias_correction",
    [(1.0, True), (1e-3, True), (1.0, False)],
    ids=["gradients-1", "gradients-1e-6", "no-bias-correction"],
)
def test_adam_in_fit_matches_bert4keras_adam(scale, bias_correction):
    steps, batch, lr = 6, 4, 0.05
    x, y, w0 = linear_data(steps, batch, scale)
    model = linear_model(Adam(learning_rate=lr, bias_correction=bias_correction), w0)
    got = np.array([w[0] for w in fit_recording(model, x, y, batch)])
    lrs = [lr] * steps
    expected = adam_trajectory(w0, x, y, batch, lrs, bias_correction=bias_correction)
    # Steps are about `lr` long; float32 gradients near a sign change cost ~1e-5.
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-5)
    if scale < 1:
        # Gradients near epsilon: keras.optimizers.Adam's epsilon placement
        # moves the weights far less (0.15 apart here), so this tells them apart.
        keras_adam = adam_trajectory(w0, x, y, batch, lrs, keras_epsilon=True)
        assert np.abs(keras_adam - expected).max() > 0.1


def test_piecewise_learning_rate_in_fit():
    steps, batch, lr, schedule = 8, 4, 0.05, {2: 1, 5: 0.2}
    x, y, w0 = linear_data(steps, batch)
    optimizer = AdamLR(learning_rate=lr, lr_schedule=schedule)
    model = linear_model(optimizer, w0)
    got = np.array([w[0] for w in fit_recording(model, x, y, batch)])
    lrs = lr * b4k_piecewise_linear(np.arange(steps), schedule)
    np.testing.assert_allclose(got, adam_trajectory(w0, x, y, batch, lrs), atol=1e-6)
    np.testing.assert_array_equal(got[0], w0)  # step 0 of a warm-up has rate 0
    assert int(optimizer.iterations) == steps
    assert float(optimizer.learning_rate) == pytest.approx(
        lr * b4k_piecewise_linear(steps, schedule), rel=1e-6
    )


def test_piecewise_optimizer_arguments():
    optimizer = AdamLR(0.01, 0.8, lr_schedule={"4": 2})  # positional, as bert4keras
    assert optimizer.beta_1 == 0.8 and optimizer.lr_schedule == {4: 2.0}
    assert float(optimizer.learning_rate) == 0.0
    assert AdamLR().get_config()["learning_rate"] == 0.001  # Adam's default
    assert AdamLR(learning_rate=1).get_config()["learning_rate"] == 1.0


# ---------------------------------------------------------------- weight decay


def _decay_model(optimizer):
    inputs = keras.Input((4,))
    h = keras.layers.Dense(
        3, name="Encoder-Dense", bias_initializer=keras.initializers.Constant(0.3)
    )(inputs)
    h = keras.layers.LayerNormalization(
        name="Encoder-Norm",
        gamma_initializer=keras.initializers.Constant(1.5),
        beta_initializer=keras.initializers.Constant(0.5),
    )(h)
    model = keras.Model(inputs, h)

    def zero_loss(y_true, y_pred):  # zero gradients: only the decay moves weights
        return 0.0 * ops.sum(y_pred, axis=-1)

    model.compile(optimizer=optimizer, loss=zero_loss)
    return model


@pytest.mark.parametrize(
    "exclude,decayed",
    [
        (["Norm", "bias"], {"Encoder-Dense/kernel"}),
        (
            [r"Norm/gam+a$"],
            {"Encoder-Dense/kernel", "Encoder-Dense/bias", "Encoder-Norm/beta"},
        ),
    ],
)
def test_weight_decay_skips_variables_whose_path_matches(exclude, decayed):
    steps, lr, rate = 5, 0.1, 0.5
    model = _decay_model(
        AdamW(
            learning_rate=lr, weight_decay_rate=rate, exclude_from_weight_decay=exclude
        )
    )
    before = {v.path: ops.convert_to_numpy(v) for v in model.trainable_variables}
    model.fit(np.ones((steps, 4)), np.zeros((steps, 3)), batch_size=1, verbose=0)
    for v in model.trainable_variables:
        factor = (1 - lr * rate) ** steps if v.path in decayed else 1.0
        np.testing.assert_allclose(
            ops.convert_to_numpy(v), before[v.path] * factor, rtol=1e-6, err_msg=v.path
        )


def test_weight_decay_follows_the_piecewise_learning_rate():
    # extend_with_piecewise_linear_lr(extend_with_weight_decay(Adam)), as scripts chain it.
    steps, lr, rate, schedule = 6, 0.1, 0.5, {2: 1, 4: 0.5}
    model = _decay_model(
        AdamWLR(
            learning_rate=lr,
            weight_decay_rate=rate,
            exclude_from_weight_decay=["Norm", "bias"],
            lr_schedule=schedule,
        )
    )
    kernel = model.get_layer("Encoder-Dense").kernel
    before = ops.convert_to_numpy(kernel)
    model.fit(np.ones((steps, 4)), np.zeros((steps, 3)), batch_size=1, verbose=0)
    multipliers = b4k_piecewise_linear(np.arange(steps), schedule)
    factor = np.prod(1 - lr * multipliers * rate)
    np.testing.assert_allclose(ops.convert_to_numpy(kernel), before * factor, rtol=1e-6)
    norm = model.get_layer("Encoder-Norm")
    np.testing.assert_array_equal(ops.convert_to_numpy(norm.gamma), 1.5)


# ---------------------------------------------------------------- accumulation


def test_gradient_accumulation_updates_every_k_steps():
    steps, batch, lr, k = 7, 4, 0.05, 3
    x, y, w0 = linear_data(steps, batch)
    optimizer = AdamGA(learning_rate=lr, grad_accum_steps=k)
    model = linear_model(optimizer, w0)
    got = np.array([w[0] for w in fit_recording(model, x, y, batch)])
    for step in range(steps):
        previous = w0 if step == 0 else got[step - 1]
        changed = not np.array_equal(got[step], previous)
        assert changed == ((step + 1) % k == 0), step
    expected = adam_trajectory(w0, x, y, batch, [lr] * steps, accumulate=k)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations) == steps // k


def test_one_accumulation_step_is_no_accumulation():
    assert AdamGA(grad_accum_steps=1).gradient_accumulation_steps is None
    assert AdamGA().gradient_accumulation_steps == 2  # bert4keras' default


# ---------------------------------------------------------------- moving average


def test_ema_weights_are_the_moving_average_and_reset_restores():
    steps, batch, momentum = 6, 4, 0.8
    x, y, _ = linear_data(steps, batch)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = AdamEMA(learning_rate=0.05, ema_momentum=momentum)
    model.compile(optimizer=optimizer, loss="mse")
    y = np.concatenate([y, -y], axis=-1)
    recorded = fit_recording(model, x, y, batch)
    # Keras' average starts from the first step's weights.
    average = [np.array(w, dtype=np.float64) for w in recorded[0]]
    for weights in recorded[1:]:
        average = [
            momentum * a + (1 - momentum) * w
            for a, w in zip(average, weights, strict=True)
        ]
    trained = model.get_weights()
    for got, want in zip(
        trained, recorded[-1], strict=True
    ):  # fit leaves the trained weights
        np.testing.assert_array_equal(got, want)
    optimizer.apply_ema_weights()
    for got, want in zip(model.get_weights(), average, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.get_weights()[0], trained[0])
    optimizer.reset_old_weights()
    for got, want in zip(model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="bias_correction"):
        optimizer.apply_ema_weights(bias_correction=False)


def test_ema_methods_before_training_raise():
    optimizer = AdamEMA(learning_rate=1e-3)
    with pytest.raises(ValueError, match="reset_old_weights"):
        optimizer.reset_old_weights()
    with pytest.raises(ValueError, match="first step"):
        optimizer.apply_ema_weights()
    assert optimizer.use_ema and optimizer.ema_momentum == 0.999


# ---------------------------------------------------------------- saving


OPTIMIZERS = {
    "Adam": lambda: Adam(learning_rate=0.01, bias_correction=False),
    "AdamWLR": lambda: AdamWLR(
        learning_rate=0.01,
        lr_schedule={2: 1, 6: 0.1},
        weight_decay_rate=0.1,
        exclude_from_weight_decay=["Norm", "bias"],
    ),
    "AdamAll": lambda: AdamAll(
        learning_rate=0.01,
        lr_schedule={2: 1, 6: 0.1},
        weight_decay_rate=0.1,
        exclude_from_weight_decay=["Norm"],
        grad_accum_steps=2,
        ema_momentum=0.9,
    ),
}


@pytest.mark.parametrize("key", sorted(OPTIMIZERS))
def test_compiled_model_saves_and_reloads(key, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4)).astype("float32")
    y = rng.normal(size=(20, 3)).astype("float32")
    inputs = keras.Input((4,))
    h = keras.layers.Dense(3, name="Encoder-Dense")(inputs)
    outputs = keras.layers.LayerNormalization(name="Encoder-Norm")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=OPTIMIZERS[key](), loss="mse")
    model.fit(x[:16], y[:16], batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")

    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    # The same next step from the same state.
    for m in (model, loaded):
        m.fit(x[16:], y[16:], batch_size=4, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    if hasattr(model.optimizer, "apply_ema_weights"):
        for m in (model, loaded):
            m.optimizer.apply_ema_weights()
        for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_config_holds_bert4keras_arguments():
    config = OPTIMIZERS["AdamAll"]().get_config()
    assert config["learning_rate"] == 0.01
    assert config["lr_schedule"] == {2: 1.0, 6: 0.1}
    assert config["weight_decay_rate"] == 0.1
    assert config["exclude_from_weight_decay"] == ["Norm"]
    assert config["grad_accum_steps"] == 2
    assert config["ema_momentum"] == 0.9
    assert config["epsilon"] == 1e-6 and config["bias_correction"] is True
    for keras_spelling in ("weight_decay", "gradient_accumulation_steps", "use_ema"):
        assert keras_spelling not in config
    assert AdamAll.from_config(config).get_config() == config


# ---------------------------------------------------------------- factories


def test_factories_return_one_class_per_base_and_name():
    assert extend_with_piecewise_linear_lr(Adam, name="AdamLR") is AdamLR
    assert extend_with_weight_decay_v2(Adam, "AdamW") is AdamW
    assert extend_with_piecewise_linear_lr_v2 is extend_with_piecewise_linear_lr
    assert extend_with_gradient_accumulation_v2 is extend_with_gradient_accumulation
    assert (
        extend_with_exponential_moving_average_v2
        is extend_with_exponential_moving_average
    )
    assert keras.saving.get_registered_name(AdamWLR) == "keras_rdkl.compat>AdamWLR"
    assert issubclass(AdamAll, AdamWLR) and issubclass(AdamWLR, AdamW)
    assert extend_with_gradient_accumulation(keras.optimizers.SGD).__name__ == "SGDGA"


def test_factory_errors():
    with pytest.raises(ValueError, match="already extended"):
        extend_with_weight_decay(AdamWLR, "AdamWW")
    with pytest.raises(ValueError, match="not an instance"):
        extend_with_weight_decay(Adam())
    with pytest.raises(ValueError, match="is taken"):
        extend_with_weight_decay(keras.optimizers.Adam, "AdamW")
    with pytest.raises(ValueError, match="identifier"):
        extend_with_weight_decay(Adam, "Adam W")


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: AdamW(weight_decay=0.01), "weight_decay_rate"),
        (lambda: AdamW(weight_decay_rate=-1.0), "weight_decay_rate"),
        (lambda: AdamW(exclude_from_weight_decay="Norm"), "exclude_from_weight_decay"),
        (lambda: AdamW(exclude_from_weight_decay=["("]), "regular expressions"),
        (lambda: AdamGA(grad_accum_steps=0), "grad_accum_steps"),
        (lambda: AdamGA(grad_accum_steps=2.5), "grad_accum_steps"),
        (lambda: AdamGA(gradient_accumulation_steps=4), "grad_accum_steps"),
        (lambda: AdamEMA(ema_momentum=1.5), "ema_momentum"),
        (lambda: AdamEMA(use_ema=False), "use_ema"),
        (lambda: Adam(beta_1=1.0), "beta_1"),
        (lambda: Adam(beta_2=-0.1), "beta_2"),
        (lambda: Adam(learning_rate="fast"), "learning_rate"),
    ],
)
def test_argument_errors_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_adam_defaults_are_bert4keras():
    config = Adam().get_config()
    assert config["learning_rate"] == pytest.approx(0.001)  # a float32 variable
    assert (config["beta_1"], config["beta_2"]) == (0.9, 0.999)
    assert config["epsilon"] == 1e-6 and config["bias_correction"] is True
    assert Adam(epsilon=None).epsilon == keras.config.epsilon()
    assert Adam(1).get_config()["learning_rate"] == 1.0
