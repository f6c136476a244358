"""SpanF1: corpus micro F1 against a NumPy reference and hand-worked cases."""

import keras
import numpy as np
import pytest

from keras_rdkl import layers
from keras_rdkl import losses
from keras_rdkl import mask_value
from keras_rdkl.metrics import SpanF1

MASK_THRESHOLD = -2.0e4  # from the package docs: <= this counts as masked


def _np_counts(y_true, y_pred, threshold=0.0):
    """Reference: count (sample, type, start, end) decisions with start <= end."""
    y_true = np.asarray(y_true, "float64")
    y_pred = np.asarray(y_pred, "float64")
    length = y_pred.shape[-1]
    upper = np.triu(np.ones((length, length), bool))
    valid = (y_pred > MASK_THRESHOLD) & upper
    pred = (y_pred > threshold) & valid
    gold = (y_true > 0.5) & valid
    return float((pred & gold).sum()), float(pred.sum()), float(gold.sum())


def _np_f1(tp, p, a):
    prec = tp / p if p else 0.0
    rec = tp / a if a else 0.0
    f1 = 2 * tp / (p + a) if p + a else 0.0
    return f1, prec, rec


def _value(x):
    return float(keras.ops.convert_to_numpy(x))


def _check(metric, tp, p, a):
    f1, prec, rec = _np_f1(tp, p, a)
    assert _value(metric.result()) == pytest.approx(f1, abs=1e-6)
    assert _value(metric.precision()) == pytest.approx(prec, abs=1e-6)
    assert _value(metric.recall()) == pytest.approx(rec, abs=1e-6)
    d = metric.result_dict()
    assert _value(d["f1"]) == pytest.approx(f1, abs=1e-6)


def test_hand_worked_case():
    # Gold: (0,0,1), (0,2,2), (1,1,3). Predicted: (0,0,1) right, (1,1,2) wrong.
    y_true = np.zeros((1, 2, 4, 4), "float32")
    y_true[0, 0, 0, 1] = y_true[0, 0, 2, 2] = y_true[0, 1, 1, 3] = 1
    y_pred = np.full((1, 2, 4, 4), -1.0, "float32")
    y_pred[0, 0, 0, 1] = 3.0
    y_pred[0, 1, 1, 2] = 0.1
    m = SpanF1()
    m.update_state(y_true, y_pred)
    # tp=1, predicted=2, gold=3: P=1/2, R=1/3, F1=2/5.
    assert _value(m.result()) == pytest.approx(0.4)
    assert _value(m.precision()) == pytest.approx(0.5)
    assert _value(m.recall()) == pytest.approx(1 / 3)


def test_empty_is_zero_not_nan():
    m = SpanF1()
    _check(m, 0, 0, 0)
    m.update_state(np.zeros((2, 1, 3, 3)), np.full((2, 1, 3, 3), -1.0))
    _check(m, 0, 0, 0)
    # Zero-size batch.
    m.update_state(np.zeros((0, 1, 3, 3)), np.zeros((0, 1, 3, 3)))
    _check(m, 0, 0, 0)


def test_accumulates_corpus_f1_not_batch_average():
    rng = np.random.default_rng(0)
    batches = []
    for b in range(3):
        y_true = (rng.random((2 + b, 2, 5, 5)) < 0.15).astype("float32")
        y_pred = rng.normal(size=(2 + b, 2, 5, 5)).astype("float32") - 1.0
        batches.append((y_true, y_pred))
    # One batch with no entities and no predictions at all.
    batches.append(
        (np.zeros((2, 2, 5, 5), "float32"), np.full((2, 2, 5, 5), -3.0, "float32"))
    )
    m = SpanF1()
    totals = np.zeros(3)
    per_batch = []
    for y_true, y_pred in batches:
        m.update_state(y_true, y_pred)
        c = np.array(_np_counts(y_true, y_pred))
        totals += c
        per_batch.append(_np_f1(*c)[0])
    _check(m, *totals)
    assert abs(_np_f1(*totals)[0] - np.mean(per_batch)) > 1e-3  # the test discriminates
    m.reset_state()
    _check(m, 0, 0, 0)


def test_masked_logits_and_padding_never_count():
    length = 4
    y_true = np.zeros((2, 1, length, length), "float32")
    y_true[0, 0, 0, 1] = 1
    y_true[1, 0, 0, 3] = 1  # token 3 of sample 1 is padding: not counted
    y_true[0, 0, 2, 1] = 1  # lower triangle: not counted
    y_pred = np.full((2, 1, length, length), -2.0, "float32")
    y_pred[0, 0, 0, 1] = 2.0
    y_pred[0, 0, 2, 1] = 2.0  # lower triangle: never predicted
    y_pred[1, 0, :, 3] = mask_value("float32")
    y_pred[1, 0, 3, :] = mask_value("float32")
    y_pred[0, 0, 3, 3] = -np.inf
    m = SpanF1(threshold=-5.0)
    m.update_state(y_true, y_pred)
    tp, p, a = _np_counts(y_true, y_pred, threshold=-5.0)
    assert a == 1 and tp == 1
    _check(m, tp, p, a)


def test_padded_batch_equals_unpadded_samples():
    rng = np.random.default_rng(1)
    lengths = [3, 5]
    full = 5
    m_pad = SpanF1()
    m_sep = SpanF1()
    for n in lengths:
        y_true = (rng.random((1, 2, n, n)) < 0.3).astype("float32") * np.triu(
            np.ones((n, n))
        )
        y_pred = rng.normal(size=(1, 2, n, n)).astype("float32")
        m_sep.update_state(y_true, y_pred)
        t = np.zeros((1, 2, full, full), "float32")
        p = np.full((1, 2, full, full), mask_value("float32"), "float32")
        t[..., :n, :n], p[..., :n, :n] = y_true, y_pred
        m_pad.update_state(t, p)
    assert _value(m_pad.result()) == pytest.approx(_value(m_sep.result()))
    assert _value(m_pad.actual) == _value(m_sep.actual)


def test_sparse_y_true_matches_dense():
    rng = np.random.default_rng(2)
    y_pred = rng.normal(size=(2, 2, 4, 4)).astype("float32")
    sparse = np.array([[[1, 6, -1], [15, 15, -1]], [[-1, -1, -1], [0, 5, 16]]], "int32")
    dense = np.zeros((2, 2, 16), "float32")
    for b in range(2):
        for h in range(2):
            for i in sparse[b, h]:
                if 0 <= i < 16:
                    dense[b, h, i] = 1
    dense = dense.reshape(2, 2, 4, 4)
    m_s, m_d = SpanF1(), SpanF1()
    m_s.update_state(sparse, y_pred)
    m_d.update_state(dense, y_pred)
    _check(m_s, *_np_counts(dense, y_pred))
    assert _value(m_s.result()) == pytest.approx(_value(m_d.result()))
    # mask_zero drops index 0 (bert4keras padding).
    m_z = SpanF1(mask_zero=True)
    m_z.update_state(sparse, y_pred)
    dense[1, 1, 0, 0] = 0
    _check(m_z, *_np_counts(dense, y_pred))


def test_sample_weight_drops_samples():
    rng = np.random.default_rng(3)
    y_true = (rng.random((3, 1, 4, 4)) < 0.3).astype("float32")
    y_pred = rng.normal(size=(3, 1, 4, 4)).astype("float32")
    m = SpanF1()
    m.update_state(y_true, y_pred, sample_weight=np.array([1.0, 0.0, 1.0]))
    _check(m, *_np_counts(y_true[[0, 2]], y_pred[[0, 2]]))
    m = SpanF1()
    m.update_state(y_true, y_pred, sample_weight=np.array([[1.0], [0.0], [1.0]]))
    _check(m, *_np_counts(y_true[[0, 2]], y_pred[[0, 2]]))


def test_validation_and_config():
    with pytest.raises(ValueError, match="threshold"):
        SpanF1(threshold="x")
    with pytest.raises(ValueError, match="threshold"):
        SpanF1(threshold=-1e9)
    with pytest.raises(ValueError, match="y_true"):
        SpanF1().update_state(np.zeros((2, 3)), np.zeros((2, 1, 3, 3)))
    m = SpanF1(threshold=0.5, mask_zero=True, name="f1")
    m2 = SpanF1.from_config(m.get_config())
    assert (m2.threshold, m2.mask_zero, m2.name) == (0.5, True, "f1")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(m)
    )
    assert isinstance(restored, SpanF1) and restored.threshold == 0.5


@pytest.mark.parametrize("jit", [False, True])
def test_compile_fit_evaluate(jit):
    if jit and keras.backend.backend() == "torch":
        pytest.skip("jit_compile=True is not supported by Keras on the torch backend")
    if not jit and keras.backend.backend() == "jax":
        pytest.skip(
            "uncompiled fit on JAX runs op by op (about a minute here); its update_state "
            "is the eager path the direct-call tests check"
        )
    length, heads = 6, 2
    rng = np.random.default_rng(4)
    x = rng.integers(1, 20, size=(8, length))
    x[:4, 4:] = 0  # padded samples
    y = np.zeros((8, heads, length, length), "float32")
    y[:, 0, 0, 1] = 1
    y[:, 1, 2, 3] = 1
    inputs = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(inputs)
    out = layers.GlobalPointer(heads, 4)(h)
    model = keras.Model(inputs, out)
    model.compile(
        optimizer="adam",
        loss=losses.MultilabelCategoricalCrossentropy(axis=(-2, -1)),
        metrics=[SpanF1()],
        jit_compile=jit,
    )
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    result = model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)
    pred = keras.ops.convert_to_numpy(model.predict(x, batch_size=8, verbose=0))
    f1 = _np_f1(*_np_counts(y, pred))[0]
    assert np.isfinite(result["span_f1"])
    assert result["span_f1"] == pytest.approx(f1, abs=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_global_pointer(policy):
    keras.config.set_dtype_policy(policy)
    length = 5
    x = np.random.default_rng(5).normal(size=(3, length, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1] * 5, [1, 1, 0, 0, 0]], bool)
    y = np.zeros((3, 2, length, length), "float32")
    y[:, 0, 0, 1] = 1
    layer = layers.GlobalPointer(2, 4)
    logits = layer(x, mask=mask)
    m = SpanF1(threshold=-1.0)
    m.update_state(y, logits)
    logits = keras.ops.convert_to_numpy(keras.ops.cast(logits, "float32"))
    assert np.all(np.isfinite(logits))
    _check(m, *_np_counts(y, logits, threshold=-1.0))
    # Padded positions never count even at a threshold far below every logit.
    valid_pairs = sum(int(k) * (int(k) + 1) // 2 for k in mask.sum(1)) * 2
    assert _value(m.predicted) <= valid_pairs


def _np_sparse_counts(indices, y_pred, threshold=0.0, mask_zero=False):
    """Reference for sparse labels, written from the definition.

    The gold set of a (sample, type) row is the set of its indices i with
    0 <= i < L * L (and i != 0 under mask_zero), start = i // L <= end = i % L,
    and an unmasked score there; a set, so a repeated index counts once.
    """
    y_pred = np.asarray(y_pred, "float64")
    batch, heads, length, _ = y_pred.shape
    upper = np.triu(np.ones((length, length), bool))
    valid = (y_pred > MASK_THRESHOLD) & upper
    pred = (y_pred > threshold) & valid
    tp = gold = 0
    for b in range(batch):
        for h in range(heads):
            spans = set()
            for i in np.asarray(indices)[b, h].tolist():
                if 0 <= i < length * length and not (mask_zero and i == 0):
                    s, e = divmod(int(i), length)
                    if valid[b, h, s, e]:
                        spans.add((s, e))
            gold += len(spans)
            tp += sum(bool(pred[b, h, s, e]) for s, e in spans)
    return float(tp), float(pred.sum()), float(gold)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_sparse_counts_match_reference_with_duplicates_padding_and_masks(mask_zero):
    rng = np.random.default_rng(8)
    batch, heads, length = 3, 2, 5
    y_pred = rng.normal(size=(batch, heads, length, length)).astype("float32")
    y_pred[2, :, 3:, :] = mask_value("float32")  # sample 2 has 3 tokens
    y_pred[2, :, :, 3:] = mask_value("float32")
    y_pred[0, 1, 0, 4] = -np.inf
    sparse = np.array(
        [
            # nested spans (0, 4) ⊃ (1, 2) ⊃ (1, 1), a duplicate, padding -1,
            # index 0 (span (0, 0)), a lower-triangle index (2, 1) = 11.
            [[4, 7, 6, 7, 0, -1, 11], [4, 24, 24, 24, -1, -1, -1]],
            # an empty row and a row of only out-of-range padding
            [[-1, -1, -1, -1, -1, -1, -1], [25, 99, -5, -1, -1, -1, -1]],
            # spans touching the padded tokens, and the valid ones
            [[0, 1, 2, 3, 4, 12, 12], [6, 6, 6, 6, 6, 6, 6]],
        ],
        "int32",
    )
    for threshold in (0.0, -0.5):
        m = SpanF1(threshold=threshold, mask_zero=mask_zero)
        m.update_state(sparse, y_pred)
        expected = _np_sparse_counts(sparse, y_pred, threshold, mask_zero)
        assert expected[2] > 0 and expected[0] > 0
        assert (
            _value(m.true_positives),
            _value(m.predicted),
            _value(m.actual),
        ) == expected
        _check(m, *expected)


def test_sparse_float_indices_and_sample_weight_per_head():
    rng = np.random.default_rng(9)
    y_pred = rng.normal(size=(2, 2, 4, 4)).astype("float32")
    sparse = np.array([[[1, 5, 5], [0, 15, -1]], [[2, 3, -1], [10, -1, -1]]])
    weight = np.array([[1.0, 0.0], [2.0, 1.0]], "float32")
    m = SpanF1()
    m.update_state(sparse.astype("float32"), y_pred, sample_weight=weight)
    totals = np.zeros(3)
    for b in range(2):
        for h in range(2):
            c = _np_sparse_counts(
                sparse[b : b + 1, h : h + 1], y_pred[b : b + 1, h : h + 1]
            )
            totals += weight[b, h] * np.array(c)
    _check(m, *totals)
    assert _value(m.actual) == pytest.approx(totals[2])


def test_sparse_labels_never_build_a_k_by_l_squared_tensor(monkeypatch):
    # At L = 512, heads = 2, K = 8, batch 64 a one-hot of the sparse labels
    # would hold 64 * 2 * 8 * 512 * 512 float32 = 1.07 GB. One sample is
    # enough to show the code path never builds it: one_hot is forbidden.
    def fail(*args, **kwargs):
        raise AssertionError("SpanF1 built a one-hot of the sparse labels")

    monkeypatch.setattr(keras.ops, "one_hot", fail)
    length, heads, k = 512, 2, 8
    rng = np.random.default_rng(10)
    y_pred = np.full((1, heads, length, length), -1.0, "float32")
    starts = rng.integers(0, length, size=(heads, k))
    ends = np.minimum(starts + rng.integers(0, 4, size=(heads, k)), length - 1)
    sparse = (starts * length + ends)[None].astype("int32")
    sparse[0, 0, -1] = sparse[0, 0, 0]  # a duplicate
    for h in range(heads):
        for s, e in zip(starts[h, :5], ends[h, :5], strict=True):
            y_pred[0, h, s, e] = 1.0
    y_pred[0, 1, 100, 200] = 3.0  # a false positive
    m = SpanF1()
    m.update_state(sparse, y_pred)
    expected = _np_sparse_counts(sparse, y_pred)
    assert (
        _value(m.true_positives),
        _value(m.predicted),
        _value(m.actual),
    ) == expected


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape, weight_shape, arg",
    [
        ((2, 1, 3, 3), (2, 1, 3), None, "y_pred"),  # rank 3 logits
        ((2, 1, 3, 4), (2, 1, 3, 4), None, "y_pred"),  # non-square grid
        ((2, 1, 3, 3), (2, 2, 3, 3), None, "y_true"),  # dense shape mismatch
        ((2, 2, 4), (2, 1, 3, 3), None, "y_true"),  # sparse head count mismatch
        ((3, 1, 4), (2, 1, 3, 3), None, "y_true"),  # sparse batch mismatch
        ((2, 3), (2, 1, 3, 3), None, "y_true"),
        ((2, 1, 3, 3), (2, 1, 3, 3), (3,), "sample_weight"),
        ((2, 1, 3, 3), (2, 1, 3, 3), (2, 1, 3), "sample_weight"),
    ],
)
def test_shape_mistakes_raise_the_same_value_error_on_every_backend(
    y_true_shape, y_pred_shape, weight_shape, arg
):
    m = SpanF1()
    weight = None if weight_shape is None else np.ones(weight_shape, "float32")
    with pytest.raises(ValueError, match=f"`{arg}`"):
        m.update_state(
            np.zeros(y_true_shape, "float32"),
            np.zeros(y_pred_shape, "float32"),
            sample_weight=weight,
        )
    assert _value(m.actual) == 0.0


@pytest.mark.parametrize("jit", [False, True])
def test_compile_fit_evaluate_with_sparse_labels(jit):
    if jit and keras.backend.backend() == "torch":
        pytest.skip("jit_compile=True is not supported by Keras on the torch backend")
    if not jit and keras.backend.backend() == "jax":
        pytest.skip(
            "uncompiled fit on JAX runs op by op (about a minute here); its update_state "
            "is the eager path the direct-call tests check"
        )
    length, heads = 6, 2
    rng = np.random.default_rng(11)
    x = rng.integers(1, 20, size=(8, length))
    x[:4, 4:] = 0
    sparse = np.full((8, heads, 3), -1, "int32")
    sparse[:, 0, 0] = 0 * length + 1
    sparse[:, 1, :2] = 2 * length + 3  # duplicated label
    inputs = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(inputs)
    model = keras.Model(inputs, layers.GlobalPointer(heads, 4)(h))
    model.compile(
        optimizer="adam",
        loss=losses.SparseMultilabelCategoricalCrossentropy(axis=(-2, -1)),
        metrics=[SpanF1()],
        jit_compile=jit,
    )
    model.fit(x, sparse, batch_size=4, epochs=1, verbose=0)
    result = model.evaluate(x, sparse, batch_size=3, verbose=0, return_dict=True)
    pred = keras.ops.convert_to_numpy(model.predict(x, batch_size=8, verbose=0))
    assert result["span_f1"] == pytest.approx(
        _np_f1(*_np_sparse_counts(sparse, pred))[0], abs=1e-5
    )


def test_sparse_non_integer_indices_raise():
    m = SpanF1()
    with pytest.raises(ValueError, match="`y_true`.*integer flat indices"):
        m.update_state(np.array([[[1.5, -1.0]]]), np.zeros((1, 1, 3, 3), "float32"))
    assert _value(m.actual) == 0.0
