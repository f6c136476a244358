"""keras_rdkl.compat.bert4keras against NumPy references and the native API."""

import keras
import numpy as np
import pytest

from keras_rdkl import layers
from keras_rdkl import losses
from keras_rdkl import mask_value
from keras_rdkl.compat import bert4keras as b4k
from tests._grad import grad


def _np(x):
    return keras.ops.convert_to_numpy(x)


def np_zlpr(t, s):
    """ZLPR from the formula, row-wise over the last axis, float64.

    loss = log(1 + sum_pos exp(-s)) + log(1 + sum_neg exp(s)); masked scores
    (<= -2e4 or -inf) are left out of both sums.
    """
    t = np.asarray(t, "float64")
    s = np.asarray(s, "float64")
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(s.shape[:-1]):
        row, tr = s[idx], t[idx]
        keep = row > -2.0e4
        pos = -row[keep & (tr > 0.5)]
        neg = row[keep & (tr <= 0.5)]
        out[idx] = np.logaddexp.reduce(np.r_[0.0, pos]) + np.logaddexp.reduce(
            np.r_[0.0, neg]
        )
    return out


def _gp_inputs(seed=0, batch=2, heads=3, length=4):
    rng = np.random.default_rng(seed)
    y_pred = (rng.normal(size=(batch, heads, length, length)) * 3).astype("float32")
    y_pred[..., np.tril_indices(length, -1)[0], np.tril_indices(length, -1)[1]] = (
        mask_value("float32")
    )
    y_true = (rng.random((batch, heads, length, length)) < 0.25).astype("float32")
    y_true *= np.triu(np.ones((length, length), "float32"))
    return y_true, y_pred


def test_multilabel_categorical_crossentropy():
    rng = np.random.default_rng(0)
    s = (rng.normal(size=(3, 5)) * 4).astype("float32")
    t = (rng.random((3, 5)) < 0.4).astype("float32")
    t[0] = 0  # all-negative row
    t[1] = 1  # all-positive row
    s[2, 0] = -np.inf  # masked, bert4keras style
    np.testing.assert_allclose(
        _np(b4k.multilabel_categorical_crossentropy(t, s)), np_zlpr(t, s), rtol=1e-5
    )


def test_sparse_multilabel_matches_dense_reference():
    rng = np.random.default_rng(1)
    s = (rng.normal(size=(2, 3, 6)) * 3).astype("float32")
    idx = np.array([[[1, 4], [0, 0], [5, 2]], [[3, 3], [2, 0], [0, 5]]], "int32")
    for mask_zero in (False, True):
        t = np.zeros(s.shape, "float32")
        for i in np.ndindex(idx.shape[:-1]):
            for k in idx[i]:
                if not (mask_zero and k == 0):
                    t[i + (k,)] = 1
        got = b4k.sparse_multilabel_categorical_crossentropy(
            idx, s, mask_zero=mask_zero
        )
        # mask_zero: class 0 is no negative either (bert4keras' meaning).
        s_ref = np.where(np.arange(6) == 0, -np.inf, s) if mask_zero else s
        np.testing.assert_allclose(_np(got), np_zlpr(t, s_ref), rtol=1e-5)
        native = losses.sparse_multilabel_categorical_crossentropy(
            idx, s, mask_zero=mask_zero
        )
        np.testing.assert_allclose(_np(got), _np(native), rtol=1e-6)


def test_sparse_duplicates_never_negative():
    # bert4keras' own formula goes negative here; the port counts [3, 3] once.
    s = np.array([[-30.0, -30.0, -30.0, 40.0]], "float32")
    got = _np(b4k.sparse_multilabel_categorical_crossentropy(np.array([[3, 3]]), s))
    assert np.all(got >= 0) and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, np_zlpr([[0, 0, 0, 1]], s), rtol=1e-5, atol=1e-6)


def test_global_pointer_crossentropy_mean_over_batch_heads():
    y_true, y_pred = _gp_inputs()
    b, h, n, _ = y_pred.shape
    expected = np_zlpr(y_true.reshape(b * h, -1), y_pred.reshape(b * h, -1)).mean()
    got = _np(b4k.global_pointer_crossentropy(y_true, y_pred))
    assert got.shape == ()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    native = losses.MultilabelCategoricalCrossentropy(axis=(-2, -1))(y_true, y_pred)
    np.testing.assert_allclose(got, _np(native), rtol=1e-6)


def _pairs_and_dense(length, heads, batch, seed):
    rng = np.random.default_rng(seed)
    pairs = np.zeros((batch, heads, 3, 2), "int32")  # (0, 0) pads
    dense = np.zeros((batch, heads, length, length), "float32")
    for b in range(batch):
        for h in range(heads):
            for k in range(rng.integers(0, 4)):
                s = int(rng.integers(1, length))
                e = int(rng.integers(s, length))
                pairs[b, h, k] = (s, e)
                dense[b, h, s, e] = 1
    return pairs, dense


def test_sparse_global_pointer_crossentropy():
    length, heads, batch = 5, 2, 3
    pairs, dense = _pairs_and_dense(length, heads, batch, seed=2)
    _, y_pred = _gp_inputs(seed=3, batch=batch, heads=heads, length=length)
    y_pred[:, :, 0, 0] = 9.0  # span (0, 0) is class 0: never counts
    y_ref = y_pred.copy()
    y_ref[:, :, 0, 0] = -np.inf
    per = np_zlpr(dense.reshape(batch, heads, -1), y_ref.reshape(batch, heads, -1))
    expected = per.sum(axis=1).mean()
    got = _np(b4k.sparse_global_pointer_crossentropy(pairs, y_pred))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    flat = pairs[..., 0] * length + pairs[..., 1]
    native = losses.sparse_multilabel_categorical_crossentropy(
        flat, y_pred, mask_zero=True, axis=(-2, -1)
    )
    np.testing.assert_allclose(got, _np(native).sum(axis=1).mean(), rtol=1e-6)


def test_sparse_global_pointer_gradient_finite_differences():
    length, heads, batch = 3, 2, 2
    pairs, dense = _pairs_and_dense(length, heads, batch, seed=5)
    rng = np.random.default_rng(6)
    y_pred = rng.normal(size=(batch, heads, length, length))

    def ref(x):
        x = x.copy()
        x[:, :, 0, 0] = -np.inf  # span (0, 0) is class 0: never counts
        return (
            np_zlpr(dense.reshape(batch, heads, -1), x.reshape(batch, heads, -1))
            .sum(1)
            .mean()
        )

    g = grad(lambda v: b4k.sparse_global_pointer_crossentropy(pairs, v), y_pred)
    fd = np.zeros_like(y_pred)
    eps = 1e-5
    for i in np.ndindex(y_pred.shape):
        d = np.zeros_like(y_pred)
        d[i] = eps
        fd[i] = (ref(y_pred + d) - ref(y_pred - d)) / (2 * eps)
    np.testing.assert_allclose(g, fd, atol=2e-4)


def test_sparse_global_pointer_validates():
    with pytest.raises(ValueError, match="y_true"):
        b4k.sparse_global_pointer_crossentropy(
            np.zeros((1, 1, 3)), np.zeros((1, 1, 3, 3))
        )


def test_global_pointer_f1_score():
    y_true, y_pred = _gp_inputs(seed=7)
    p = (y_pred > 0).astype("float64")
    expected = 2 * (y_true * p).sum() / (y_true + p).sum()
    np.testing.assert_allclose(
        _np(b4k.global_pointer_f1_score(y_true, y_pred)), expected, rtol=1e-6
    )
    # Neither gold nor predicted spans: 0 (bert4keras gives NaN).
    empty = _np(
        b4k.global_pointer_f1_score(np.zeros((1, 1, 2, 2)), -np.ones((1, 1, 2, 2)))
    )
    assert empty == 0.0
    # Masked (-inf / finite mask) logits are never positive.
    masked = np.full((1, 1, 2, 2), -np.inf, "float32")
    assert _np(b4k.global_pointer_f1_score(np.eye(2)[None, None], masked)) == 0.0


@pytest.mark.parametrize("name", ["GlobalPointer", "EfficientGlobalPointer"])
@pytest.mark.parametrize("rope", [True, False])
def test_layers_match_native_and_serialize(name, rope, tmp_path):
    compat_cls, native_cls = getattr(b4k, name), getattr(layers, name)
    x = np.random.default_rng(8).normal(size=(2, 5, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
    a = compat_cls(heads=2, head_size=4, RoPE=rope, tril_mask=True)
    b = native_cls(heads=2, head_size=4, rope=rope, tril_mask=True)
    a.build(x.shape)
    b.build(x.shape)
    b.set_weights(a.get_weights())
    assert a.RoPE is rope and a.rope is rope
    np.testing.assert_allclose(_np(a(x, mask=mask)), _np(b(x, mask=mask)), rtol=1e-6)
    config = a.get_config()
    assert config["RoPE"] is rope and "rope" not in config
    assert compat_cls.from_config(config).rope is rope

    inputs = keras.Input((5, 8))
    model = keras.Model(inputs, compat_cls(heads=2, head_size=4, RoPE=rope)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is compat_cls
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-6)


def test_sinusoidal_position_embedding():
    layer = b4k.SinusoidalPositionEmbedding(output_dim=6, merge_mode="add")
    native = layers.SinusoidalPositionEmbedding(output_dim=6, merge_mode="add")
    x = np.random.default_rng(9).normal(size=(1, 4, 6)).astype("float32")
    np.testing.assert_allclose(_np(layer(x)), _np(native(x)), rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is b4k.SinusoidalPositionEmbedding
    assert restored.get_config()["merge_mode"] == "add"


def test_fit_with_compat_names():
    length = 5
    x = np.random.default_rng(10).normal(size=(4, length, 8)).astype("float32")
    y = np.zeros((4, 2, length, length), "float32")
    y[:, 0, 1, 2] = 1
    inputs = keras.Input((length, 8))
    model = keras.Model(inputs, b4k.GlobalPointer(2, 4)(inputs))
    model.compile(
        optimizer="adam",
        loss=b4k.global_pointer_crossentropy,
        metrics=[b4k.global_pointer_f1_score],
    )
    hist = model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert np.all(np.isfinite(hist.history["global_pointer_f1_score"]))


def test_porting_guide_port_runs(capsys):
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "porting.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    port = next(b for b in blocks if "import keras_rdkl" in b)
    namespace = {}
    exec(compile(port, "docs/porting.md", "exec"), namespace)
    # The toy model learns its four sentences; decoding gives (t, s, e, score).
    result = namespace["model"].evaluate(
        namespace["x"], namespace["y"], verbose=0, return_dict=True
    )
    assert 0.0 <= result["span_f1"] <= 1.0 and np.isfinite(result["loss"])
    assert all(len(s) == 4 and s[1] <= s[2] for s in namespace["pred"][0])
    imports = next(b for b in blocks if "from keras_rdkl.compat.bert4keras" in b)
    exec(compile(imports, "docs/porting.md", "exec"), {})


# ------------------------------------------------------- keyword spellings


@pytest.mark.parametrize("name", ["GlobalPointer", "EfficientGlobalPointer"])
def test_rope_spellings_are_never_dropped(name):
    compat_cls, native_cls = getattr(b4k, name), getattr(layers, name)
    x = np.random.default_rng(11).normal(size=(2, 5, 8)).astype("float32")
    for kwargs, expected in [
        ({}, True),
        ({"RoPE": False}, False),
        ({"rope": False}, False),  # the native spelling works too
        ({"RoPE": True, "rope": True}, True),
        ({"RoPE": False, "rope": False}, False),
    ]:
        layer = compat_cls(2, 4, **kwargs)
        assert layer.rope is expected and layer.RoPE is expected, kwargs
        assert layer.get_config()["RoPE"] is expected
        native = native_cls(2, 4, rope=expected)
        layer.build(x.shape)
        native.build(x.shape)
        native.set_weights(layer.get_weights())
        np.testing.assert_allclose(_np(layer(x)), _np(native(x)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"RoPE=True, rope=False"):
        compat_cls(2, 4, RoPE=True, rope=False)
    with pytest.raises(ValueError, match=r"RoPE.*'yes'"):
        compat_cls(2, 4, RoPE="yes")


@pytest.mark.parametrize("name", ["GlobalPointer", "EfficientGlobalPointer"])
@pytest.mark.parametrize("keyword", ["weights", "batch_input_shape", "dynamic", "Rope"])
def test_unknown_keywords_raise_naming_them(name, keyword):
    with pytest.raises(ValueError, match=keyword):
        getattr(b4k, name)(2, 4, **{keyword: True})


# ------------------------------------------------------------ save / load


def _dense_model(n_out=5):
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(n_out)(inputs))


def _gp_model(length=5, heads=2):
    inputs = keras.Input((length, 8))
    return keras.Model(inputs, b4k.GlobalPointer(heads, 4)(inputs))


def _save_load_case(case):
    rng = np.random.default_rng(12)
    if case in ("multilabel", "sparse_multilabel"):
        x = rng.normal(size=(4, 6)).astype("float32")
        if case == "multilabel":
            y = (rng.random((4, 5)) < 0.4).astype("float32")
            loss = b4k.multilabel_categorical_crossentropy
        else:
            y = np.array([[1, 3], [0, 4], [2, 2], [4, 0]], "int32")
            loss = b4k.sparse_multilabel_categorical_crossentropy
        return _dense_model(), x, y, loss
    x = rng.normal(size=(4, 5, 8)).astype("float32")
    if case == "global_pointer":
        y = np.zeros((4, 2, 5, 5), "float32")
        y[:, 0, 1, 2] = 1
        return _gp_model(), x, y, b4k.global_pointer_crossentropy
    pairs, _ = _pairs_and_dense(5, 2, 4, seed=13)
    return _gp_model(), x, pairs, b4k.sparse_global_pointer_crossentropy


@pytest.mark.parametrize(
    "case",
    ["multilabel", "sparse_multilabel", "global_pointer", "sparse_global_pointer"],
)
def test_compiled_compat_losses_survive_save_and_load(case, tmp_path):
    model, x, y, loss = _save_load_case(case)
    metrics = [b4k.global_pointer_f1_score] if case == "global_pointer" else []
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    before = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = loaded.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, err_msg=key)
    if isinstance(loss, keras.losses.Loss):
        assert type(loaded.loss) is type(loss)
    else:
        assert loaded.loss is loss


def test_compat_names_are_registered():
    for obj in (
        b4k.multilabel_categorical_crossentropy,
        b4k.sparse_multilabel_categorical_crossentropy,
        b4k.global_pointer_f1_score,
        b4k.GlobalPointerCrossentropy,
        b4k.SparseGlobalPointerCrossentropy,
    ):
        name = keras.saving.get_registered_name(obj)
        assert name.startswith("keras_rdkl.compat>"), name
        assert keras.saving.get_registered_object(name) is obj
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(b4k.sparse_global_pointer_crossentropy)
    )
    assert type(restored) is b4k.SparseGlobalPointerCrossentropy


# ---------------------------------------------------------- sample_weight


def _per_head_dense(y_true, y_pred):
    b, h = y_pred.shape[:2]
    return np_zlpr(y_true.reshape(b, h, -1), y_pred.reshape(b, h, -1))


def test_global_pointer_crossentropy_sample_weight():
    y_true, y_pred = _gp_inputs(seed=14, batch=3, heads=2, length=4)
    per = _per_head_dense(y_true, y_pred)  # [B, heads]
    loss = b4k.global_pointer_crossentropy
    np.testing.assert_allclose(_np(loss(y_true, y_pred)), per.mean(), rtol=1e-5)
    w = np.array([2.0, 0.0, 0.5], "float32")
    expected = (per * w[:, None]).sum() / per.size  # each sample's heads
    for weight in (w, w[:, None]):
        np.testing.assert_allclose(
            _np(loss(y_true, y_pred, weight)), expected, rtol=1e-5
        )
    wh = np.array([[1.0, 0.0], [0.5, 2.0], [0.0, 3.0]], "float32")
    np.testing.assert_allclose(
        _np(loss(y_true, y_pred, wh)), (per * wh).sum() / per.size, rtol=1e-5
    )
    for bad in (np.ones(2), np.ones((3, 3)), np.ones((3, 2, 1, 2))):
        with pytest.raises(ValueError, match="sample_weight"):
            loss(y_true, y_pred, bad)


def test_sparse_global_pointer_crossentropy_sample_weight_and_reductions():
    length, heads, batch = 5, 2, 3
    pairs, dense = _pairs_and_dense(length, heads, batch, seed=15)
    _, y_pred = _gp_inputs(seed=16, batch=batch, heads=heads, length=length)
    y_ref = y_pred.copy()
    y_ref[:, :, 0, 0] = -np.inf  # class 0 never counts
    per = _per_head_dense(dense, y_ref)  # [B, heads]
    loss = b4k.sparse_global_pointer_crossentropy
    w = np.array([2.0, 0.0, 0.5], "float32")
    for weight in (w, w[:, None]):
        np.testing.assert_allclose(
            _np(loss(pairs, y_pred, weight)), (per.sum(1) * w).mean(), rtol=1e-5
        )
    wh = np.array([[1.0, 0.0], [0.5, 2.0], [0.0, 3.0]], "float32")
    np.testing.assert_allclose(
        _np(loss(pairs, y_pred, wh)), (per * wh).sum(1).mean(), rtol=1e-5
    )
    with pytest.raises(ValueError, match="sample_weight"):
        loss(pairs, y_pred, np.ones(2))
    none = b4k.SparseGlobalPointerCrossentropy(reduction=None)
    np.testing.assert_allclose(_np(none(pairs, y_pred)), per.sum(1), rtol=1e-5)
    total = b4k.SparseGlobalPointerCrossentropy(reduction="sum")
    np.testing.assert_allclose(
        _np(total(pairs, y_pred, w)), (per.sum(1) * w).sum(), rtol=1e-5
    )
    with pytest.raises(ValueError, match="reduction.*mean_with_sample_weight"):
        b4k.SparseGlobalPointerCrossentropy(reduction="mean_with_sample_weight")


@pytest.mark.parametrize("case", ["global_pointer", "sparse_global_pointer"])
def test_fit_weights_samples_not_heads(case):
    # Batch 2 == heads 2: a [B] weight lined up with the heads axis would
    # give a different number without any error.
    model, x, y, loss = _save_load_case(case)
    model.compile(optimizer="adam", loss=loss)
    x, y = x[:2], y[:2]
    w = np.array([1.0, 0.0], "float32")
    got = model.evaluate(x, y, sample_weight=w, batch_size=2, verbose=0)
    expected = _np(loss(y, model.predict(x, verbose=0), w))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    if case == "global_pointer":
        per = _per_head_dense(y, model.predict(x, verbose=0))
        np.testing.assert_allclose(got, per[0].sum() / per.size, rtol=1e-5)


# ------------------------------------------------------------- bad inputs


def test_sparse_multilabel_bad_inputs():
    s = np.zeros((2, 6), "float32")
    f = b4k.sparse_multilabel_categorical_crossentropy
    for idx, value in (
        ([[1, 6], [0, 2]], "6"),
        ([[1, -1], [0, 2]], "-1"),
        ([[1.5, 2], [0, 2]], "1.5"),
    ):
        with pytest.raises(
            ValueError,
            match=r"`y_true` must hold integer class indices in \[0, 6\)\. Received: y_true holds "
            + value,
        ):
            f(np.array(idx), s)
    with pytest.raises(ValueError, match="mask_zero"):
        f(np.array([[1, 2], [0, 2]]), s, mask_zero="yes")
    with pytest.raises(ValueError, match="y_true"):
        f(np.zeros((3, 2), "int32"), s)
    # Integral floats are indices (Keras hands labels over as floats).
    np.testing.assert_allclose(
        _np(f(np.array([[1.0, 2.0], [0.0, 5.0]]), s, True)),
        _np(f(np.array([[1, 2], [0, 5]]), s, True)),
    )


def test_global_pointer_loss_bad_inputs():
    pairs = np.zeros((2, 3, 2, 2), "int32")
    grid = np.zeros((2, 3, 4, 4), "float32")
    sgp = b4k.sparse_global_pointer_crossentropy
    bad_pairs = pairs.copy()
    bad_pairs[1, 2, 0] = (1, 4)
    with pytest.raises(
        ValueError, match=r"integer span positions in \[0, 4\).*holds 4"
    ):
        sgp(bad_pairs, grid)
    with pytest.raises(ValueError, match=r"y_true.*\(2, 3, 2, 3\)"):
        sgp(np.zeros((2, 3, 2, 3), "int32"), grid)
    with pytest.raises(ValueError, match=r"y_true.*\(2, 2, 2, 2\)"):
        sgp(np.zeros((2, 2, 2, 2), "int32"), grid)
    for loss, y_true in ((sgp, pairs), (b4k.global_pointer_crossentropy, grid)):
        with pytest.raises(ValueError, match=r"y_pred.*\(2, 3, 16\)"):
            loss(y_true, grid.reshape(2, 3, 16))
        with pytest.raises(ValueError, match=r"y_pred.*\(2, 3, 4, 2\)"):
            loss(y_true, grid[..., :2])
    with pytest.raises(ValueError, match="y_true"):
        b4k.global_pointer_crossentropy(grid[:, :2], grid)
    with pytest.raises(ValueError, match="y_true"):
        b4k.global_pointer_f1_score(grid[:, :2], grid)
    with pytest.raises(ValueError, match="y_true"):
        b4k.multilabel_categorical_crossentropy(np.zeros((2, 3)), np.zeros((2, 4)))
