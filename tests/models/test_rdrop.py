"""RDropModel: exact loss and gradient, plain-model equivalence, masks, training, saving."""

import textwrap
import warnings

import keras
import numpy as np
import pytest
from keras import ops

import keras_rdkl
from keras_rdkl.losses import MultilabelCategoricalCrossentropy
from keras_rdkl.losses import SigmoidKLDivergence
from keras_rdkl.losses import SoftmaxKLDivergence
from keras_rdkl.models import RDropModel
from keras_rdkl.models import _kl_choice
from tests.conftest import BACKEND
from tests.conftest import run_on_two_jax_devices

PATTERN = np.array([1.0, -0.5, 0.25], dtype="float64")


@keras.saving.register_keras_serializable(package="keras_rdkl_tests")
class RowOffsetDropout(keras.layers.Layer):
    """Deterministic stand-in for dropout: in training, row r gets scale*(r+1)*pattern."""

    def __init__(self, scale=0.3, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.supports_masking = True

    def call(self, x, training=None):
        if not training:
            return x
        n = ops.shape(x)[0]
        rows = ops.cast(ops.arange(n) + 1, x.dtype) * self.scale
        pattern = ops.convert_to_tensor(PATTERN[: x.shape[-1]].astype("float32"))
        rows = ops.reshape(rows, [-1] + [1] * (len(x.shape) - 1))
        return x + rows * ops.cast(pattern, x.dtype)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


# ---- NumPy references, written from the formulas -------------------------


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_sym_kl_softmax(z1, z2):
    lp, lq = np_log_softmax(z1), np_log_softmax(z2)
    return ((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum(-1)


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_offsets(n, c, scale):
    return scale * (np.arange(n)[:, None] + 1.0) * PATTERN[None, :c]


def np_rdrop_loss(w, b, x, y, sw, alpha, scale):
    """1/2 (L1 + L2) + alpha/2 D with sparse softmax CE, averaged over B."""
    bsz = x.shape[0]
    z = x @ w + b
    off = np_offsets(2 * bsz, w.shape[1], scale)
    z1, z2 = z + off[:bsz], z + off[bsz:]
    ce1 = -np_log_softmax(z1)[np.arange(bsz), y]
    ce2 = -np_log_softmax(z2)[np.arange(bsz), y]
    l1, l2 = (sw * ce1).sum() / bsz, (sw * ce2).sum() / bsz
    d = (sw * np_sym_kl_softmax(z1, z2)).sum() / bsz
    return 0.5 * (l1 + l2) + alpha * 0.5 * d, d, ce1.mean()


def np_numeric_grad(f, p, eps=1e-6):
    g = np.zeros_like(p)
    it = np.nditer(p, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        hi, lo = p.copy(), p.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (f(hi) - f(lo)) / (2 * eps)
    return g


def _mlp(dropout=0.3, units=16, classes=3, dim=8, **dense_kwargs):
    inputs = keras.Input((dim,))
    h = keras.layers.Dense(units, activation="relu", **dense_kwargs)(inputs)
    if dropout:
        h = keras.layers.Dropout(dropout)(h)
    return keras.Model(inputs, keras.layers.Dense(classes)(h))


def _data(n=16, dim=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0.5).astype("int32")
    return x, y % classes


# ---- exactness -------------------------------------------------------------


def test_loss_gradient_and_metrics_match_numpy_reference():
    bsz, dim, c, alpha, scale, lr = 4, 5, 3, 1.5, 0.3, 0.5
    rng = np.random.default_rng(1)
    x = rng.normal(size=(bsz, dim)).astype("float32")
    y = np.array([0, 2, 1, 2])
    sw = np.array([1.0, 0.5, 0.0, 2.0], dtype="float32")
    inputs = keras.Input((dim,))
    out = RowOffsetDropout(scale)(keras.layers.Dense(c, name="dense")(inputs))
    model = RDropModel(keras.Model(inputs, out), alpha=alpha, kl="softmax")
    model.compile(
        keras.optimizers.SGD(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce")
        ],
    )
    dense = model.model.get_layer("dense")
    w0 = keras.ops.convert_to_numpy(dense.kernel).astype("float64")
    b0 = keras.ops.convert_to_numpy(dense.bias).astype("float64")
    hist = model.fit(
        x, y, sample_weight=sw, batch_size=bsz, epochs=1, shuffle=False, verbose=0
    ).history

    total, d, ce_half1 = np_rdrop_loss(w0, b0, x, y, sw, alpha, scale)
    np.testing.assert_allclose(hist["loss"][0], total, rtol=1e-5)
    np.testing.assert_allclose(hist["kl"][0], d, rtol=1e-5)
    assert d > 0
    # Compiled metrics see the first half (unweighted metric: plain mean).
    np.testing.assert_allclose(hist["ce"][0], ce_half1, rtol=1e-5)

    gw = np_numeric_grad(lambda w: np_rdrop_loss(w, b0, x, y, sw, alpha, scale)[0], w0)
    gb = np_numeric_grad(lambda b: np_rdrop_loss(w0, b, x, y, sw, alpha, scale)[0], b0)
    w1 = keras.ops.convert_to_numpy(dense.kernel)
    b1 = keras.ops.convert_to_numpy(dense.bias)
    np.testing.assert_allclose((w0 - w1) / lr, gw, atol=2e-5)
    np.testing.assert_allclose((b0 - b1) / lr, gb, atol=2e-5)

    # Evaluate and predict: one deterministic pass.
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(pred, x @ w1 + b1, rtol=1e-5, atol=1e-5)
    ev = model.evaluate(x, y, verbose=0, return_dict=True)
    ce = -np_log_softmax(x.astype("float64") @ w1 + b1)[np.arange(bsz), y]
    np.testing.assert_allclose(ev["loss"], ce.mean(), rtol=1e-5)


# ---- the doubled pass without sample weights or Keras masks ---------------

MASK32 = keras_rdkl.mask_value("float32")


@keras.saving.register_keras_serializable(package="keras_rdkl_tests")
class MaskEntries(keras.layers.Layer):
    """In training, sets the entries of a fixed [2B, ...] pattern to `value`
    (the mask value by default)."""

    def __init__(self, pattern, value=None, **kwargs):
        super().__init__(**kwargs)
        self.pattern = np.asarray(pattern, dtype=bool)
        self.value = float(MASK32) if value is None else value

    def call(self, x, training=None):
        if not training:
            return x
        return ops.where(ops.convert_to_tensor(self.pattern), self.value, x)


def np_masked_sym_kl(z1, z2, axis, temperature):
    """Symmetric softmax KL over `axis`, classes masked in either pass left out."""
    valid = (z1 > keras_rdkl.MASK_THRESHOLD) & (z2 > keras_rdkl.MASK_THRESHOLD)

    def log_softmax(z):
        z = np.where(valid, z / temperature, -np.inf)
        m = np.max(z, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))

    with np.errstate(invalid="ignore", divide="ignore"):
        lp, lq = log_softmax(z1), log_softmax(z2)
        per = np.where(valid, (np.exp(lp) - np.exp(lq)) * (lp - lq), 0.0)
    return per.sum(axis=axis)


DOUBLED_CASES = {
    # Sparse labels, classes last.
    "plain": dict(temperature=1.0, rank=2, loss="sparse"),
    "temperature": dict(temperature=2.0, rank=2, loss="sparse"),
    # Labels given as a [B, 1] column, as Keras accepts them.
    "label_column": dict(temperature=1.0, rank=2, loss="sparse_column"),
    # Soft targets with CategoricalCrossentropy.
    "categorical": dict(temperature=1.5, rank=2, loss="categorical"),
    # [B, T, C] outputs with [B, T] labels (a sequence tagger).
    "sequence": dict(temperature=1.0, rank=3, loss="sparse"),
    # Class 2 masked in the first pass of row 1 only, all of row 3 in the
    # second.
    "masked": dict(
        temperature=1.0,
        rank=2,
        loss="sparse",
        masked=True,
    ),
    # Large but finite logits in both passes (+-80 on some classes), and a
    # low one above the mask threshold (a class like any other).
    "extreme": dict(temperature=0.5, rank=2, loss="sparse", extreme=True),
    # [B, C, T] outputs, the divergence over axis 1 (not the last).
    "class_axis_1": dict(temperature=1.5, rank=3, loss="mse", axis=1),
}


@pytest.mark.parametrize("case", sorted(DOUBLED_CASES))
def test_unweighted_doubled_pass_matches_numpy_reference(case):
    opts = DOUBLED_CASES[case]
    bsz, dim, c, t_len, alpha, scale, lr = 4, 5, 3, 3, 1.5, 0.3, 0.5
    temperature, rank, kind = opts["temperature"], opts["rank"], opts["loss"]
    axis = opts.get("axis", -1)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(bsz, dim)).astype("float32")
    inputs = keras.Input((dim,))
    shape = (c,) if rank == 2 else (t_len, c)
    h = keras.layers.Dense(int(np.prod(shape)), name="dense")(inputs)
    if rank == 3:
        h = keras.layers.Reshape(shape)(h)
    pattern = np.zeros((2 * bsz, *shape), dtype=bool)
    if opts.get("masked"):
        pattern[1, 2] = True
        pattern[bsz + 3, :] = True
    if kind.startswith("sparse"):
        y = rng.integers(0, c, size=(bsz, *shape[:-1]))
        y_fit = y[:, None] if kind == "sparse_column" else y
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif kind == "categorical":
        y = rng.dirichlet(np.ones(c), size=bsz).astype("float32")
        y_fit = y
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    else:
        pattern = np.zeros((2 * bsz, c, t_len), dtype=bool)
        y = y_fit = rng.normal(size=(bsz, c, t_len)).astype("float32")
        loss = keras.losses.MeanSquaredError()
    z = RowOffsetDropout(scale)(h)  # the offsets vary over the classes
    if axis == 1:
        z = keras.layers.Permute((2, 1))(z)  # [B, C, T]
    out = MaskEntries(pattern)(z)
    extremes = []
    if opts.get("extreme"):
        for value, entries in (
            (80.0, [(0, 0), (5, 1)]),
            (-80.0, [(0, 1), (5, 0)]),
            (-1.0e4, [(1, 2)]),
        ):
            where = np.zeros_like(pattern)
            for entry in entries:
                where[entry] = True
            extremes.append((where, value))
            out = MaskEntries(where, value)(out)
    kl = SoftmaxKLDivergence(temperature=temperature, axis=axis)
    model = RDropModel(keras.Model(inputs, out), alpha=alpha, kl=kl)
    model.compile(keras.optimizers.SGD(lr), loss)
    dense = model.model.get_layer("dense")
    w0 = keras.ops.convert_to_numpy(dense.kernel).astype("float64")
    b0 = keras.ops.convert_to_numpy(dense.bias).astype("float64")

    def reference(w, b):
        zz = (x @ w + b).reshape((bsz, *shape))
        off = np_offsets(2 * bsz, c, scale)
        if rank == 3:
            off = off[:, None, :]
        zz = np.concatenate([zz, zz]) + off
        if axis == 1:
            zz = zz.transpose(0, 2, 1)
        zz = np.where(pattern, float(MASK32), zz)
        for where, value in extremes:
            zz = np.where(where, value, zz)
        if kind.startswith("sparse"):
            log_p = np_log_softmax(zz)
            labels = np.concatenate([y, y])[..., None]
            fit = -np.take_along_axis(log_p, labels, axis=-1)
        elif kind == "categorical":
            fit = -(np.concatenate([y, y]) * np_log_softmax(zz)).sum(-1)
        else:
            fit = np.square(zz - np.concatenate([y, y])).mean(-1)
        d = np_masked_sym_kl(zz[:bsz], zz[bsz:], axis, temperature)
        return fit.mean() + 0.5 * alpha * d.mean(), d.mean()

    hist = model.fit(x, y_fit, batch_size=bsz, epochs=1, shuffle=False, verbose=0)
    hist = hist.history
    total, d = reference(w0, b0)
    np.testing.assert_allclose(hist["loss"][0], total, rtol=1e-5)
    np.testing.assert_allclose(hist["kl"][0], d, rtol=1e-5)
    assert d > 0
    gw = np_numeric_grad(lambda w: reference(w, b0)[0], w0)
    gb = np_numeric_grad(lambda b: reference(w0, b)[0], b0)
    w1 = keras.ops.convert_to_numpy(dense.kernel)
    b1 = keras.ops.convert_to_numpy(dense.bias)
    np.testing.assert_allclose((w0 - w1) / lr, gw, atol=2e-5)
    np.testing.assert_allclose((b0 - b1) / lr, gb, atol=2e-5)


def test_wrong_input_shape_in_the_doubled_pass_is_a_value_error():
    # The training pass checks the wrapped model's input spec.
    model = RDropModel(_mlp(dim=8))
    with pytest.raises(ValueError, match="incompatible"):
        model(np.zeros((4, 5), "float32"), training=True)


@pytest.mark.skipif(BACKEND != "torch", reason="torch module hooks")
def test_torch_hooks_on_the_wrapped_model_still_run():
    base = _mlp()
    seen = []
    handle = base.register_forward_hook(lambda m, a, out: seen.append(out.shape[0]))
    model = RDropModel(base)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data(8)
    model.fit(x, y, batch_size=4, verbose=0)
    # Both training steps ran the hook on their 2 x 4 doubled rows (Keras'
    # own first pass on the B rows of a batch, to build, comes before).
    assert seen.count(8) == 2 and seen[-2:] == [8, 8]
    handle.remove()


def _squared_batch_mean_ce(y_true, y_pred):
    """A user loss that looks across the batch: (batch mean of the CE)^2 per sample."""
    ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    return ops.ones_like(ce) * ops.square(ops.mean(ce))


@pytest.mark.parametrize(
    "loss, halves",
    [
        ("class", "mean"),
        ("sum_reduction", "sum"),
        ("user_batch_loss", "squared_mean"),
    ],
)
def test_compiled_loss_is_the_mean_of_the_halves(loss, halves):
    # Known per-sample losses run once on the doubled rows; a "sum" reduction
    # and user losses (which may look across the batch) run on each half.
    # Either way the loss is 1/2 (L(y, y1) + L(y, y2)) + alpha/2 D.
    bsz, dim, c, alpha, scale = 4, 5, 3, 0.7, 0.3
    rng = np.random.default_rng(2)
    x = rng.normal(size=(bsz, dim)).astype("float32")
    y = np.array([0, 2, 1, 2])
    inputs = keras.Input((dim,))
    out = RowOffsetDropout(scale)(keras.layers.Dense(c, name="dense")(inputs))
    model = RDropModel(keras.Model(inputs, out), alpha=alpha, kl="softmax")
    compiled = {
        "class": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "sum_reduction": keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="sum"
        ),
        "user_batch_loss": _squared_batch_mean_ce,
    }[loss]
    model.compile(keras.optimizers.SGD(0.0), compiled)
    dense = model.model.get_layer("dense")
    w = keras.ops.convert_to_numpy(dense.kernel).astype("float64")
    b = keras.ops.convert_to_numpy(dense.bias).astype("float64")
    hist = model.fit(x, y, batch_size=bsz, epochs=1, shuffle=False, verbose=0).history

    z = x @ w + b
    off = np_offsets(2 * bsz, c, scale)
    z1, z2 = z + off[:bsz], z + off[bsz:]
    ces = [-np_log_softmax(zh)[np.arange(bsz), y] for zh in (z1, z2)]
    per_half = {
        "mean": [ce.mean() for ce in ces],
        "sum": [ce.sum() for ce in ces],
        "squared_mean": [ce.mean() ** 2 for ce in ces],
    }[halves]
    d = np_sym_kl_softmax(z1, z2).mean()
    expected = 0.5 * sum(per_half) + alpha * 0.5 * d
    np.testing.assert_allclose(hist["loss"][0], expected, rtol=1e-5)


# Keras divides activity regularization by the batch size from 3.14 on; before,
# the doubled pass sums it over 2B rows (twice a plain model's value, documented).
ACTIVITY_PER_SAMPLE = tuple(int(v) for v in keras.__version__.split(".")[:2]) >= (3, 14)


def test_alpha_zero_without_dropout_matches_plain_model():
    x, y = _data(12)
    reg = dict(kernel_regularizer=keras.regularizers.L2(0.01))
    if ACTIVITY_PER_SAMPLE:
        reg["activity_regularizer"] = keras.regularizers.L2(0.01)
    plain = _mlp(dropout=0, **reg)
    twin = keras.models.clone_model(plain)
    twin.set_weights(plain.get_weights())
    with pytest.warns(UserWarning, match="no Dropout-like layer"):
        rdrop = RDropModel(twin, alpha=0.0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    plain.compile(keras.optimizers.SGD(0.1), loss)
    rdrop.compile(keras.optimizers.SGD(0.1), loss)
    h1 = plain.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    h2 = rdrop.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-5)
    np.testing.assert_allclose(h2["kl"], 0.0, atol=1e-7)
    for a, b in zip(plain.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_divergence_positive_and_falls_with_dropout():
    x, y = _data(64, seed=3)
    model = RDropModel(_mlp(dropout=0.3, units=32), alpha=4.0)
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    hist = model.fit(x, y, batch_size=16, epochs=12, verbose=0).history
    kl = np.array(hist["kl"])
    assert np.all(np.isfinite(kl)) and np.all(kl > 0)
    assert kl[-3:].mean() < kl[:3].mean()
    assert hist["loss"][-1] < hist["loss"][0]


# ---- masks -----------------------------------------------------------------


def test_keras_mask_padding_and_zero_weights_excluded_from_divergence():
    bsz, steps, c, scale = 3, 4, 3, 0.2
    tokens = np.array([[3, 5, 0, 0], [2, 2, 7, 0], [1, 4, 6, 2]])
    sw = np.array([1.0, 1.0, 0.0], dtype="float32")
    inputs = keras.Input((steps,), dtype="int32")
    h = keras.layers.Embedding(10, c, mask_zero=True, name="emb")(inputs)
    out = RowOffsetDropout(scale)(h)
    model = RDropModel(keras.Model(inputs, out), alpha=1.0, kl="softmax")
    model.compile(
        keras.optimizers.SGD(0.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    emb = keras.ops.convert_to_numpy(model.model.get_layer("emb").embeddings).astype(
        "float64"
    )
    y = np.zeros((bsz, steps), dtype="int32")
    # Keras wants per-position weights for a [B, T] loss.
    sw_bt = np.repeat(sw[:, None], steps, axis=1)
    hist = model.fit(
        tokens, y, sample_weight=sw_bt, batch_size=bsz, shuffle=False, verbose=0
    ).history

    z = emb[tokens]  # [B, T, C]
    off = np_offsets(2 * bsz, c, scale)[:, None, :]
    z1, z2 = z + off[:bsz], z + off[bsz:]
    d = np_sym_kl_softmax(z1, z2)  # [B, T]
    valid = tokens != 0
    # Keras averages over unmasked positions; weight-0 rows add nothing.
    expected = (sw[:, None] * valid * d).sum() / valid.sum()
    np.testing.assert_allclose(hist["kl"][0], expected, rtol=1e-5)
    # Equals the same data restricted to the unmasked, weighted positions.
    subset = d[valid & (sw[:, None] > 0)]
    np.testing.assert_allclose(
        hist["kl"][0] * valid.sum() / valid[:2].sum(), subset.mean(), rtol=1e-5
    )


def test_masked_logits_excluded_from_sigmoid_divergence():
    bsz, n, scale = 2, 3, 0.4
    mask_value = keras_rdkl.mask_value("float32")

    class Scores(keras.layers.Layer):
        def call(self, x):
            return ops.where(ops.equal(x, 0.0), mask_value, x)

    x = np.array([[0.5, 0.0, -1.0], [0.0, 2.0, 0.0]], dtype="float32")
    inputs = keras.Input((n,))
    out = RowOffsetDropout(scale)(Scores()(inputs))
    model = RDropModel(keras.Model(inputs, out), alpha=1.0, kl="sigmoid")
    model.compile(keras.optimizers.SGD(0.0), MultilabelCategoricalCrossentropy())
    hist = model.fit(
        x, (x > 0).astype("float32"), batch_size=bsz, shuffle=False, verbose=0
    ).history
    off = np_offsets(2 * bsz, n, scale)
    s1, s2 = x + off[:bsz], x + off[bsz:]
    per = (np_sigmoid(s1) - np_sigmoid(s2)) * (s1 - s2)
    expected = np.where(x != 0, per, 0.0).sum(-1).mean()
    assert np.isfinite(hist["loss"][0])
    np.testing.assert_allclose(hist["kl"][0], expected, rtol=1e-5)


def test_global_pointer_ner_trains_with_sigmoid_divergence():
    rng = np.random.default_rng(0)
    bsz, length, heads = 8, 6, 2
    tokens = rng.integers(1, 20, size=(bsz, length))
    tokens[:, 4:] = 0  # padding
    labels = np.zeros((bsz, heads, length, length), dtype="float32")
    for i in range(bsz):
        for j in range(4):
            if tokens[i, j] < 6:
                labels[i, 0, j, j] = 1.0
            if j < 3 and tokens[i, j] > 15:
                labels[i, 1, j, j + 1] = 1.0
    inputs = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(20, 16, mask_zero=True)(inputs)
    h = keras.layers.Dropout(0.2)(h)
    out = keras_rdkl.layers.GlobalPointer(heads, 8)(h)
    model = RDropModel(keras.Model(inputs, out), alpha=1.0, kl="sigmoid")
    model.compile(
        keras.optimizers.Adam(0.02), MultilabelCategoricalCrossentropy(axis=(-2, -1))
    )
    hist = model.fit(tokens, labels, batch_size=4, epochs=6, verbose=0).history
    assert np.all(np.isfinite(hist["loss"])) and np.all(np.isfinite(hist["kl"]))
    assert hist["kl"][0] > 0
    assert hist["loss"][-1] < hist["loss"][0]
    assert model.predict(tokens, verbose=0).shape == (bsz, heads, length, length)


# ---- Keras features --------------------------------------------------------


def test_auto_kl_choice():
    x, y = _data(8)
    model = RDropModel(_mlp(), kl="auto")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert _kl_choice.resolve(model.kl, model.loss, model.model)[:2] == (
        "softmax",
        True,
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert _kl_choice.resolve(model.kl, model.loss, model.model)[:2] == (
        "softmax",
        False,
    )
    model.compile("sgd", keras.losses.BinaryCrossentropy(from_logits=True))
    assert _kl_choice.resolve(model.kl, model.loss, model.model)[:2] == (
        "sigmoid",
        True,
    )
    model.compile("sgd", MultilabelCategoricalCrossentropy(axis=(-2, -1)))
    assert _kl_choice.resolve(model.kl, model.loss, model.model) == (
        "sigmoid",
        True,
        (-2, -1),
    )
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="kl"):
        _kl_choice.resolve(model.kl, model.loss, model.model)
    inputs = keras.Input((4,))
    probs = keras.Model(
        inputs,
        keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.1)(inputs)),
    )
    model = RDropModel(probs)
    model.compile("sgd", "mse")
    assert _kl_choice.resolve(model.kl, model.loss, model.model)[:2] == (
        "softmax",
        False,
    )
    hist = model.fit(x[:, :4], keras.utils.to_categorical(y, 3), verbose=0).history
    assert np.isfinite(hist["kl"][0]) and hist["kl"][0] >= 0


@pytest.mark.parametrize(
    "loss,expected",
    [
        (keras.losses.CategoricalCrossentropy(from_logits=True), ("softmax", True, -1)),
        (keras.losses.CategoricalFocalCrossentropy(), ("softmax", False, -1)),
        (keras.losses.KLDivergence(), ("softmax", False, None)),
        (keras.losses.categorical_crossentropy, ("softmax", False, -1)),
        ("categorical_crossentropy", ("softmax", False, -1)),
        (keras.losses.BinaryFocalCrossentropy(from_logits=True), ("sigmoid", True, -1)),
        (keras.losses.binary_crossentropy, ("sigmoid", False, -1)),
        ("binary_crossentropy", ("sigmoid", False, -1)),
        (
            keras_rdkl.losses.SparseGammaCrossentropy(0.5, from_logits=True),
            ("softmax", True, -1),
        ),
        (
            keras_rdkl.losses.GammaCrossentropy(0.5, from_logits=False),
            ("softmax", False, -1),
        ),
        (keras_rdkl.losses.sparse_gamma_crossentropy, ("softmax", None, -1)),
        (
            keras_rdkl.losses.SparseMultilabelCategoricalCrossentropy(),
            ("sigmoid", True, -1),
        ),
        (keras_rdkl.losses.multilabel_categorical_crossentropy, ("sigmoid", True, -1)),
        (
            keras_rdkl.losses.sparse_multilabel_categorical_crossentropy,
            ("sigmoid", True, -1),
        ),
        (
            keras_rdkl.compat.bert4keras.multilabel_categorical_crossentropy,
            ("sigmoid", True, None),
        ),
        (
            keras_rdkl.compat.bert4keras.sparse_multilabel_categorical_crossentropy,
            ("sigmoid", True, None),
        ),
        (
            keras_rdkl.compat.bert4keras.global_pointer_crossentropy,
            ("sigmoid", True, None),
        ),
        (
            keras_rdkl.compat.bert4keras.sparse_global_pointer_crossentropy,
            ("sigmoid", True, None),
        ),
        # New instances, as `load_model` rebuilds them: recognised by type.
        (
            keras_rdkl.compat.bert4keras.GlobalPointerCrossentropy(),
            ("sigmoid", True, None),
        ),
        (
            keras_rdkl.compat.bert4keras.SparseGlobalPointerCrossentropy(),
            ("sigmoid", True, None),
        ),
        (
            keras.losses.CategoricalCrossentropy(from_logits=True, axis=1),
            ("softmax", True, 1),
        ),
        # Its get_config leaves the axis out (so do saved models): the last
        # axis, as documented (pass kl=SoftmaxKLDivergence(axis=...) for another).
        (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True, axis=1),
            ("softmax", True, -1),
        ),
        # Subclasses of a known loss class are of its family.
        (
            type("MyCrossentropy", (keras.losses.CategoricalCrossentropy,), {})(
                from_logits=True
            ),
            ("softmax", True, -1),
        ),
        (keras.losses.SparseCategoricalCrossentropy(), ("softmax", False, -1)),
    ],
)
def test_auto_kl_recognises_losses_by_type_and_identity(loss, expected):
    from keras_rdkl.models._kl_choice import describe_loss as _describe_loss

    kind, from_logits, axis = _describe_loss(loss)
    assert kind == expected[0]
    if expected[1] is not None:
        assert from_logits is expected[1]
    assert axis == expected[2]


def test_auto_kl_ignores_names():
    """A user loss named like a Keras loss is not taken for one."""

    class BinaryCrossentropy(keras.losses.Loss):  # same name, unrelated loss
        def call(self, y_true, y_pred):
            return ops.mean(ops.square(y_true - y_pred), axis=-1)

    def sparse_categorical_crossentropy(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    from keras_rdkl.models._kl_choice import describe_loss as _describe_loss

    assert _describe_loss(BinaryCrossentropy())[0] is None
    assert _describe_loss(sparse_categorical_crossentropy)[0] is None
    model = RDropModel(_mlp(), kl="auto")
    model.compile("sgd", sparse_categorical_crossentropy)
    with pytest.raises(ValueError, match="kl='auto'"):
        _kl_choice.resolve(model.kl, model.loss, model.model)


def test_registered_user_loss_picks_its_divergence():
    class PairwiseRankingLoss(keras.losses.Loss):  # a user's multi-label loss
        def call(self, y_true, y_pred):
            return ops.mean(ops.softplus(-y_pred * (2 * y_true - 1)), axis=-1)

    def my_softmax_loss(y_true, y_pred):
        return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=True)

    model = RDropModel(_mlp(), kl="auto")
    model.compile("sgd", PairwiseRankingLoss())
    with pytest.raises(ValueError, match="kl='auto'"):
        _kl_choice.resolve(model.kl, model.loss, model.model)
    keras_rdkl.models.register_loss_family(
        PairwiseRankingLoss, "sigmoid", from_logits=True
    )
    keras_rdkl.models.register_loss_family(my_softmax_loss, "softmax", True)
    assert _kl_choice.resolve(model.kl, model.loss, model.model) == (
        "sigmoid",
        True,
        -1,
    )
    model.compile("sgd", my_softmax_loss)
    assert _kl_choice.resolve(model.kl, model.loss, model.model) == (
        "softmax",
        True,
        -1,
    )
    with pytest.raises(ValueError, match="`kind` must be 'softmax' or 'sigmoid'"):
        keras_rdkl.models.register_loss_family(my_softmax_loss, "kl", True)


@pytest.mark.parametrize("dict_inputs", [False, True], ids=["tensor", "dict"])
def test_training_call_returns_the_wrapped_models_batch(dict_inputs):
    """`model(x, training=True)` outside `fit` is one pass of the wrapped model
    (Monte-Carlo dropout, custom training loops); `fit` still makes two."""
    keras.utils.set_random_seed(0)
    x, y = _data(5)
    if dict_inputs:
        a = keras.Input((8,), name="a")
        base = keras.Model(
            {"a": a}, keras.layers.Dense(3)(keras.layers.Dropout(0.5)(a))
        )
        x_in = {"a": x}
    else:
        base, x_in = _mlp(dropout=0.5), x
    model = RDropModel(base, alpha=1.0)
    out = keras.ops.convert_to_numpy(model(x_in, training=True))
    assert out.shape == (5, 3)
    again = keras.ops.convert_to_numpy(model(x_in, training=True))
    assert not np.allclose(out, again)  # dropout is on: a new sample each call
    plain = keras.ops.convert_to_numpy(model(x_in, training=False))
    np.testing.assert_allclose(plain, keras.ops.convert_to_numpy(base(x_in)), rtol=1e-6)
    # A custom loop's compute_loss on such a prediction is the compiled loss.
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.compute_loss(x_in, y, ops.convert_to_tensor(out))
    expected = -np_log_softmax(out.astype("float64"))[np.arange(5), y].mean()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    hist = model.fit(x_in, y, batch_size=5, epochs=1, verbose=0).history
    assert hist["kl"][0] > 0  # the two samples of fit's step differ


def test_dict_inputs_validation_and_callbacks():
    x, y = _data(16)
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    h = keras.layers.Dropout(0.2)(keras.layers.Concatenate()([a, b]))
    base = keras.Model({"a": a, "b": b}, keras.layers.Dense(3)(h))
    model = RDropModel(base, alpha=0.5, kl=SoftmaxKLDivergence())
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seen = []
    cb = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(sorted(logs))
    )
    inputs = {"a": x[:, :4], "b": x[:, 4:]}
    model.fit(
        inputs,
        y,
        validation_data=(inputs, y),
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[cb],
    )
    assert seen[0] == ["kl", "loss", "val_kl", "val_loss"]
    assert model.predict(inputs, verbose=0).shape == (16, 3)


def test_subclassed_inner_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1 = keras.layers.Dense(8, activation="relu")
            self.drop = keras.layers.Dropout(0.2)
            self.d2 = keras.layers.Dense(3)

        def call(self, x, training=None):
            return self.d2(self.drop(self.d1(x), training=training))

    net = Net()
    net(np.zeros((1, 8), "float32"))
    x, y = _data(16)
    model = RDropModel(net)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history
    assert hist["kl"][0] > 0


@pytest.mark.skipif(
    BACKEND == "torch", reason="jit_compile=True is not supported on the torch backend"
)
@pytest.mark.skipif(
    BACKEND == "jax",
    reason="every JAX fit is jit-compiled already (jit_compile='auto' is True): the other tests cover it",
)
def test_jit_compile():
    x, y = _data(16)
    model = RDropModel(_mlp())
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(hist["loss"])) and hist["kl"][0] > 0


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    x, y = _data(16)
    model = RDropModel(_mlp(), alpha=1.0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    hist = model.fit(x * 100.0, y, epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(hist["loss"])) and np.all(np.isfinite(hist["kl"]))
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model.predict(x, verbose=0))))


def test_save_load_round_trip(tmp_path):
    x, y = _data(16)
    model = RDropModel(_mlp(), alpha=2.0, kl=SigmoidKLDivergence(temperature=2.0))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "rdrop.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, RDropModel)
    assert loaded.alpha == 2.0 and isinstance(loaded.kl, SigmoidKLDivergence)
    assert loaded.kl.temperature == 2.0
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    hist = loaded.fit(x, y, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0])
    config = model.get_config()
    assert {"model", "alpha", "kl"} <= set(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clone = RDropModel.from_config(config)
    assert clone.alpha == 2.0 and clone.kl.temperature == 2.0


# ---- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("alpha", [-1.0, float("nan"), float("inf"), "1", True])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        RDropModel(_mlp(), alpha=alpha)


@pytest.mark.parametrize("kl", ["kld", keras.losses.MeanSquaredError(), 3])
def test_bad_kl(kl):
    with pytest.raises(ValueError, match="kl"):
        RDropModel(_mlp(), kl=kl)


def test_unbuilt_and_multi_output_models_rejected():
    unbuilt = keras.Sequential([keras.layers.Dense(3), keras.layers.Dropout(0.1)])
    with pytest.raises(ValueError, match="built"):
        RDropModel(unbuilt)
    inputs = keras.Input((4,))
    h = keras.layers.Dropout(0.1)(inputs)
    two = keras.Model(inputs, [keras.layers.Dense(2)(h), keras.layers.Dense(3)(h)])
    with pytest.raises(ValueError, match="single output"):
        RDropModel(two)
    with pytest.raises(ValueError, match="model"):
        RDropModel("not a model")


# ---- JAX DataParallel ----------------------------------------------------------


@pytest.mark.skipif(
    BACKEND != "jax", reason="keras.distribution.DataParallel is JAX-only"
)
def test_jax_data_parallel_two_host_devices():
    script = textwrap.dedent(
        """
        import numpy as np, keras
        from keras_rdkl import RDropModel
        devices = keras.distribution.list_devices("cpu")
        assert len(devices) == 2, devices
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        inputs = keras.Input((8,))
        h = keras.layers.Dropout(0.3)(keras.layers.Dense(16, activation="relu")(inputs))
        model = RDropModel(keras.Model(inputs, keras.layers.Dense(3)(h)), alpha=1.0)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(32, 8)).astype("float32")
        y = rng.integers(0, 3, 32)
        hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
        assert np.all(np.isfinite(hist["loss"])) and hist["kl"][0] > 0, hist
        print("OK", hist["kl"])
        """
    )
    proc = run_on_two_jax_devices(script)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
