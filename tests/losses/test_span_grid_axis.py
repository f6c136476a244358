"""ZLPR with the default `axis=-1` on a GlobalPointer grid warns once (issue 30).

`[B, heads, L, L]` scores with `axis=-1` treat every start row as a problem of
its own: a valid call with a plausible, wrong number for span extraction.
"""

import warnings

import keras
import numpy as np
import pytest

from keras_rdkl import losses as L

GRID = np.random.default_rng(0).normal(size=(2, 3, 5, 5)).astype("float32")
DENSE = (GRID > 1.0).astype("float32")
SPARSE = np.array([[[0, 7], [3, 24], [12, 12]]] * 2, "int32")  # flat indices into 5 x 5


def _caught(fn):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn()
    return [w for w in seen if "span grid" in str(w.message)]


def test_dense_and_sparse_warn_once_per_loss():
    dense = L.MultilabelCategoricalCrossentropy()
    found = _caught(lambda: dense(DENSE, GRID))
    assert len(found) == 1
    message = str(found[0].message)
    assert "MultilabelCategoricalCrossentropy" in message
    assert "(2, 3, 5, 5)" in message and "axis=(-2, -1)" in message
    assert _caught(lambda: dense(DENSE, GRID)) == []  # once per loss
    rows = np.zeros((2, 3, 5, 2), "int32")  # two label indices per start row
    sparse = L.SparseMultilabelCategoricalCrossentropy()
    assert len(_caught(lambda: sparse(rows, GRID))) == 1


@pytest.mark.parametrize(
    "make, y_true, y_pred",
    [
        (lambda: L.MultilabelCategoricalCrossentropy(axis=(-2, -1)), DENSE, GRID),
        (lambda: L.MultilabelCategoricalCrossentropy(axis=3), DENSE, GRID),
        (lambda: L.MultilabelCategoricalCrossentropy(), DENSE[:, 0], GRID[:, 0]),
        (lambda: L.MultilabelCategoricalCrossentropy(), DENSE[..., :4], GRID[..., :4]),
        (
            lambda: L.SparseMultilabelCategoricalCrossentropy(axis=(-2, -1)),
            SPARSE,
            GRID,
        ),
    ],
    ids=["grid-axis", "explicit-row-axis", "rank-3", "not-square", "sparse-grid-axis"],
)
def test_no_warning_where_the_axis_is_meant(make, y_true, y_pred):
    loss = make()
    assert _caught(lambda: loss(y_true, y_pred)) == []


def test_warns_inside_fit_with_a_variable_length_input():
    """Traced with an unknown length (TensorFlow) or a known one (JAX, PyTorch)."""
    from keras_rdkl.layers import GlobalPointer

    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4)(tokens)
    model = keras.Model(tokens, GlobalPointer(heads=2, head_size=4)(x))
    model.compile(optimizer="sgd", loss=L.MultilabelCategoricalCrossentropy())
    x_train = np.ones((4, 5), "int32")
    y_train = np.zeros((4, 2, 5, 5), "float32")
    y_train[:, 0, 1, 2] = 1.0
    found = _caught(lambda: model.fit(x_train, y_train, epochs=2, verbose=0))
    assert len(found) == 1
