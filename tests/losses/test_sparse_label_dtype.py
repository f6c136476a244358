"""Sparse losses keep their integer labels integer, whatever the loss dtype.

`keras.losses.Loss.__call__` converts `y_true` to the loss' dtype; for class
indices in float16 or bfloat16 that moves index 253 to 252 (another class,
a plausible wrong number; float16 holds integers up to 2048 and bfloat16
up to 256), and float32 rounds indices above 2**24. The
loss classes hand the labels over in their own dtype, on every backend.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.compat import bert4keras as b4k
from keras_rdkl.losses import SparseGammaCrossentropy
from keras_rdkl.losses import SparseMultilabelCategoricalCrossentropy
from tests.losses import _reference as ref

DTYPES = ["float16", "bfloat16", "float32"]


def _as_loss_dtype(x, dtype):
    """The scores as the loss sees them: converted to its dtype, as float64."""
    x = ops.convert_to_tensor(x, dtype=dtype)
    return ops.convert_to_numpy(ops.cast(x, "float32")).astype("float64")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_zlpr_class_keeps_indices(dtype):
    rng = np.random.default_rng(0)
    n = 2100
    s = rng.standard_normal((2, n)).astype("float32")
    idx = np.array([[2049, 257, -1], [2099, 299, 0]], "int32")
    loss = SparseMultilabelCategoricalCrossentropy(dtype=dtype, reduction=None)
    got = ops.convert_to_numpy(ops.cast(loss(idx, s), "float32"))
    expected = ref.zlpr(ref.multi_hot(idx, n), _as_loss_dtype(s, dtype))
    tol = 1e-2 if dtype != "float32" else 1e-5  # the result is in the loss dtype
    np.testing.assert_allclose(got, expected, rtol=tol)
    # As a tensor (how fit hands labels over) too.
    got = ops.convert_to_numpy(ops.cast(loss(ops.convert_to_tensor(idx), s), "float32"))
    np.testing.assert_allclose(got, expected, rtol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_gamma_class_keeps_labels(dtype):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 2100)).astype("float32")
    labels = np.array([2049, 257, 299], "int32")
    loss = SparseGammaCrossentropy(0.2, from_logits=True, dtype=dtype, reduction=None)
    got = ops.convert_to_numpy(ops.cast(loss(labels, logits), "float32"))
    expected = ref.sparse_gamma_ce(
        labels, _as_loss_dtype(logits, dtype), 0.2, 0.0, from_logits=True
    )
    tol = 1e-2 if dtype != "float32" else 1e-5
    np.testing.assert_allclose(got, expected, rtol=tol)


def test_sparse_zlpr_index_above_2_to_the_24_in_float32():
    # 2**24 + 1 is not a float32: cast to the loss dtype it would become 2**24.
    n = 2**24 + 3
    s = np.full((1, n), -5.0, "float32")
    s[0, 2**24] = 4.0  # the class a float32 cast would pick
    idx = np.array([[2**24 + 1]], "int64")
    loss = SparseMultilabelCategoricalCrossentropy(dtype="float32", reduction=None)
    got = float(ops.convert_to_numpy(loss(idx, s))[0])
    # Positive at -5: log(1 + e^5); negatives: the 4.0 and n - 2 scores at -5.
    expected = np.log1p(np.exp(5.0)) + np.log1p(np.exp(4.0) + (n - 2) * np.exp(-5.0))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_compat_sparse_global_pointer_loss_keeps_positions(dtype):
    rng = np.random.default_rng(2)
    length = 50  # flat index 49 * 50 + 49 = 2499: not a float16/bfloat16 integer
    s = rng.standard_normal((1, 2, length, length)).astype("float32")
    pairs = np.array([[[[49, 49], [3, 41]], [[11, 19], [0, 0]]]], "int32")
    loss = b4k.SparseGlobalPointerCrossentropy(dtype=dtype, reduction=None)
    got = ops.convert_to_numpy(ops.cast(loss(pairs, s), "float32"))
    flat = pairs[..., 0] * length + pairs[..., 1]
    s_loss = _as_loss_dtype(s, dtype).reshape(1, 2, -1)
    t = ref.multi_hot(flat, length * length, mask_zero=True)
    s_ref = np.where(np.arange(length * length) == 0, -np.inf, s_loss)
    expected = ref.zlpr(t, s_ref).sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-2)
    assert keras.backend.standardize_dtype(loss.dtype) == dtype
