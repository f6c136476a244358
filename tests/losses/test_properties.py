"""Property-based tests: random shapes, values, masks and label sets for every loss."""

import numpy as np
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

import keras_rdkl
from keras_rdkl.losses import gamma_crossentropy
from keras_rdkl.losses import multilabel_categorical_crossentropy as mcce
from keras_rdkl.losses import sigmoid_kl_divergence
from keras_rdkl.losses import softmax_kl_divergence
from keras_rdkl.losses import sparse_gamma_crossentropy
from keras_rdkl.losses import sparse_multilabel_categorical_crossentropy as sparse_mcce
from tests._grad import grad
from tests.losses import _reference as ref

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
RTOL, ATOL = 1e-5, 1e-5

# Scores: ordinary values, extremes and both kinds of mask.
_special = st.sampled_from([1e4, -1e4, -np.inf, keras_rdkl.mask_value("float32"), 0.0])
_score = st.one_of(st.floats(-30, 30, width=32), _special)


# A few fixed shapes (ranks 1-3, a size-1 class axis included): on JAX every new
# shape recompiles each op, so drawing arbitrary shapes would dominate the run.
_SHAPES = {1: [(3,), (1,)], 2: [(2, 5), (3, 1), (1, 6)], 3: [(2, 2, 3)]}


def _shapes(min_rank=1, max_rank=3):
    return st.sampled_from(
        [s for r in range(min_rank, max_rank + 1) for s in _SHAPES[r]]
    )


@st.composite
def _scores_and_targets(draw, soft):
    shape = draw(_shapes(2))
    s = draw(hnp.arrays(np.float32, shape, elements=_score))
    if soft:
        t = draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
    else:
        t = draw(hnp.arrays(np.float32, shape, elements=st.sampled_from([0.0, 1.0])))
    return t, s


def _np(x):
    return ops.convert_to_numpy(x)


def _close(actual, expected):
    # Relative to the loss scale: extreme logits give losses ~1e4.
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


@SETTINGS
@given(data=_scores_and_targets(soft=False) | _scores_and_targets(soft=True))
def test_zlpr_dense_properties(data):
    t, s = data
    out = _np(mcce(t, s))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    _close(out, ref.zlpr(t, s))
    g = grad(lambda v: mcce(t, v), s)
    assert np.all(np.isfinite(g))
    assert np.all(g[s <= keras_rdkl.MASK_THRESHOLD] == 0)


# (leading shape, classes n, indices k): every rank, n = 1 and k > n included,
# in four layouts rather than every product (each new shape recompiles on JAX).
_SPARSE_LAYOUTS = [((3,), 7, 4), ((1,), 1, 1), ((2, 3), 7, 1), ((3, 1), 1, 4)]


@SETTINGS
@given(
    layout=st.sampled_from(_SPARSE_LAYOUTS),
    mask_zero=st.booleans(),
    data=st.data(),
)
def test_zlpr_sparse_properties(layout, mask_zero, data):
    shape, n, k = layout
    s = data.draw(hnp.arrays(np.float32, shape + (n,), elements=_score))
    idx = data.draw(hnp.arrays(np.int32, shape + (k,), elements=st.integers(-1, n)))
    out = _np(sparse_mcce(idx, s, mask_zero=mask_zero))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    t = ref.multi_hot(idx, n, mask_zero=mask_zero)
    if mask_zero:  # bert4keras' meaning: class 0 never counts, not even as a negative
        s = np.where(np.arange(n) == 0, -np.inf, s).astype("float32")
    _close(out, ref.zlpr(t, s))
    _close(out, _np(mcce(t, s)))
    g = grad(lambda v: sparse_mcce(idx, v, mask_zero=mask_zero), s)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, ref.zlpr_grad(t, s), rtol=1e-4, atol=1e-5)


# (leading shape, classes c): ranks 1 and 2, a batch of one, two and five classes.
_GAMMA_LAYOUTS = [((3,), 5), ((1,), 2), ((2, 5), 2)]


@SETTINGS
@given(
    layout=st.sampled_from(_GAMMA_LAYOUTS),
    gamma=st.one_of(st.sampled_from([0.0, 1e-7, 1.0]), st.floats(1e-3, 1)),
    threshold=st.floats(0, 1),
    data=st.data(),
)
def test_gamma_properties(layout, gamma, threshold, data):
    shape, c = layout
    logits = data.draw(
        hnp.arrays(np.float32, shape + (c,), elements=st.floats(-1e4, 1e4, width=32))
    )
    labels = data.draw(hnp.arrays(np.int32, shape, elements=st.integers(0, c - 1)))
    out = _np(
        sparse_gamma_crossentropy(labels, logits, gamma, threshold, from_logits=True)
    )
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    # gamma is held in float32 by the package: compare at that gamma.
    g32 = float(np.float32(gamma))
    _close(out, ref.sparse_gamma_ce(labels, logits, g32, threshold, True))
    onehot = np.eye(c, dtype="float32")[labels]
    _close(
        _np(gamma_crossentropy(onehot, logits, gamma, threshold, from_logits=True)), out
    )
    g = grad(
        lambda v: sparse_gamma_crossentropy(labels, v, gamma, threshold, True), logits
    )
    assert np.all(np.isfinite(g))


@SETTINGS
@given(
    shape=_shapes(2),
    temperature=st.floats(0.1, 10),
    data=st.data(),
)
def test_divergence_properties(shape, temperature, data):
    s = data.draw(hnp.arrays(np.float32, shape, elements=_score))
    t = data.draw(hnp.arrays(np.float32, shape, elements=_score))
    for fn, reference in (
        (sigmoid_kl_divergence, ref.sigmoid_sym_kl),
        (softmax_kl_divergence, ref.softmax_sym_kl),
    ):
        out = _np(fn(t, s, temperature=temperature))
        assert np.all(np.isfinite(out)) and np.all(out >= -ATOL)
        # Symmetric in its two arguments.
        _close(_np(fn(s, t, temperature=temperature)), out)
        _close(out, reference(t, s, temperature))
        g = grad(lambda v, fn=fn: fn(t, v, temperature=temperature), s)
        assert np.all(np.isfinite(g))
