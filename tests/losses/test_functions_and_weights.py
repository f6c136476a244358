"""Function-form losses save and load; per-sample `sample_weight` on [B, heads] losses."""

import functools

import keras
import numpy as np
import pytest

from keras_rdkl import distillation as D
from keras_rdkl import losses as L
from tests.conftest import BACKEND
from tests.losses import _reference as ref

JIT = BACKEND != "torch"
B, H, N = 3, 3, 4  # B == H, so a weight lined up with the wrong axis would show


def _gp_model(seed=0):
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(
                H * N * N, kernel_initializer=keras.initializers.GlorotUniform(seed)
            ),
            keras.layers.Reshape((H, N, N)),
        ]
    )


def _data(kind, n=6):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 5)).astype("float32")
    if kind == "multi_hot":
        y = (rng.uniform(size=(n, H, N, N)) < 0.3).astype("float32")
    elif kind == "indices":
        y = rng.integers(0, N, (n, H, N, 2)).astype("int32")
    else:  # logits of another model
        y = (rng.standard_normal((n, H, N, N)) * 2).astype("float32")
    return x, y


FUNCTIONS = {
    "multilabel_categorical_crossentropy": (
        L.multilabel_categorical_crossentropy,
        "multi_hot",
    ),
    "sparse_multilabel_categorical_crossentropy": (
        L.sparse_multilabel_categorical_crossentropy,
        "indices",
    ),
    "sigmoid_kl_divergence": (L.sigmoid_kl_divergence, "logits"),
    "softmax_kl_divergence": (L.softmax_kl_divergence, "logits"),
    "softmax_kl_teacher_student": (D.softmax_kl_teacher_student, "logits"),
    "zlpr_teacher_student": (D.zlpr_teacher_student, "logits"),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_model_compiled_with_function_loss_saves_and_loads(name, tmp_path):
    fn, kind = FUNCTIONS[name]
    assert keras.saving.get_registered_name(fn) == f"keras_rdkl>{name}"
    assert keras.saving.get_registered_object(f"keras_rdkl>{name}") is fn
    x, y = _data(kind)
    model = _gp_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=fn, jit_compile=JIT)
    model.fit(x, y, batch_size=3, epochs=1, verbose=0)
    before = model.evaluate(x, y, verbose=0)
    assert np.isfinite(before)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0), before, rtol=1e-5)
    assert np.isfinite(
        reloaded.fit(x, y, batch_size=3, epochs=1, verbose=0).history["loss"][0]
    )


def test_gamma_functions_are_registered():
    for fn in (L.gamma_crossentropy, L.sparse_gamma_crossentropy, L.gamma_weight):
        name = keras.saving.get_registered_name(fn)
        assert name == f"keras_rdkl>{fn.__name__}"
        assert keras.saving.get_registered_object(name) is fn
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(fn)
        )
        assert restored is fn


# ---------------------------------------------------------------- sample_weight


def _gp_case(seed=1):
    rng = np.random.default_rng(seed)
    s = (rng.standard_normal((B, H, N, N)) * 2).astype("float32")
    t = (rng.uniform(size=(B, H, N, N)) < 0.3).astype("float32")
    return t, s


@pytest.mark.parametrize("shape", [(B,), (B, 1), (B, H)])
def test_sample_weight_weights_samples_on_global_pointer_loss(shape):
    t, s = _gp_case()
    w = np.random.default_rng(2).uniform(0.1, 2.0, shape).astype("float32")
    per = ref.zlpr(t, s, axis=(-2, -1))  # [B, H]
    w_full = np.broadcast_to(w.reshape(B, -1), (B, H))
    expected = (per * w_full).mean()  # sum_over_batch_size: / (B * H)
    loss = L.MultilabelCategoricalCrossentropy(axis=(-2, -1))
    np.testing.assert_allclose(float(loss(t, s, sample_weight=w)), expected, rtol=1e-5)
    summed = L.MultilabelCategoricalCrossentropy(axis=(-2, -1), reduction="sum")
    np.testing.assert_allclose(
        float(summed(t, s, sample_weight=w)), (per * w_full).sum(), rtol=1e-5
    )


@pytest.mark.parametrize("shape", [(H + 1,), (B, H + 1), (B, H, 2), (2, B)])
def test_sample_weight_of_another_shape_raises(shape):
    t, s = _gp_case()
    loss = L.MultilabelCategoricalCrossentropy(axis=(-2, -1))
    with pytest.raises(ValueError, match=r"`sample_weight` must have shape"):
        loss(t, s, sample_weight=np.ones(shape, "float32"))


def test_sample_weight_on_token_losses_and_divergences():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((B, 4, 5)).astype("float32")  # [B, T, C], B != T
    labels = rng.integers(0, 5, (B, 4)).astype("int32")
    labels[0, -1] = 0
    w = np.array([0.5, 2.0, 1.0], "float32")
    per = ref.sparse_gamma_ce(labels, logits, 0.3, 0.1, True)  # [B, T]
    loss = L.SparseGammaCrossentropy(0.3, threshold=0.1, from_logits=True)
    np.testing.assert_allclose(
        float(loss(labels, logits, sample_weight=w)),
        (per * w[:, None]).mean(),
        rtol=1e-5,
    )
    # With ignore_class, ignored tokens leave the mean's denominator.
    loss = L.SparseGammaCrossentropy(
        0.3, threshold=0.1, from_logits=True, ignore_class=0
    )
    keep = labels != 0
    expected = (per * w[:, None] * keep).sum() / keep.sum()
    np.testing.assert_allclose(
        float(loss(labels, logits, sample_weight=w)), expected, rtol=1e-5
    )
    t, s = _gp_case(4)
    per = ref.sigmoid_sym_kl(t, s, axis=(-2, -1))
    kl = L.SigmoidKLDivergence(axis=(-2, -1))
    np.testing.assert_allclose(
        float(kl(t, s, sample_weight=w)), (per * w[:, None]).mean(), rtol=1e-5
    )


def test_sample_weight_in_fit_and_evaluate():
    x, y = _data("multi_hot", n=6)
    w = np.array([0.0, 1.0, 2.0, 0.5, 3.0, 1.0], "float32")
    model = _gp_model(seed=5)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),  # weights do not move: loss is predictable
        loss=L.MultilabelCategoricalCrossentropy(axis=(-2, -1)),
        jit_compile=JIT,
    )
    per = ref.zlpr(y, model.predict(x, verbose=0), axis=(-2, -1))  # [6, H]
    expected = (per * w[:, None]).mean()
    history = model.fit(x, y, sample_weight=w, batch_size=6, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    np.testing.assert_allclose(
        model.evaluate(x, y, sample_weight=w, batch_size=6, verbose=0),
        expected,
        rtol=1e-5,
    )
    # A per-head weight [B, heads] applies as it is.
    w2 = np.random.default_rng(6).uniform(0, 2, (6, H)).astype("float32")
    np.testing.assert_allclose(
        model.evaluate(x, y, sample_weight=w2, batch_size=6, verbose=0),
        (per * w2).mean(),
        rtol=1e-5,
    )


def test_partial_function_losses_still_work():
    # A gamma function needs its gamma: functools.partial is the usual way.
    loss = functools.partial(L.sparse_gamma_crossentropy, gamma=0.2, from_logits=True)
    logits = np.random.default_rng(7).standard_normal((4, 3)).astype("float32")
    labels = np.array([0, 1, 2, 1])
    out = keras.ops.convert_to_numpy(loss(labels, logits))
    np.testing.assert_allclose(
        out, ref.sparse_gamma_ce(labels, logits, 0.2, 0.0, True), rtol=1e-5
    )


def test_sample_weight_on_sparse_global_pointer_loss():
    rng = np.random.default_rng(8)
    s = (rng.standard_normal((B, H, N, N)) * 2).astype("float32")
    idx = rng.integers(1, N * N, (B, H, 3)).astype("int32")
    w = np.array([0.5, 2.0, 1.0], "float32")
    per = ref.zlpr(ref.multi_hot(idx, N * N).reshape(B, H, N, N), s, axis=(-2, -1))
    loss = L.SparseMultilabelCategoricalCrossentropy(axis=(-2, -1))
    np.testing.assert_allclose(
        float(loss(idx, s, sample_weight=w)), (per * w[:, None]).mean(), rtol=1e-5
    )
    with pytest.raises(ValueError, match="sample_weight"):
        loss(idx, s, sample_weight=np.ones((H + 1,), "float32"))
