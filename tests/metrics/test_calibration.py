"""ExpectedCalibrationError, reliability tables, multi-label calibration."""

import keras
import numpy as np
import pytest

from keras_rdkl.metrics import ExpectedCalibrationError
from keras_rdkl.metrics import multilabel_calibration
from keras_rdkl.metrics import reliability_diagram_data
from keras_rdkl.metrics import reliability_table


# --- independent NumPy reference, from the definition -----------------------
def ref_bins(conf, num_bins):
    # bins (i/n, (i+1)/n]; confidence 0 goes to the first bin
    return np.clip(np.ceil(conf * num_bins) - 1, 0, num_bins - 1).astype(int)


def ref_ece(labels, probs, num_bins, weights=None):
    probs = np.asarray(probs, "float64")
    labels = np.asarray(labels)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, "float64")
    conf = probs.max(-1)
    correct = (probs.argmax(-1) == labels).astype("float64")
    b = ref_bins(conf, num_bins)
    total = w.sum()
    ece = 0.0
    for i in range(num_bins):
        sel = b == i
        nb = w[sel].sum()
        if nb == 0:
            continue
        acc = (w[sel] * correct[sel]).sum() / nb
        cf = (w[sel] * conf[sel]).sum() / nb
        ece += nb / total * abs(acc - cf)
    return ece


def _random(n=64, c=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, c, size=n)
    return labels, probs.astype("float32"), logits.astype("float32")


def _result(metric):
    return float(keras.ops.convert_to_numpy(metric.result()))


# --- values -----------------------------------------------------------------
def test_hand_worked_example():
    # 4 bins: (0,.25] (.25,.5] (.5,.75] (.75,1]
    probs = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]], "float32"
    )
    labels = np.array([0, 1, 0, 1, 1])
    # bin 3: conf .9 (right), .8 (wrong): |0.5 - 0.85| * 2
    # bin 2: conf .6 (right), .7 (right), .55 (wrong): |2/3 - 0.6167| * 3
    expected = (abs(1 - 1.7) + abs(2 - 1.85)) / 5
    m = ExpectedCalibrationError(num_bins=4)
    m.update_state(labels, probs)
    assert _result(m) == pytest.approx(expected, abs=1e-6)
    table = reliability_table(m)
    np.testing.assert_allclose(table["count"], [0, 0, 3, 2])
    np.testing.assert_allclose(table["accuracy"], [0, 0, 2 / 3, 0.5], atol=1e-6)
    np.testing.assert_allclose(
        table["mean_confidence"], [0, 0, 1.85 / 3, 0.85], atol=1e-6
    )
    np.testing.assert_allclose(table["bin_lower"], [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(table["bin_upper"], [0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("num_bins", [1, 3, 15])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_reference(num_bins, seed):
    labels, probs, _ = _random(seed=seed)
    m = ExpectedCalibrationError(num_bins=num_bins)
    m.update_state(labels, probs)
    assert _result(m) == pytest.approx(ref_ece(labels, probs, num_bins), abs=1e-5)


def test_bin_edges_are_upper_inclusive():
    # exactly representable edges: 0.5 and 0.75 with 4 bins
    probs = np.array([[0.5, 0.5], [0.75, 0.25], [1.0, 0.0]], "float32")
    m = ExpectedCalibrationError(num_bins=4)
    m.update_state([0, 0, 0], probs)
    np.testing.assert_allclose(reliability_table(m)["count"], [0, 1, 1, 1])


def test_empty_bins_and_no_data():
    m = ExpectedCalibrationError(num_bins=10)
    assert _result(m) == 0.0  # nothing seen: 0, not NaN
    m.update_state([0], [[0.95, 0.05]])
    t = reliability_table(m)
    assert t["count"].sum() == 1 and t["count"][9] == 1
    assert np.all(np.isfinite(t["accuracy"])) and np.all(
        np.isfinite(t["mean_confidence"])
    )
    assert _result(m) == pytest.approx(0.05, abs=1e-6)


def test_all_correct():
    probs = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    m = ExpectedCalibrationError()
    m.update_state([0, 1, 2, 1], probs)
    assert _result(m) == pytest.approx(0.0, abs=1e-7)
    m2 = ExpectedCalibrationError(num_bins=10)
    m2.update_state([0, 1], [[0.72, 0.28], [0.28, 0.72]])
    assert _result(m2) == pytest.approx(0.28, abs=1e-6)  # under-confident


def test_accumulates_over_batches():
    labels, probs, _ = _random(n=90, seed=2)
    m = ExpectedCalibrationError(num_bins=7)
    for i in range(0, 90, 32):
        m.update_state(labels[i : i + 32], probs[i : i + 32])
    assert _result(m) == pytest.approx(ref_ece(labels, probs, 7), abs=1e-5)
    m.reset_state()
    assert _result(m) == 0.0
    m.update_state(labels[:10], probs[:10])
    assert _result(m) == pytest.approx(ref_ece(labels[:10], probs[:10], 7), abs=1e-5)


def test_logits_onehot_trailing_axis_and_leading_axes():
    labels, probs, logits = _random(n=24, c=4, seed=3)
    expected = ref_ece(labels, probs, 5)
    m = ExpectedCalibrationError(num_bins=5, from_logits=True)
    m.update_state(labels, logits)
    assert _result(m) == pytest.approx(expected, abs=1e-5)
    m = ExpectedCalibrationError(num_bins=5)
    m.update_state(np.eye(4, dtype="float32")[labels], probs)
    assert _result(m) == pytest.approx(expected, abs=1e-5)
    m = ExpectedCalibrationError(num_bins=5)
    m.update_state(labels[:, None], probs)
    assert _result(m) == pytest.approx(expected, abs=1e-5)
    m = ExpectedCalibrationError(num_bins=5)  # [B, T, C] token predictions
    m.update_state(labels.reshape(4, 6), probs.reshape(4, 6, 4))
    assert _result(m) == pytest.approx(expected, abs=1e-5)


def test_extreme_logits_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 0.0]], "float32")
    m = ExpectedCalibrationError(from_logits=True)
    m.update_state([0, 0], logits)
    assert _result(m) == pytest.approx(0.5, abs=1e-6)


def test_sample_weight():
    labels, probs, _ = _random(n=40, seed=4)
    w = np.random.default_rng(0).uniform(0, 2, size=40)
    w[::5] = 0.0
    m = ExpectedCalibrationError(num_bins=6)
    m.update_state(labels, probs, sample_weight=w)
    assert _result(m) == pytest.approx(ref_ece(labels, probs, 6, w), abs=1e-5)
    keep = w > 0
    m_sub = ExpectedCalibrationError(num_bins=6)
    m_sub.update_state(labels[keep], probs[keep], sample_weight=w[keep])
    assert _result(m_sub) == pytest.approx(_result(m), abs=1e-6)


def test_reliability_diagram_data():
    labels, probs, _ = _random(n=50, seed=5)
    t = reliability_diagram_data(labels, probs, num_bins=8)
    assert t["ece"] == pytest.approx(ref_ece(labels, probs, 8), abs=1e-5)
    b = ref_bins(probs.max(-1).astype("float64"), 8)
    np.testing.assert_allclose(t["count"], np.bincount(b, minlength=8))


def test_bad_arguments():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_bins"):
            ExpectedCalibrationError(num_bins=bad)
    with pytest.raises(ValueError, match="y_true"):
        ExpectedCalibrationError().update_state(
            np.zeros((2, 3, 4)), np.ones((2, 3), "float32")
        )
    with pytest.raises(ValueError, match="metric"):
        reliability_table(keras.metrics.Mean())


def test_config_round_trip():
    m = ExpectedCalibrationError(num_bins=7, from_logits=True, name="ece")
    cfg = m.get_config()
    assert cfg["num_bins"] == 7 and cfg["from_logits"] is True and cfg["name"] == "ece"
    m2 = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m))
    assert (
        isinstance(m2, ExpectedCalibrationError) and m2.num_bins == 7 and m2.from_logits
    )


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_in_compile_and_evaluate(jit_compile, tmp_path):
    if jit_compile is False and keras.backend.backend() == "jax":
        pytest.skip(
            "uncompiled fit on JAX runs op by op (about a minute here); its update_state "
            "is the eager path the direct-call tests check"
        )
    rng = np.random.default_rng(7)
    x = rng.normal(size=(70, 6)).astype("float32")
    y = rng.integers(0, 3, size=70)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[ExpectedCalibrationError(num_bins=5, from_logits=True, name="ece")],
        jit_compile=jit_compile,
    )
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    logs = model.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    logits = model.predict(x, verbose=0)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    assert logs["ece"] == pytest.approx(ref_ece(y, p, 5), abs=1e-4)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    logs2 = loaded.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    assert logs2["ece"] == pytest.approx(logs["ece"], abs=1e-5)


# --- multi-label ------------------------------------------------------------
def ref_multilabel(y, p, num_bins):
    y = np.asarray(y, "float64")
    p = np.asarray(p, "float64")

    def ece(pp, yy):
        b = ref_bins(pp, num_bins)
        return (
            sum(abs(pp[b == i].sum() - yy[b == i].sum()) for i in range(num_bins))
            / pp.size
        )

    per = np.array([ece(p[:, j], y[:, j]) for j in range(p.shape[1])])
    return ece(p.ravel(), y.ravel()), per, ((p - y) ** 2).mean()


def test_multilabel_calibration_matches_numpy():
    rng = np.random.default_rng(8)
    p = rng.uniform(size=(40, 5)).astype("float32")
    y = (rng.uniform(size=(40, 5)) < p).astype("float32")
    out = multilabel_calibration(y, p, num_bins=10)
    ece, per, brier = ref_multilabel(y, p, 10)
    assert out["ece"] == pytest.approx(ece, abs=1e-5)
    np.testing.assert_allclose(out["per_label_ece"], per, atol=1e-5)
    assert out["macro_ece"] == pytest.approx(per.mean(), abs=1e-5)
    assert out["brier"] == pytest.approx(brier, abs=1e-6)
    assert out["count"].sum() == 200


def test_multilabel_calibration_edge_cases():
    y = np.array([[1, 0], [0, 1]], "float32")
    perfect = multilabel_calibration(y, y, num_bins=5)
    assert perfect["ece"] == 0.0 and perfect["brier"] == 0.0
    w = multilabel_calibration(y, [[0.9, 0.2], [0.1, 0.6]], sample_weight=[1.0, 0.0])
    assert w["brier"] == pytest.approx((0.01 + 0.04) / 2, abs=1e-6)
    with pytest.raises(ValueError, match="y_prob"):
        multilabel_calibration(y, [[2.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="y_prob"):
        multilabel_calibration(y, [0.5, 0.5])


# --- argument and input checks: the same ValueError on every backend ----------
def test_num_bins_numpy_integers_and_from_logits_type():
    m = ExpectedCalibrationError(num_bins=np.int64(4))
    assert m.num_bins == 4 and type(m.num_bins) is int
    assert m.get_config()["num_bins"] == 4
    for bad in (np.float64(4), "4", None):
        with pytest.raises(ValueError, match="`num_bins`"):
            ExpectedCalibrationError(num_bins=bad)
        with pytest.raises(ValueError, match="`num_bins`"):
            multilabel_calibration([[1.0]], [[0.5]], num_bins=bad)
    with pytest.raises(ValueError, match="`from_logits`"):
        ExpectedCalibrationError(from_logits="yes")
    out = multilabel_calibration([[1.0]], [[0.5]], num_bins=np.int32(2))
    assert out["count"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("bad", [[[2.0, -1.0]], [[0.5, np.nan]], [[-0.1, 1.1]]])
def test_logits_where_probabilities_are_required(bad):
    bad = np.asarray(bad, "float32")
    with pytest.raises(ValueError, match="`y_pred`.*from_logits=True"):
        ExpectedCalibrationError().update_state([0], bad)
    with pytest.raises(ValueError, match="`y_pred`"):
        reliability_diagram_data([0], bad)
    with pytest.raises(ValueError, match="`y_prob`"):
        multilabel_calibration([[1.0, 0.0]], bad)
    # A tensor is not read (no host sync, as inside fit): counted as it is.
    m = ExpectedCalibrationError(num_bins=2)
    m.update_state([0], keras.ops.convert_to_tensor(bad))
    if not np.isnan(bad).any():  # where a NaN confidence lands is not specified
        assert float(keras.ops.convert_to_numpy(keras.ops.sum(m.bin_counts))) == 1.0
    # Nothing was accumulated by the failed calls.
    m = ExpectedCalibrationError()
    with pytest.raises(ValueError):
        m.update_state([0], bad)
    assert float(keras.ops.convert_to_numpy(keras.ops.sum(m.bin_counts))) == 0.0


@pytest.mark.parametrize(
    "y_true, y_pred, weight, arg",
    [
        (np.zeros(3), np.full((2, 4), 0.25), None, "y_true"),  # batch differs
        (np.zeros((2, 5)), np.full((2, 4), 0.25), None, "y_true"),
        (np.zeros((2, 3, 1)), np.full((2, 4, 4), 0.25), None, "y_true"),
        (np.zeros((3, 4)), np.full((2, 4), 0.25), None, "y_true"),  # one-hot
        (np.zeros(2), np.full((2, 4), 0.25), np.ones(3), "sample_weight"),
        (np.zeros(2), np.full((2, 4), 0.25), np.ones((2, 4)), "sample_weight"),
        (np.array([0, 4]), np.full((2, 4), 0.25), None, "y_true"),  # id out of range
        (np.array([0, -1]), np.full((2, 4), 0.25), None, "y_true"),
        (np.array([0, 1.5]), np.full((2, 4), 0.25), None, "y_true"),
    ],
)
def test_ece_shape_and_index_mistakes(y_true, y_pred, weight, arg):
    with pytest.raises(ValueError, match=f"`{arg}`"):
        ExpectedCalibrationError().update_state(
            y_true, y_pred.astype("float32"), sample_weight=weight
        )


@pytest.mark.parametrize(
    "y_true, y_prob, weight, arg",
    [
        (np.zeros((2, 3)), np.full((2, 4), 0.5), None, "y_true"),
        (np.zeros((3, 4)), np.full((3, 4), 0.5), np.ones(4), "sample_weight"),
        (np.zeros((3, 4)), np.full((3, 4), 0.5), np.ones((3, 1)), "sample_weight"),
        (np.zeros((3, 4)), np.full((3, 4), 0.5), -np.ones(3), "sample_weight"),
        (np.full((3, 4), 2.0), np.full((3, 4), 0.5), None, "y_true"),
        (np.zeros((3, 4, 1)), np.full((3, 4, 1), 0.5), None, "y_prob"),
    ],
)
def test_multilabel_shape_and_value_mistakes(y_true, y_prob, weight, arg):
    with pytest.raises(ValueError, match=f"`{arg}`"):
        multilabel_calibration(y_true, y_prob, sample_weight=weight)


@pytest.mark.parametrize("fill", [-np.inf, -1e12, -3.0e4])
def test_masked_logits_excluded(fill):
    labels, probs, logits = _random(n=12, c=4, seed=9)
    # Class 3 masked in every row: the reference is the softmax over classes 0-2.
    masked = logits.copy()
    masked[:, 3] = fill
    sub = np.exp(logits[:, :3]) / np.exp(logits[:, :3]).sum(-1, keepdims=True)
    sub = np.concatenate([sub, np.zeros((12, 1))], -1)
    labels = labels % 3
    # Two fully masked rows (padding): excluded, as with weight 0.
    masked[[2, 7]] = fill
    keep = np.ones(12, bool)
    keep[[2, 7]] = False
    m = ExpectedCalibrationError(num_bins=5, from_logits=True)
    m.update_state(labels, masked)
    value = _result(m)
    assert np.isfinite(value)
    assert value == pytest.approx(ref_ece(labels[keep], sub[keep], 5), abs=1e-5)
    counts = keras.ops.convert_to_numpy(m.bin_counts)
    assert counts.sum() == keep.sum()


def test_multilabel_per_entry_weights_mask_entries():
    rng = np.random.default_rng(10)
    p = rng.uniform(size=(30, 4)).astype("float32")
    y = (rng.uniform(size=(30, 4)) < p).astype("float32")
    w = (rng.uniform(size=(30, 4)) < 0.7).astype("float32")
    out = multilabel_calibration(y, p, num_bins=6, sample_weight=w)
    keep = w > 0
    pooled_ece = ref_multilabel(y[keep][:, None], p[keep][:, None], 6)[0]
    assert out["ece"] == pytest.approx(pooled_ece, abs=1e-5)
    assert out["brier"] == pytest.approx(((p - y)[keep] ** 2).mean(), abs=1e-6)
    assert out["count"].sum() == keep.sum()
    per = [
        ref_multilabel(y[keep[:, j], j][:, None], p[keep[:, j], j][:, None], 6)[0]
        for j in range(4)
    ]
    np.testing.assert_allclose(out["per_label_ece"], per, atol=1e-5)
    # Per-sample weights [N] mean the same as repeating them over labels.
    ws = rng.uniform(size=30).astype("float32")
    a = multilabel_calibration(y, p, num_bins=6, sample_weight=ws)
    b = multilabel_calibration(
        y, p, num_bins=6, sample_weight=np.repeat(ws[:, None], 4, 1)
    )
    assert a["ece"] == pytest.approx(b["ece"], abs=1e-6)


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_probability_check_in_compiled_evaluate(jit_compile):
    if jit_compile is False and keras.backend.backend() == "jax":
        pytest.skip(
            "uncompiled fit on JAX runs op by op (about a minute here); its update_state "
            "is the eager path the direct-call tests check"
        )
    # Inside a compiled step the values are traced and not checked (no host
    # sync); eager torch checks them. Softmax outputs pass either way.
    rng = np.random.default_rng(11)
    x = rng.normal(size=(20, 6)).astype("float32")
    y = rng.integers(0, 3, size=20)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(
        loss="sparse_categorical_crossentropy",
        metrics=[ExpectedCalibrationError(num_bins=5, name="ece")],
        jit_compile=jit_compile,
    )
    logs = model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    p = model.predict(x, verbose=0)
    assert logs["ece"] == pytest.approx(ref_ece(y, p, 5), abs=1e-4)
