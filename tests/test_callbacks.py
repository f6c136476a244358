"""GammaScheduler: gamma follows the schedule and the compiled step uses it."""

import keras
import numpy as np
import pytest

from keras_rdkl.callbacks import GammaScheduler
from keras_rdkl.losses import GammaCrossentropy
from keras_rdkl.losses import SparseGammaCrossentropy
from tests.conftest import BACKEND
from tests.losses import _reference as ref

JIT = BACKEND != "torch"


def _data(n=6, d=3, c=4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype("float32")
    y = rng.integers(0, c, (n,)).astype("int32")
    return x, y


def _frozen_model(loss, c=4, d=3):
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(c)])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss, jit_compile=JIT
    )
    return model


def test_schedule_changes_compiled_loss():
    gammas = [0.0, 0.3, 0.7, 1.0]
    x, y = _data()
    loss = SparseGammaCrossentropy(0.0, threshold=0.1, from_logits=True)
    model = _frozen_model(loss)
    cb = GammaScheduler(schedule=lambda step: gammas[min(step, 3)])
    # One batch per epoch: epoch e trains at gamma = gammas[e]; lr = 0 keeps the logits fixed.
    hist = model.fit(x, y, batch_size=6, epochs=4, verbose=0, callbacks=[cb])
    logits = model.predict(x, verbose=0)
    expected = [ref.sparse_gamma_ce(y, logits, g, 0.1, True).mean() for g in gammas]
    np.testing.assert_allclose(hist.history["loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(hist.history["gamma"], gammas, rtol=1e-6)
    assert loss.gamma == pytest.approx(1.0)
    assert len(set(np.round(expected, 6))) == 4  # the four gammas really differ


def test_linear_schedule_per_step():
    x, y = _data(n=8)
    onehot = np.eye(4, dtype="float32")[y]
    loss = GammaCrossentropy(0.0, from_logits=True)
    model = _frozen_model(loss)
    cb = GammaScheduler(target=0.6, steps=4, start=0.2)
    hist = model.fit(
        x, onehot, batch_size=2, epochs=2, verbose=0, shuffle=False, callbacks=[cb]
    )
    # Steps 0..7: gamma = 0.2 + 0.4 * min(step, 4) / 4; epoch 1 is all at 0.6.
    assert loss.gamma == pytest.approx(0.6)
    assert cb.step == 8
    logits = model.predict(x, verbose=0)
    per_sample = {
        g: ref.sparse_gamma_ce(y, logits, g, 0.0, True)
        for g in (0.2, 0.3, 0.4, 0.5, 0.6)
    }
    # Epoch 0 logs the mean over its 4 batches, each at its own gamma.
    epoch0 = np.mean(
        [
            per_sample[g][2 * i : 2 * i + 2].mean()
            for i, g in enumerate((0.2, 0.3, 0.4, 0.5))
        ]
    )
    np.testing.assert_allclose(
        hist.history["loss"], [epoch0, per_sample[0.6].mean()], rtol=1e-5
    )


def test_explicit_loss_argument():
    x, y = _data()
    loss = SparseGammaCrossentropy(0.5, from_logits=True)
    model = _frozen_model(loss)
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[GammaScheduler(target=0.9, steps=1, loss=loss)],
    )
    assert loss.gamma == pytest.approx(0.9)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "`schedule`"),
        ({"target": 0.5}, "`target`"),
        ({"target": 1.5, "steps": 10}, r"`target` must be in \[0, 1\]"),
        ({"target": 0.5, "steps": 10, "start": -0.1}, r"`start` must be in \[0, 1\]"),
        ({"target": 0.5, "steps": 0}, "`steps` must be an int >= 1"),
        ({"target": 0.5, "steps": 2.5}, "`steps` must be an int >= 1"),
        ({"schedule": 0.5}, "`schedule` must be callable"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GammaScheduler(**kwargs)


def test_schedule_out_of_range_and_missing_loss_raise():
    x, y = _data()
    model = _frozen_model(SparseGammaCrossentropy(0.0, from_logits=True))
    with pytest.raises(ValueError, match="gamma"):
        model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[GammaScheduler(schedule=lambda s: 2.0)],
        )
    plain = _frozen_model("sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="GammaScheduler needs exactly one"):
        plain.fit(
            x, y, epochs=1, verbose=0, callbacks=[GammaScheduler(target=0.5, steps=2)]
        )
