"""ConditionalRandomField, the CRF loss and Viterbi decoding against a brute-force NumPy CRF.

The reference enumerates every tag path of the unmasked steps (tiny L and
T), so log Z, the gold score, the loss and the best path come straight from
the definition `score(y) = sum_t e[t, y_t] + sum_t A[y_t, y_{t+1}]`.
"""

import itertools
import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl import mask_value
from keras_rdkl.layers import ConditionalRandomField
from keras_rdkl.losses import CRFLoss
from keras_rdkl.losses import crf_log_norm
from keras_rdkl.losses import crf_negative_log_likelihood
from keras_rdkl.losses import crf_path_score
from keras_rdkl.viterbi import tag_scheme_constraints
from keras_rdkl.viterbi import viterbi_decode
from keras_rdkl.viterbi import viterbi_decode_numpy
from tests._grad import grad

BACKEND = keras.backend.backend()
METHODS = ("sequential", "parallel")


# ---------------------------------------------------------------- reference


def ref_paths(e, trans, mask, starts=None, ends=None, allowed=None):
    """(scores, paths) of every allowed path over the unmasked steps of one row."""
    idx = np.flatnonzero(mask)
    tags = trans.shape[0]
    scores, paths = [], []
    for path in itertools.product(range(tags), repeat=len(idx)):
        if path and starts is not None and path[0] not in starts:
            continue
        if path and ends is not None and path[-1] not in ends:
            continue
        if allowed is not None and any(
            not allowed[i, j] for i, j in itertools.pairwise(path)
        ):
            continue
        s = sum(e[t, y] for t, y in zip(idx, path, strict=True))
        s += sum(trans[i, j] for i, j in itertools.pairwise(path))
        scores.append(s)
        paths.append(path)
    return np.array(scores, dtype="float64"), paths


def ref_log_norm(e, trans, mask):
    scores, _ = ref_paths(e, trans, mask)
    if not np.any(mask):
        return 0.0
    m = scores.max()
    return m + np.log(np.exp(scores - m).sum())


def ref_gold(y, e, trans, mask):
    idx = np.flatnonzero(mask)
    path = [y[t] for t in idx]
    return sum(e[t, y[t]] for t in idx) + sum(
        trans[i, j] for i, j in itertools.pairwise(path)
    )


def ref_nll(y, e, trans, mask):
    return np.array(
        [
            ref_log_norm(e[b], trans, mask[b]) - ref_gold(y[b], e[b], trans, mask[b])
            for b in range(len(e))
        ]
    )


def ref_viterbi(e, trans, mask, **constraints):
    scores, paths = ref_paths(e, trans, mask, **constraints)
    tags = np.zeros(len(mask), "int64")
    if not np.any(mask):
        return tags, 0.0
    best = int(np.argmax(scores))
    tags[np.flatnonzero(mask)] = paths[best]
    return tags, scores[best]


MASKS = {
    "full": [[1, 1, 1, 1], [1, 1, 1, 1]],
    "right_padded": [[1, 1, 1, 0], [1, 0, 0, 0]],
    "left_padded_and_gap": [[0, 1, 1, 1], [1, 0, 1, 1]],
    "all_masked_row": [[0, 0, 0, 0], [1, 1, 0, 0]],
    "length_one": [[1, 0, 0, 0], [0, 0, 1, 0]],
}


def _data(seed, batch=2, length=4, tags=3):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(batch, length, tags)).astype("float32")
    trans = rng.normal(size=(tags, tags)).astype("float32")
    y = rng.integers(0, tags, size=(batch, length))
    return e, trans, y


def np_(x):
    return ops.convert_to_numpy(x)


# ---------------------------------------------------------------- log Z, score, loss


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", sorted(MASKS))
def test_log_norm_and_loss_match_enumeration(method, case):
    e, trans, y = _data(0)
    mask = np.array(MASKS[case])
    expected_z = [ref_log_norm(e[b], trans, mask[b]) for b in range(2)]
    np.testing.assert_allclose(
        np_(crf_log_norm(e, trans, mask, method=method)),
        expected_z,
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np_(crf_path_score(y, e, trans, mask)),
        [ref_gold(y[b], e[b], trans, mask[b]) for b in range(2)],
        rtol=1e-5,
        atol=1e-5,
    )
    loss = np_(crf_negative_log_likelihood(y, e, trans, mask, method=method))
    np.testing.assert_allclose(loss, ref_nll(y, e, trans, mask), rtol=1e-5, atol=1e-5)
    assert np.all(loss >= -1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_larger_tag_sets_and_lengths(method):
    # 4 tags x 6 steps = 4096 paths per row; odd lengths exercise the padding
    # of the pairwise products.
    for length in (2, 5, 6):
        e, trans, y = _data(length, batch=3, length=length, tags=4)
        mask = np.ones((3, length), "int32")
        mask[1, length // 2 :] = 0
        np.testing.assert_allclose(
            np_(crf_negative_log_likelihood(y, e, trans, mask, method=method)),
            ref_nll(y, e, trans, mask),
            rtol=1e-5,
            atol=1e-4,
        )


def test_one_hot_tags_equal_integer_tags():
    e, trans, y = _data(1)
    mask = np.array(MASKS["right_padded"])
    one_hot = np.eye(3, dtype="float32")[y]
    expected = np_(crf_negative_log_likelihood(y, e, trans, mask))
    for tags in (one_hot, y[..., None].astype("float32")):
        np.testing.assert_allclose(
            np_(crf_negative_log_likelihood(tags, e, trans, mask)), expected, rtol=1e-6
        )
    assert ConditionalRandomField(lr_multiplier=np.int64(3)).lr_multiplier == 3.0


def test_mask_from_emissions_equals_explicit_mask():
    # The layer writes mask_value over padded steps; bert4keras writes -inf.
    e, trans, y = _data(2)
    mask = np.array(MASKS["left_padded_and_gap"])
    expected = np_(crf_negative_log_likelihood(y, e, trans, mask))
    for fill in (mask_value("float32"), -np.inf):
        filled = np.where(mask[..., None] > 0, e, fill).astype("float32")
        np.testing.assert_allclose(
            np_(crf_negative_log_likelihood(y, filled, trans)), expected, rtol=1e-6
        )


def test_masked_call_equals_unmasked_subset():
    e, trans, y = _data(3, length=5)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    full = np_(crf_negative_log_likelihood(y, e, trans, mask))
    short = np_(crf_negative_log_likelihood(y[:1, :3], e[:1, :3], trans))
    np.testing.assert_allclose(full[0], short[0], rtol=1e-6)


def test_loss_is_minimal_at_dominant_gold_path():
    e, trans, y = _data(4)
    boost = 30.0 * np.eye(3, dtype="float32")[y]
    loss = np_(crf_negative_log_likelihood(y, e + boost, trans))
    np.testing.assert_allclose(loss, 0.0, atol=1e-4)


# ---------------------------------------------------------------- gradients


def _fd(f, x, eps=1e-4):
    x = np.asarray(x, "float64")
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        out[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return out


@pytest.mark.parametrize("method", METHODS)
def test_gradients_match_finite_differences(method):
    e, trans, y = _data(5, length=3)
    mask = np.array([[1, 1, 1], [1, 1, 0]])
    g_e = grad(
        lambda v: crf_negative_log_likelihood(y, v, trans, mask, method=method), e
    )
    g_a = grad(
        lambda v: crf_negative_log_likelihood(y, e, v, mask, method=method), trans
    )
    fd_e = _fd(lambda v: ref_nll(y, v, trans, mask).sum(), e)
    fd_a = _fd(lambda v: ref_nll(y, e, v, mask).sum(), trans)
    np.testing.assert_allclose(g_e, fd_e, atol=2e-4)
    np.testing.assert_allclose(g_a, fd_a, atol=2e-4)
    # Padded steps get no gradient.
    np.testing.assert_array_equal(g_e[1, 2], 0.0)


@pytest.mark.parametrize("method", METHODS)
def test_all_masked_rows_and_minus_inf_give_finite_zero_loss(method):
    e, trans, y = _data(6)
    e[0] = -np.inf
    e[1, 2:] = -np.inf
    loss = np_(crf_negative_log_likelihood(y, e, trans, method=method))
    assert loss[0] == 0.0 and np.isfinite(loss).all()
    g = grad(lambda v: crf_negative_log_likelihood(y, v, trans, method=method), e)
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0], 0.0)


# ---------------------------------------------------------------- Viterbi


@pytest.mark.parametrize("case", sorted(MASKS))
def test_viterbi_matches_enumeration(case):
    e, trans, _ = _data(7)
    mask = np.array(MASKS[case])
    tags, scores = viterbi_decode(e, trans, mask)
    for b in range(2):
        want_tags, want_score = ref_viterbi(e[b], trans, mask[b])
        np.testing.assert_array_equal(np_(tags)[b], want_tags)
        np.testing.assert_allclose(np_(scores)[b], want_score, rtol=1e-5, atol=1e-5)


def test_viterbi_with_constraints_matches_enumeration():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    starts, _, allowed = tag_scheme_constraints(names, "BIO")
    rng = np.random.default_rng(8)
    for _ in range(5):
        e = rng.normal(scale=2.0, size=(2, 4, 5)).astype("float32")
        trans = rng.normal(size=(5, 5)).astype("float32")
        mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
        constraints = {"starts": starts, "ends": [0, 2, 4], "allowed": allowed}
        tags, scores = viterbi_decode(
            e,
            trans,
            mask,
            start_tags=starts,
            end_tags=[0, 2, 4],
            allowed_transitions=allowed,
        )
        for b in range(2):
            want_tags, want_score = ref_viterbi(e[b], trans, mask[b], **constraints)
            np.testing.assert_array_equal(np_(tags)[b], want_tags)
            np.testing.assert_allclose(np_(scores)[b], want_score, rtol=1e-5)


def test_viterbi_numpy_matches_batched():
    e, trans, _ = _data(9, batch=1, length=6, tags=4)
    tags, _ = viterbi_decode(e, trans, start_tags=[0, 1], end_tags=[2])
    path = viterbi_decode_numpy(e[0], trans, starts=[0, 1], ends=[2])
    np.testing.assert_array_equal(np_(tags)[0], path)
    before = e.copy()
    viterbi_decode_numpy(e[0], trans, starts=[0], ends=[0])
    np.testing.assert_array_equal(e, before)  # nodes are not changed in place


@pytest.mark.parametrize(
    "scheme,names,bad_pairs,good_pairs,starts,ends",
    [
        (
            "BIO",
            ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
            [("O", "I-PER"), ("B-LOC", "I-PER"), ("I-LOC", "I-PER")],
            [
                ("B-PER", "I-PER"),
                ("I-PER", "I-PER"),
                ("I-PER", "B-LOC"),
                ("O", "B-PER"),
            ],
            ["O", "B-PER", "B-LOC"],
            ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
        ),
        (
            "BIOES",
            ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"],
            [
                ("B-X", "O"),
                ("I-X", "S-X"),
                ("O", "E-X"),
                ("B-X", "E-Y"),
                ("E-X", "I-X"),
            ],
            [
                ("B-X", "I-X"),
                ("B-X", "E-X"),
                ("E-X", "B-Y"),
                ("S-X", "S-X"),
                ("O", "S-X"),
            ],
            ["O", "S-X", "B-X", "B-Y"],
            ["O", "E-X", "S-X", "E-Y"],
        ),
        (
            "BMES",
            ["B", "M", "E", "S"],
            [("B", "S"), ("S", "M"), ("E", "E"), ("M", "B")],
            [("B", "M"), ("B", "E"), ("M", "M"), ("E", "S"), ("S", "B")],
            ["B", "S"],
            ["E", "S"],
        ),
    ],
)
def test_tag_scheme_constraints(scheme, names, bad_pairs, good_pairs, starts, ends):
    got_starts, got_ends, allowed = tag_scheme_constraints(names, scheme)
    index = {n: i for i, n in enumerate(names)}
    for a, b in bad_pairs:
        assert not allowed[index[a], index[b]], (a, b)
    for a, b in good_pairs:
        assert allowed[index[a], index[b]], (a, b)
    assert sorted(got_starts) == sorted(index[n] for n in starts)
    assert sorted(got_ends) == sorted(index[n] for n in ends)


def test_tag_names_and_dataset_scheme_spellings():
    from keras_rdkl.viterbi import tag_names

    assert tag_names(["PER"], "bioes") == ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    for scheme in ("bio", "iob2", "BIO"):
        starts, _, allowed = tag_scheme_constraints(
            tag_names(["A", "B"], scheme), scheme
        )
        assert starts == [0, 1, 3] and not allowed[0, 2]
    names = tag_names(["A"], "iobes")
    assert tag_scheme_constraints(names, "iobes")[1] == [0, 3, 4]


def test_bad_arguments_raise():
    e, trans, y = _data(10)
    with pytest.raises(ValueError, match="scheme"):
        tag_scheme_constraints(["O"], "IOB1")
    with pytest.raises(ValueError, match="does not belong"):
        tag_scheme_constraints(["O", "E-PER"], "BIO")
    with pytest.raises(ValueError, match="transitions"):
        crf_log_norm(e, trans[:2])
    with pytest.raises(ValueError, match="method"):
        crf_log_norm(e, trans, method="fast")
    with pytest.raises(ValueError, match="start_tags"):
        viterbi_decode(e, trans, start_tags=[5])
    with pytest.raises(ValueError, match="allowed_transitions"):
        viterbi_decode(e, trans, allowed_transitions=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="lr_multiplier"):
        ConditionalRandomField(lr_multiplier=0)
    with pytest.raises(ValueError, match="y_true"):
        crf_negative_log_likelihood(y[0], e, trans)


# ---------------------------------------------------------------- the layer


def test_layer_output_weights_and_lr_multiplier():
    crf = ConditionalRandomField(lr_multiplier=4.0)
    e, _, _ = _data(11)
    mask = np.array(MASKS["right_padded"])
    out = np_(crf(e, mask=mask))
    np.testing.assert_array_equal(out[mask > 0], e[mask > 0])
    np.testing.assert_array_equal(out[mask == 0], np.float32(mask_value("float32")))
    assert crf.compute_mask(e, mask) is None
    [w] = crf.get_weights()
    assert w.shape == (3, 3)
    np.testing.assert_allclose(np_(crf.transitions), 4.0 * w, rtol=1e-6)
    np.testing.assert_allclose(np_(crf.trans), 4.0 * w, rtol=1e-6)
    # glorot_uniform limit for [3, 3] is sqrt(6 / 6) = 1, divided by 4.
    assert np.abs(w).max() <= 0.25 + 1e-6
    keras.utils.set_random_seed(0)
    base = ConditionalRandomField()
    base.build((None, None, 3))
    keras.utils.set_random_seed(0)
    scaled = ConditionalRandomField(lr_multiplier=4.0)
    scaled.build((None, None, 3))
    np.testing.assert_allclose(
        np_(scaled.transitions), np_(base.transitions), rtol=1e-6
    )


def _tagger(num_tags=4, vocab=20, policy=None, **crf_kwargs):
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocab, 16, mask_zero=True)(inputs)
    x = keras.layers.Dense(num_tags)(x)
    crf = ConditionalRandomField(name="crf", **crf_kwargs)
    return keras.Model(inputs, crf(x)), crf


def _toy_data(n=64, length=7, vocab=20, num_tags=4, seed=0):
    # Tag = token id mod num_tags (learnable from the token alone); padding 0.
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, length))
    lengths = rng.integers(1, length + 1, size=n)
    x[np.arange(length)[None] >= lengths[:, None]] = 0
    y = np.where(x > 0, x % num_tags, 0)
    return x.astype("int32"), y.astype("int32")


def test_layer_get_config_and_save_load(tmp_path):
    names = ["O", "B-A", "I-A", "B-B"]
    starts, ends, allowed = tag_scheme_constraints(names)
    model, crf = _tagger(
        lr_multiplier=2.0, start_tags=starts, allowed_transitions=allowed
    )
    config = crf.get_config()
    clone = ConditionalRandomField.from_config(config)
    assert clone.lr_multiplier == 2.0 and clone.start_tags == starts
    assert clone.allowed_transitions == allowed.tolist()
    model.compile("adam", loss=CRFLoss(crf))
    x, _ = _toy_data(8)
    path = os.path.join(tmp_path, "crf.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np_(loaded(x)), np_(model(x)), rtol=1e-6)
    lcrf = loaded.get_layer("crf")
    np.testing.assert_allclose(np_(lcrf.transitions), np_(crf.transitions), rtol=1e-6)
    np.testing.assert_array_equal(
        np_(lcrf.decode(loaded(x))[0]), np_(crf.decode(model(x))[0])
    )
    # The compiled loss comes back unbound; it says how to rebind it.
    with pytest.raises(ValueError, match="Recompile"):
        CRFLoss.from_config(CRFLoss(crf).get_config())(
            np.zeros((1, 2)), np.zeros((1, 2, 4))
        )


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_decreases_loss_and_decodes(jit_compile):
    if BACKEND == "jax" and not jit_compile:
        pytest.skip(
            "eager JAX runs the forward loop op by op (minutes); jit_compile=True covers JAX"
        )
    model, crf = _tagger()
    model.compile(
        keras.optimizers.Adam(0.05), loss=CRFLoss(crf), jit_compile=jit_compile
    )
    x, y = _toy_data()
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    # A second length: the compiled step must take it (dynamic length).
    x2, y2 = _toy_data(16, length=4, seed=1)
    model.fit(x2, y2, epochs=1, batch_size=16, verbose=0)
    last = model.evaluate(x, y, verbose=0)
    assert last < 0.5 * first
    tags, _ = crf.decode(model.predict(x, verbose=0))
    valid = x > 0
    assert (np_(tags)[valid] == y[valid]).mean() > 0.9


def _compiled(fn):
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, None, 3), "float32")
        return tf.function(fn, jit_compile=True, input_signature=[spec])
    return fn


def test_decode_and_loss_compile_with_dynamic_length():
    e, trans, y = _data(12, length=5)

    def fn(emissions):
        tags, scores = viterbi_decode(emissions, trans, start_tags=[0, 1])
        return tags, scores, crf_log_norm(emissions, trans)

    compiled = _compiled(fn)
    for length in (5, 2, 1):
        tags, scores, log_z = compiled(e[:, :length])
        want = [
            ref_viterbi(e[b, :length], trans, np.ones(length), starts=[0, 1])
            for b in range(2)
        ]
        np.testing.assert_array_equal(np_(tags), [w[0] for w in want])
        np.testing.assert_allclose(np_(scores), [w[1] for w in want], rtol=1e-5)
        np.testing.assert_allclose(
            np_(log_z),
            [ref_log_norm(e[b, :length], trans, np.ones(length)) for b in range(2)],
            rtol=1e-5,
        )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_stays_finite(policy):
    keras.config.set_dtype_policy(policy)
    model, crf = _tagger()
    x, y = _toy_data(16)
    out = model(x)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    out = np_(ops.cast(out, "float32"))
    assert np.isfinite(out).all()
    dtype = policy.split("_")[1]
    fill = np_(ops.cast(ops.cast(mask_value(dtype), dtype), "float32"))
    np.testing.assert_array_equal(out[x == 0], fill)
    loss = np_(crf.negative_log_likelihood(y, model(x)))
    assert np.isfinite(loss).all() and loss.dtype == np.float32
    model.compile("adam", loss=CRFLoss(crf))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_docs_keras_example_runs(capsys):
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "crf.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    namespace = {}
    exec(compile(block, "docs/crf.md", "exec"), namespace)
    paths = keras.ops.convert_to_numpy(namespace["paths"])
    starts = namespace["starts"]
    allowed = namespace["allowed"]
    valid = namespace["token_ids"] > 0
    for row, keep in zip(paths, valid, strict=True):
        path = row[keep]
        assert path[0] in starts
        assert all(allowed[i, j] for i, j in itertools.pairwise(path))
    assert "[" in capsys.readouterr().out


def test_rdrop_around_a_crf_tagger_trains():
    # R-Drop's softmax divergence over the tag axis of the emissions; padded
    # steps (mask_value in every tag) add nothing to it.
    from keras_rdkl.losses import SoftmaxKLDivergence
    from keras_rdkl.models import RDropModel

    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 16, mask_zero=True)(inputs)
    x = keras.layers.Dropout(0.3)(keras.layers.Dense(16, activation="relu")(x))
    crf = ConditionalRandomField()
    base = keras.Model(inputs, crf(keras.layers.Dense(4)(x)))
    model = RDropModel(base, alpha=1.0, kl=SoftmaxKLDivergence())
    model.compile(keras.optimizers.Adam(0.05), loss=CRFLoss(crf))
    x, y = _toy_data()
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0).history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["kl"]).all()
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["kl"][-1] > 0.0


def test_token_accuracy_metric_counts_unpadded_tokens_over_batches():
    from keras_rdkl.metrics import CRFTokenAccuracy

    crf = ConditionalRandomField()
    e, _, y = _data(13, batch=3, length=5, tags=3)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    out = crf(e, mask=mask)
    plain, viterbi = CRFTokenAccuracy(), CRFTokenAccuracy(crf)
    for metric, pred in ((plain, e.argmax(-1)), (viterbi, np_(crf.decode(out)[0]))):
        metric.update_state(y[:2], out[:2])
        metric.update_state(y[2:], out[2:])  # a fully padded batch adds nothing
        keep = mask > 0
        want = (pred[keep] == y[keep]).mean()
        assert float(metric.result()) == pytest.approx(want)
        metric.update_state(np.eye(3, dtype="float32")[y], out)  # one-hot tags
        assert float(metric.result()) == pytest.approx(want)
        metric.reset_state()
        assert float(metric.result()) == 0.0
