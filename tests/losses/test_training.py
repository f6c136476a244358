"""Losses inside model.fit (jit where supported), serialization, mixed precision."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rdkl
from keras_rdkl import losses as L
from tests._grad import grad
from tests.conftest import BACKEND
from tests.losses import _reference as ref

JIT = BACKEND != "torch"  # Keras' torch jit_compile means torch.compile: not used here


def _multilabel_data(n=8, d=4, c=6):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype("float32")
    y = (rng.uniform(size=(n, c)) < 0.3).astype("float32")
    return x, y


CASES = {
    "zlpr": (lambda: L.MultilabelCategoricalCrossentropy(), "dense"),
    "sparse_zlpr": (
        lambda: L.SparseMultilabelCategoricalCrossentropy(mask_zero=True),
        "sparse_ml",
    ),
    "gamma": (
        lambda: L.GammaCrossentropy(
            0.3, threshold=0.2, from_logits=True, label_smoothing=0.1
        ),
        "onehot",
    ),
    "sparse_gamma": (
        lambda: L.SparseGammaCrossentropy(
            0.3, threshold=0.2, from_logits=True, ignore_class=0
        ),
        "ids",
    ),
    "sigmoid_kl": (lambda: L.SigmoidKLDivergence(temperature=2.0), "logits"),
    "softmax_kl": (lambda: L.SoftmaxKLDivergence(temperature=2.0), "logits"),
}


def _targets(kind, n=8, c=6):
    rng = np.random.default_rng(1)
    if kind == "dense":
        return (rng.uniform(size=(n, c)) < 0.3).astype("float32")
    if kind == "sparse_ml":
        return rng.integers(0, c, (n, 3)).astype("int32")
    if kind == "onehot":
        return np.eye(c, dtype="float32")[rng.integers(0, c, n)]
    if kind == "ids":
        return rng.integers(0, c, (n,)).astype("int32")
    return rng.standard_normal((n, c)).astype("float32")


def _model(c=6, d=4):
    return keras.Sequential([keras.Input((d,)), keras.layers.Dense(c)])


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_config_save_reload(name, tmp_path):
    make, kind = CASES[name]
    loss = make()
    x = np.random.default_rng(2).standard_normal((8, 4)).astype("float32")
    y = _targets(kind)
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, jit_compile=JIT)
    h = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))

    # get_config / from_config round trip keeps every argument.
    clone = type(loss).from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(float(clone(y, pred)), float(loss(y, pred)), rtol=1e-6)

    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.loss) is type(loss)
    assert reloaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), pred, rtol=1e-6)
    assert int(reloaded.optimizer.iterations) == 4
    np.testing.assert_allclose(
        float(reloaded.evaluate(x, y, verbose=0)), float(loss(y, pred)), rtol=1e-5
    )
    h2 = reloaded.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(h2.history["loss"][0])
    assert int(reloaded.optimizer.iterations) == 6  # trains on from the saved state
    assert not np.allclose(reloaded.predict(x, verbose=0), pred)


def test_fit_global_pointer_shaped_sparse_loss():
    b, h, n = 4, 2, 5
    x = np.random.default_rng(3).standard_normal((b, 3)).astype("float32")
    y = np.random.default_rng(4).integers(0, n * n, (b, h, 3)).astype("int32")
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(h * n * n),
            keras.layers.Reshape((h, n, n)),
        ]
    )
    model.compile(
        "sgd",
        loss=L.SparseMultilabelCategoricalCrossentropy(axis=(-2, -1)),
        jit_compile=JIT,
    )
    hist = model.fit(x, y, epochs=3, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    pred = model.predict(x, verbose=0)
    expected = ref.zlpr(ref.multi_hot(y, n * n), pred.reshape(b, h, -1)).mean()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)


def test_mask_value_depends_on_dtype():
    assert keras_rdkl.mask_value("float32") == -1e12
    m16 = keras_rdkl.mask_value("float16")
    assert np.isfinite(np.float16(m16)) and m16 <= keras_rdkl.MASK_THRESHOLD
    assert np.isfinite(float(ops.cast(keras_rdkl.mask_value("bfloat16"), "bfloat16")))
    # float16 scores holding the float16 mask value: masked out, finite loss.
    s = np.array([[m16, 3.0, -2.0, m16]], dtype="float16")
    t = np.array([[1.0, 1.0, 0.0, 0.0]], dtype="float16")
    out = ops.convert_to_numpy(L.multilabel_categorical_crossentropy(t, s))
    np.testing.assert_allclose(out, ref.zlpr(t, s), rtol=1e-5)
    g = grad(lambda v: L.multilabel_categorical_crossentropy(t, v), s, dtype="float16")
    assert np.all(np.isfinite(g.astype("float32")))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_mixed_precision_finite(policy, name):
    keras.config.set_dtype_policy(policy)
    make, kind = CASES[name]
    x = (np.random.default_rng(5).standard_normal((8, 4)) * 100).astype("float32")
    y = _targets(kind)
    model = _model()
    model.compile(optimizer="sgd", loss=make(), jit_compile=JIT)
    hist = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert all(np.all(np.isfinite(ops.convert_to_numpy(w))) for w in model.weights)
    out = model(x)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    val = float(ops.convert_to_numpy(make()(y, ops.stop_gradient(out))))
    assert np.isfinite(val)
