"""Bad arguments and inputs raise ValueError naming them, the same on every backend.

Also: NumPy scalars are accepted wherever numbers are, and traced inputs (which
cannot be checked without a host sync) get one documented, backend-independent
result.
"""

import re

import keras
import numpy as np
import pytest

from keras_rdkl import distillation as D
from keras_rdkl import losses as L
from tests.losses import _reference as ref
from tests.losses._traced import as_tensor
from tests.losses._traced import traced

RTOL, ATOL = 1e-5, 1e-6

LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], "float32")
PROBS = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], "float32")
ONEHOT = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], "float32")
GP = np.zeros((2, 3, 4, 4), "float32")


def _raises(fn, *patterns):
    with pytest.raises(ValueError) as info:
        fn()
    for p in patterns:
        assert re.search(p, str(info.value)), (p, str(info.value))


# ------------------------------------------------------ sparse gamma labels


@pytest.mark.parametrize("convert", [np.asarray, list], ids=["numpy", "list"])
@pytest.mark.parametrize(
    "labels,shown",
    [([3, 0], "3"), ([-1, 0], "-1"), ([1.5, 0.0], "1.5"), ([1e10, 0.0], "10000000000")],
)
def test_sparse_gamma_label_out_of_range_raises(convert, labels, shown):
    y = convert(
        np.asarray(labels, "float32" if isinstance(labels[0], float) else "int32")
    )
    for call in (
        lambda: L.sparse_gamma_crossentropy(y, LOGITS, 0.1, from_logits=True),
        lambda: L.SparseGammaCrossentropy(0.1, from_logits=True)(y, LOGITS),
    ):
        _raises(call, r"`y_true`", rf"holds {shown}", r"\[0, 3\)")


@pytest.mark.parametrize("labels", [[3, 0], [-1, 0], [1.5, 0.0], [1e10, 0.0]])
def test_sparse_gamma_bad_label_tensor_gives_nan_not_an_error(labels):
    """Eager tensors are not read (no host sync): the bad token's loss is NaN."""
    y = as_tensor(
        np.asarray(labels, "float32" if isinstance(labels[0], float) else "int32")
    )
    out = ops_np(L.sparse_gamma_crossentropy(y, LOGITS, 0.1, from_logits=True))
    assert np.isnan(out[0])
    expected = ref.sparse_gamma_ce(np.array([0]), LOGITS[1:], 0.1, 0.0, True)
    np.testing.assert_allclose(out[1:], expected, rtol=RTOL, atol=ATOL)


def test_sparse_gamma_ignore_class_may_lie_outside_the_classes():
    y = np.array([-1, 2], "int32")
    out = ops_np(
        L.sparse_gamma_crossentropy(y, LOGITS, 0.1, from_logits=True, ignore_class=-1)
    )
    expected = ref.sparse_gamma_ce(np.array([0, 2]), LOGITS, 0.1, 0.0, True)
    np.testing.assert_allclose(out, [0.0, expected[1]], rtol=RTOL, atol=ATOL)
    _raises(
        lambda: L.sparse_gamma_crossentropy(
            [-2, 2], LOGITS, 0.1, from_logits=True, ignore_class=-1
        ),
        r"`y_true`",
        r"-2",
        r"ignore_class=-1",
    )


def test_sparse_gamma_traced_bad_label_gives_nan_for_that_token():
    """Inside jit / tf.function / torch.compile a bad id gives NaN, never a class."""
    labels = np.array([2, 3, -1, 1], "int32")
    logits = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    out = traced(
        lambda y, p: L.sparse_gamma_crossentropy(y, p, 0.2, 0.1, from_logits=True)
    )(labels, logits)
    good = ref.sparse_gamma_ce(
        np.array([2, 1]), logits[[0, 3]], 0.2, 0.1, from_logits=True
    )
    np.testing.assert_allclose(out[[0, 3]], good, rtol=RTOL, atol=ATOL)
    assert np.isnan(out[1]) and np.isnan(out[2])
    # Float labels (as Loss.__call__ hands them over): 1.5 is not a class either.
    out = traced(
        lambda y, p: L.sparse_gamma_crossentropy(y, p, 0.2, 0.1, from_logits=True)
    )(np.array([2.0, 1.5, 1e10, 1.0], "float32"), logits)
    np.testing.assert_allclose(out[[0, 3]], good, rtol=RTOL, atol=ATOL)
    assert np.all(np.isnan(out[1:3]))


def test_sparse_gamma_bad_label_in_fit():
    """In fit nothing is read, on any backend: NaN loss, finite weights."""
    x = np.random.default_rng(1).standard_normal((4, 5)).astype("float32")
    y = np.array([0, 1, 7, 2], "int32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    loss = L.SparseGammaCrossentropy(0.2, from_logits=True)
    jit = keras.backend.backend() != "torch"
    model.compile(optimizer="sgd", loss=loss, jit_compile=jit)
    history = model.fit(x, y, batch_size=4, verbose=0)
    assert np.isnan(history.history["loss"][0])
    # The bad token's gradient is 0, so the weights stay finite.
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


# --------------------------------------------------- dense ZLPR targets [0, 1]


@pytest.mark.parametrize("convert", [np.asarray, list], ids=["numpy", "list"])
@pytest.mark.parametrize("bad,shown", [(1.5, "1.5"), (-0.25, "-0.25"), (np.nan, "nan")])
def test_zlpr_targets_outside_unit_interval_raise(convert, bad, shown):
    t = ONEHOT.copy()
    t[1, 2] = bad
    t = convert(t) if convert is np.asarray else t.tolist()
    for call in (
        lambda: L.multilabel_categorical_crossentropy(t, LOGITS),
        lambda: L.MultilabelCategoricalCrossentropy()(t, LOGITS),
    ):
        _raises(call, r"`y_true`", rf"holds {shown}", r"\[0, 1\]")


@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan])
def test_zlpr_tensor_targets_are_clipped_not_read(bad):
    """Eager tensors are never read (no host sync): clipped to [0, 1], NaN gives NaN."""
    t = ONEHOT.copy()
    t[1, 2] = bad
    out = ops_np(L.multilabel_categorical_crossentropy(as_tensor(t), LOGITS))
    expected = ref.zlpr(np.clip(t, 0, 1), LOGITS)
    np.testing.assert_allclose(out[0], expected[0], rtol=RTOL, atol=ATOL)
    if np.isnan(bad):
        assert np.isnan(out[1])
    else:
        np.testing.assert_allclose(out[1], expected[1], rtol=RTOL, atol=ATOL)


def test_zlpr_traced_targets_are_clipped_identically():
    """Traced targets: clipped to [0, 1] on every backend; NaN gives NaN."""
    rng = np.random.default_rng(2)
    s = (rng.standard_normal((4, 6)) * 3).astype("float32")
    t = rng.uniform(-0.5, 1.5, (4, 6)).astype("float32")
    t[3] = (t[3] > 0.5).astype("float32") * 3.0 - 1.0  # only -1 and 2: "hard"
    t[2, 0] = np.nan
    out = traced(lambda a, b: L.multilabel_categorical_crossentropy(a, b))(t, s)
    expected = ref.zlpr(np.clip(t, 0, 1), s)
    np.testing.assert_allclose(
        out[[0, 1, 3]], expected[[0, 1, 3]], rtol=RTOL, atol=ATOL
    )
    assert np.isnan(out[2])


def test_concrete_targets_closed_over_by_a_traced_function():
    """Targets captured as constants by jax.jit / tf.function / torch.compile.

    The value check cannot read them inside the trace (the ops on them are
    traced too); the loss is computed, as for any traced input.
    """
    rng = np.random.default_rng(5)
    s = (rng.standard_normal((3, 7)) * 2).astype("float32")
    t = (rng.uniform(0, 1, (3, 7)) < 0.4).astype("float32")
    captured = as_tensor(t)
    out = traced(lambda b: L.multilabel_categorical_crossentropy(captured, b))(s)
    np.testing.assert_allclose(out, ref.zlpr(t, s), rtol=RTOL, atol=ATOL)


def test_zlpr_eager_and_traced_tensors_agree():
    """Eager and traced tensor targets give the same clipped values."""
    rng = np.random.default_rng(3)
    s = (rng.standard_normal((3, 5)) * 3).astype("float32")
    s[0, 1] = -np.inf
    t = rng.uniform(-1, 2, (3, 5)).astype("float32")
    t[1] = np.sign(t[1]) * 2  # out-of-range "hard" targets
    t[2, 3] = np.nan
    eager = ops_np(L.multilabel_categorical_crossentropy(as_tensor(t), s))
    in_graph = traced(lambda a, b: L.multilabel_categorical_crossentropy(a, b))(t, s)
    expected = ref.zlpr(np.clip(t, 0, 1), s)
    for out in (eager, in_graph):
        np.testing.assert_allclose(out[:2], expected[:2], rtol=RTOL, atol=ATOL)
        assert np.isnan(out[2])


# ------------------------------------------------- probabilities vs logits


def test_probabilities_required_when_from_logits_is_false():
    for call in (
        lambda: L.gamma_crossentropy(ONEHOT, LOGITS, 0.1),
        lambda: L.sparse_gamma_crossentropy([1, 0], LOGITS, 0.1),
        lambda: L.GammaCrossentropy(0.1)(ONEHOT, LOGITS),
        lambda: L.softmax_kl_divergence(PROBS, LOGITS, from_logits=False),
        lambda: L.softmax_kl_divergence(LOGITS, PROBS, from_logits=False),
    ):
        _raises(call, r"`y_(pred|true)`", r"probabilities in \[0, 1\]")
    # Probabilities pass.
    L.gamma_crossentropy(ONEHOT, PROBS, 0.1)
    L.softmax_kl_divergence(PROBS, PROBS, from_logits=False)


def test_gamma_targets_in_unit_interval():
    _raises(
        lambda: L.gamma_crossentropy(ONEHOT * 2, LOGITS, 0.1, from_logits=True),
        r"`y_true`",
        r"holds 2\.0",
        r"\[0, 1\]",
    )


# ------------------------------------------------------------ shapes, axes


@pytest.mark.parametrize(
    "call,patterns",
    [
        (
            lambda: L.gamma_crossentropy(ONEHOT[:, :2], LOGITS, 0.1, from_logits=True),
            ["y_true", "shape"],
        ),
        (
            lambda: L.gamma_crossentropy(ONEHOT, LOGITS, 0.1, from_logits=True, axis=2),
            ["axis", "2"],
        ),
        (
            lambda: L.gamma_crossentropy(
                ONEHOT, LOGITS, 0.1, from_logits=True, axis=(0, 1)
            ),
            ["axis"],
        ),
        (
            lambda: L.sparse_gamma_crossentropy(
                [1, 0, 1], LOGITS, 0.1, from_logits=True
            ),
            ["y_true"],
        ),
        (
            lambda: L.sparse_gamma_crossentropy(
                [1, 0], LOGITS, 0.1, from_logits=True, axis=5
            ),
            ["axis"],
        ),
        (
            lambda: L.sparse_gamma_crossentropy(
                ["a", "b"], LOGITS, 0.1, from_logits=True
            ),
            ["y_true"],
        ),
        (
            lambda: L.multilabel_categorical_crossentropy(GP[:, :2], GP, (-2, -1)),
            ["y_true"],
        ),
        (lambda: L.multilabel_categorical_crossentropy(GP, GP, axis=(-1, 3)), ["axis"]),
        (lambda: L.multilabel_categorical_crossentropy(GP, GP, axis=4), ["axis"]),
        (lambda: L.sigmoid_kl_divergence(GP[:, :2], GP, axis=(-2, -1)), ["y_true"]),
        (lambda: L.sigmoid_kl_divergence(LOGITS, LOGITS, axis=2), ["axis"]),
        (lambda: L.softmax_kl_divergence(LOGITS, LOGITS, axis=(0, 1)), ["axis"]),
        (lambda: L.softmax_kl_divergence(LOGITS, LOGITS, axis=-3), ["axis"]),
        (lambda: D.softmax_kl_teacher_student(LOGITS[:1], LOGITS), ["teacher_logits"]),
        (lambda: D.softmax_kl_teacher_student(LOGITS, LOGITS, axis=2), ["axis"]),
        (lambda: D.zlpr_teacher_student(GP[:, :1], GP), ["teacher_logits"]),
        (lambda: D.zlpr_teacher_student(GP, GP, axis=(-2, 9)), ["axis"]),
        (
            lambda: D.GlobalPointerDistillation().compute_loss(GP[:, :2], GP),
            ["teacher"],
        ),
        (
            lambda: D.SoftmaxDistillation().compute_loss(LOGITS[:, :2], LOGITS),
            ["teacher"],
        ),
        (
            lambda: L.MultilabelCategoricalCrossentropy(axis=(-2, -1))(GP[:, :2], GP),
            ["y_true"],
        ),
    ],
)
def test_shape_and_axis_mistakes_raise_value_error(call, patterns):
    _raises(call, *patterns)


# ------------------------------------------------------- constructor args


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: L.GammaCrossentropy("0.1"), "gamma"),
        (lambda: L.GammaCrossentropy(np.nan), "gamma"),
        (lambda: L.GammaCrossentropy(0.1, threshold=None), "threshold"),
        (lambda: L.GammaCrossentropy(0.1, from_logits="yes"), "from_logits"),
        (lambda: L.GammaCrossentropy(0.1, axis=(0, 1)), "axis"),
        (lambda: L.GammaCrossentropy(0.1, label_smoothing="0.1"), "label_smoothing"),
        (lambda: L.SparseGammaCrossentropy(0.1, ignore_class=1.5), "ignore_class"),
        (lambda: L.SparseGammaCrossentropy(0.1, axis=True), "axis"),
        (lambda: L.MultilabelCategoricalCrossentropy(axis=()), "axis"),
        (lambda: L.MultilabelCategoricalCrossentropy(axis=(-1, -1)), "axis"),
        (lambda: L.MultilabelCategoricalCrossentropy(axis=1.0), "axis"),
        (lambda: L.SigmoidKLDivergence(temperature="2"), "temperature"),
        (lambda: L.SigmoidKLDivergence(axis=[]), "axis"),
        (lambda: L.SoftmaxKLDivergence(axis=(-2, -1)), "axis"),
        (lambda: L.SoftmaxKLDivergence(from_logits=None), "from_logits"),
        (lambda: D.GlobalPointerDistillation(axis=(-1, -1)), "axis"),
        (lambda: D.SoftmaxDistillation(axis=(-2, -1)), "axis"),
        (
            lambda: L.sigmoid_kl_divergence(LOGITS, LOGITS, temperature="2"),
            "temperature",
        ),
        (lambda: L.gamma_crossentropy(ONEHOT, LOGITS, gamma="x"), "gamma"),
    ],
)
def test_bad_constructor_arguments_raise(make, name):
    _raises(make, rf"`{name}`", r"Received")


def test_numpy_scalars_are_numbers():
    i = np.int64
    f = np.float32
    gamma = L.GammaCrossentropy(
        f(0.1),
        threshold=np.float64(0.2),
        label_smoothing=f(0.1),
        from_logits=np.bool_(True),
        axis=i(-1),
    )
    assert gamma.get_config()["axis"] == -1 and isinstance(gamma.threshold, float)
    sparse = L.SparseGammaCrossentropy(f(0.5), ignore_class=i(0), axis=i(1))
    assert sparse.ignore_class == 0 and sparse.axis == 1
    gamma.gamma = f(0.3)
    assert gamma.gamma == pytest.approx(0.3)
    assert L.MultilabelCategoricalCrossentropy(axis=(i(-2), i(-1))).axis == (-2, -1)
    assert L.MultilabelCategoricalCrossentropy(axis=i(-1)).axis == -1
    assert (
        L.SigmoidKLDivergence(temperature=f(2.0), axis=(i(-2), i(-1))).temperature
        == 2.0
    )
    assert L.SoftmaxKLDivergence(temperature=i(3)).temperature == 3.0
    assert D.GlobalPointerDistillation(
        temperature=f(2.0), axis=(i(-2), i(-1))
    ).axis == (-2, -1)
    assert D.SoftmaxDistillation(temperature=i(2), axis=i(-1)).axis == -1
    out = L.multilabel_categorical_crossentropy(ONEHOT, LOGITS, axis=i(-1))
    np.testing.assert_allclose(
        ops_np(out), ref.zlpr(ONEHOT, LOGITS), rtol=RTOL, atol=ATOL
    )
    out = L.sigmoid_kl_divergence(LOGITS, LOGITS + 1, temperature=f(2.0))
    np.testing.assert_allclose(
        ops_np(out), ref.sigmoid_sym_kl(LOGITS, LOGITS + 1, 2.0), rtol=RTOL
    )


def ops_np(x):
    return keras.ops.convert_to_numpy(x)


def test_nan_teacher_logit_is_left_out_on_every_backend():
    """A NaN teacher logit is a missing target (documented): left out of both sums."""
    t = np.array([[2.0, np.nan, -1.0], [2.0, 0.5, -1.0]], "float32")
    s = np.array([[0.5, 0.5, -3.0], [0.5, 0.5, -3.0]], "float32")
    out = ops_np(D.zlpr_teacher_student(t, s, axis=-1))
    without = ops_np(D.zlpr_teacher_student(t[:1, [0, 2]], s[:1, [0, 2]], axis=-1))
    np.testing.assert_allclose(out[0], without[0], rtol=RTOL, atol=ATOL)
    assert np.isfinite(out[1])
