"""`K`, Keras 2's backend functions, and bert4keras.backend's helpers on `keras.ops`.

bert4keras scripts start with ``from bert4keras.backend import keras, K`` and
write their own losses and metrics with ``K.*`` (Keras 2's `keras.backend`).
Keras 3 has no such module; `K` here maps those names onto `keras.ops`,
`keras.random` and `keras.config`, with Keras 2's argument orders and
defaults (``K.categorical_crossentropy(target, output)``, ``K.concatenate``
on the last axis, ``K.expand_dims`` at the end, ...). Every function is
backend-neutral and traceable, so a K-written loss runs inside `model.fit`
on TensorFlow, JAX and PyTorch; only `eval`, `get_value` and
`batch_get_value` read values to the host, as they did in Keras 2.

Where Keras 3 cannot keep Keras 2's meaning, `K` says so:

* ``K.shape(x)`` is a tuple (`keras.ops.shape`): Python ints where the
  size is known, a scalar tensor where it is not (a TensorFlow batch axis
  inside `fit`). Indexing, slicing, ``K.prod`` and ``K.reshape`` take it as
  Keras 2 scripts use it; ``K.prod`` of a tuple of ints is a Python int,
  so the shapes it builds stay static under JAX's tracing.
* ``K.zeros``, ``K.ones`` and ``K.eye`` return tensors (Keras 2 made
  variables); wrap one in ``K.variable`` for a variable.
* ``K.in_train_phase(x, alt, training=None)`` follows Keras 3: there is no
  global learning phase, so without ``training`` it returns `alt` (the
  inference value). Pass the ``training`` argument of the layer's `call`.
* Random functions take ``seed`` (an int or a `keras.random.SeedGenerator`)
  as `keras.random` does; in traced JAX code pass a `SeedGenerator`.
* ``K.reshape(x, *args)``, ``K.flatten(x, start, end)`` and ``K.where`` are
  bert4keras' extended versions (it replaced Keras 2's on `K`); the Keras 2
  calls ``K.reshape(x, shape)`` and ``K.flatten(x)`` mean what they meant.
* Graph-mode functions (``K.gradients``, ``K.function``, ``K.placeholder``,
  ``K.learning_phase``, sessions, ...) have no Keras 3 meaning. Asking `K`
  for them, or for any name it lacks, raises `AttributeError` naming the
  attribute and what to use instead.

Example:

>>> from keras_rdkl.compat._backend import K
>>> y_true = np.array([[0.0, 1.0, 0.0]])
>>> y_pred = np.array([[0.2, 0.7, 0.1]])
>>> float(K.eval(K.mean(K.categorical_crossentropy(y_true, y_pred))))
0.3566...
>>> K.int_shape(K.batch_dot(np.ones((4, 3)), np.ones((4, 3)), axes=1))
(4, 1)
"""

import functools
import math
import numbers
import operator

import keras
import numpy as np
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl.layers.rotary import apply_rotary
from keras_rdkl.masking import mask_value

__all__ = [
    "K",
    "apply_rotary_position_embeddings",
    "batch_gather",
    "gelu_erf",
    "gelu_tanh",
    "infinity",
    "root_mean_square",
    "sequence_masking",
    "set_gelu",
    "set_infinity",
]

# bert4keras' "infinity" (0.11.0-0.11.4): the magnitude `sequence_masking`
# writes for value="-inf" / "inf". A one-item dict, so `set_infinity` can
# change it without a `global` statement.
_INFINITY = {"value": 1e12}
_FLOAT16_MAX = 65504.0


def infinity():
    """The large number bert4keras uses for "infinity" in masks (default 1e12).

    Example:

    >>> from keras_rdkl.compat._backend import infinity
    >>> infinity()
    1000000000000.0
    """
    return _INFINITY["value"]


def set_infinity(value):
    """Sets the number `infinity()` returns (a finite number > 0)."""
    _INFINITY["value"] = checks.check_positive_number(value, "value")


# bert4keras' `set_gelu`: which GELU a config's `hidden_act: "gelu"` means.
_GELU = {"version": "erf"}


def set_gelu(version):
    """Sets the GELU that `hidden_act: "gelu"` means: "erf" (default) or "tanh".

    As in bert4keras, it applies to models built after the call
    (`build_transformer_model` without an explicit `gelu` argument);
    "gelu_erf" and "gelu_tanh" in a config keep their meaning.
    """
    version = str(version).lower()
    if version not in ("erf", "tanh"):
        raise ValueError(
            f"`version` must be 'erf' or 'tanh'. Received: version={version!r}"
        )
    _GELU["version"] = version


# ---------------------------------------------------------------------------
# Small helpers


def _tensor(x):
    """Backend tensors, KerasTensors and variables as they are; the rest converted."""
    if (
        hasattr(x, "shape")
        and hasattr(x, "dtype")
        and not isinstance(x, (np.ndarray, np.generic))
    ):
        return x
    return ops.convert_to_tensor(x)


def _axis(axis):
    """Keras 2 accepted lists of axes; JAX reductions take only ints or tuples."""
    return tuple(axis) if isinstance(axis, list) else axis


def _reduce(fn, x, axis, keepdims, one_axis_at_a_time=False):
    """`fn(x, axis, keepdims)`, keeping every axis for `axis=None, keepdims=True`
    (the torch backend's sum, max, min and prod drop them there).

    With `one_axis_at_a_time`, several axes are reduced one after the other,
    from the last: right for reductions that compose (prod, all, any), and
    what Keras 3.12's torch backend needs (its prod, all and any take one
    axis only).
    """
    x = _tensor(x)
    if axis is None and keepdims:
        return ops.reshape(fn(x, axis=None), (1,) * len(x.shape))
    axis = _axis(axis)
    if one_axis_at_a_time and isinstance(axis, tuple) and len(axis) > 1:
        rank = len(x.shape)
        for a in sorted({a % rank for a in axis}, reverse=True):
            x = fn(x, axis=a, keepdims=keepdims)
        return x
    return fn(x, axis=axis, keepdims=keepdims)


def _reduction(fn, prepare=_tensor, one_axis_at_a_time=False):
    """A Keras 2 reduction `(x, axis=None, keepdims=False)` over `fn`."""

    def reduction(x, axis=None, keepdims=False):
        return _reduce(fn, prepare(x), axis, keepdims, one_axis_at_a_time)

    reduction.__name__ = reduction.__qualname__ = fn.__name__
    return staticmethod(reduction)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _static_product(dims):
    """Product of a shape tuple: a Python int when every entry is one."""
    if all(_is_int(d) for d in dims):
        return math.prod(int(d) for d in dims)
    return functools.reduce(operator.mul, dims, 1)  # TensorFlow dynamic sizes


def _dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


def _to_float(x):
    """Bools become floatx (Keras 2 averaged booleans as floats)."""
    x = _tensor(x)
    return ops.cast(x, keras.config.floatx()) if _dtype_name(x) == "bool" else x


def _as_bool(x):
    x = _tensor(x)
    return x if _dtype_name(x) == "bool" else ops.cast(x, "bool")


def _as_int(x):
    x = _tensor(x)
    return x if "int" in _dtype_name(x) else ops.cast(x, "int32")


def _evaluate(x):
    return x() if callable(x) else x


def _like(value, other):
    """`value` as a tensor; a Python number takes the dtype of `other`."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        dtype = keras.config.floatx() if other is None else _dtype_name(other)
        return ops.convert_to_tensor(value, dtype=dtype)
    return _tensor(value)


def _expand_trailing(x, rank):
    """Appends size-1 axes to `x` until it has `rank` axes."""
    for _ in range(rank - len(x.shape)):
        x = ops.expand_dims(x, -1)
    return x


# ---------------------------------------------------------------------------
# K


class _KerasTwoBackend:
    """Keras 2's `keras.backend` functions for bert4keras scripts, on `keras.ops`.

    Every attribute is a plain function; names Keras 3 cannot support raise
    `AttributeError` with what to use instead. See the module docstring.
    """

    # Configuration and predicates -----------------------------------------------------------

    backend = staticmethod(keras.backend.backend)  # "tensorflow", "jax" or "torch"
    clear_session = staticmethod(keras.backend.clear_session)
    epsilon = staticmethod(keras.config.epsilon)
    floatx = staticmethod(keras.config.floatx)
    get_uid = staticmethod(keras.backend.get_uid)
    image_data_format = staticmethod(keras.config.image_data_format)
    is_keras_tensor = staticmethod(keras.backend.is_keras_tensor)
    is_tensor = staticmethod(ops.is_tensor)
    name_scope = staticmethod(keras.name_scope)
    set_epsilon = staticmethod(keras.config.set_epsilon)
    set_floatx = staticmethod(keras.config.set_floatx)
    set_image_data_format = staticmethod(keras.config.set_image_data_format)
    infinity = staticmethod(infinity)
    set_infinity = staticmethod(set_infinity)

    # Tensors, variables and their values ---------------------------------------

    @staticmethod
    def cast_to_floatx(x):
        """A NumPy array of `x` in floatx (Keras 2 returned NumPy here too)."""
        return np.asarray(x, dtype=keras.config.floatx())

    @staticmethod
    def dtype(x):
        """The dtype name of `x`, such as "float32"."""
        return _dtype_name(x)

    @staticmethod
    def shape(x):
        """The shape as a tuple: ints where static, scalar tensors where dynamic."""
        return ops.shape(_tensor(x))

    @staticmethod
    def int_shape(x):
        """The static shape as a tuple of ints, None for unknown sizes."""
        dims = x.shape if hasattr(x, "shape") else np.shape(x)
        return tuple(None if d is None else int(d) for d in dims)

    @staticmethod
    def ndim(x):
        dims = x.shape if hasattr(x, "shape") else np.shape(x)
        return len(dims)

    @staticmethod
    def count_params(x):
        return math.prod(int(d) for d in x.shape)

    @staticmethod
    def eval(x):
        """The value of a tensor or variable as a NumPy array (a host read)."""
        return np.asarray(ops.convert_to_numpy(x))

    get_value = eval

    @staticmethod
    def batch_get_value(tensors):
        return [np.asarray(ops.convert_to_numpy(x)) for x in tensors]

    @staticmethod
    def set_value(x, value):
        """Assigns `value` (array-like) to the variable `x`."""
        x.assign(value)

    @staticmethod
    def batch_set_value(tuples):
        for x, value in tuples:
            x.assign(value)

    @staticmethod
    def update(x, new_x):
        x.assign(new_x)
        return x

    @staticmethod
    def update_add(x, increment):
        x.assign_add(increment)
        return x

    @staticmethod
    def update_sub(x, decrement):
        x.assign_sub(decrement)
        return x

    @staticmethod
    def constant(value, dtype=None, shape=None, name=None):
        """A tensor of `value`; with `shape`, a scalar fills it (as in Keras 2)."""
        del name  # Keras 3 tensors carry no name.
        dtype = dtype or keras.config.floatx()
        if ops.is_tensor(value):
            value = ops.cast(value, dtype)
            return value if shape is None else ops.reshape(value, shape)
        value = np.asarray(value)
        if shape is not None:
            shape = tuple(shape)
            value = (
                np.full(shape, value.item())
                if value.size == 1
                else value.reshape(shape)
            )
        return ops.convert_to_tensor(value, dtype=dtype)

    @staticmethod
    def variable(value, dtype=None, name=None, trainable=True):
        """A `keras.Variable` holding `value` (floatx unless `dtype` is given)."""
        return keras.Variable(
            value,
            dtype=dtype or keras.config.floatx(),
            name=name,
            trainable=trainable,
        )

    @staticmethod
    def zeros(shape, dtype=None, name=None):
        """A zeros tensor (Keras 2 made a variable; see the module docstring)."""
        del name
        return ops.zeros(shape, dtype=dtype or keras.config.floatx())

    @staticmethod
    def ones(shape, dtype=None, name=None):
        """A ones tensor (Keras 2 made a variable; see the module docstring)."""
        del name
        return ops.ones(shape, dtype=dtype or keras.config.floatx())

    @staticmethod
    def eye(size, dtype=None, name=None):
        """An identity-matrix tensor; `size` is an int or a (rows, cols) pair."""
        del name
        rows, cols = (size, None) if _is_int(size) else tuple(size)
        return ops.eye(rows, cols, dtype=dtype or keras.config.floatx())

    @staticmethod
    def zeros_like(x, dtype=None, name=None):
        del name
        return ops.zeros_like(x, dtype=dtype)

    @staticmethod
    def ones_like(x, dtype=None, name=None):
        del name
        return ops.ones_like(x, dtype=dtype)

    @staticmethod
    def identity(x, name=None):
        del name
        return ops.copy(x)

    @staticmethod
    def arange(start, stop=None, step=1, dtype="int32"):
        """Like `range`, a tensor; Keras 2's default dtype is int32."""
        if stop is None and _is_int(start) and start < 0:
            start = 0  # Keras 2: arange(-3) is empty, not an error.
        return ops.arange(start, stop, step, dtype=dtype)

    # Reductions --------------------------------------------------------------

    # (x, axis=None, keepdims=False); Keras 2 averaged booleans as floats.
    all = _reduction(ops.all, _as_bool, one_axis_at_a_time=True)
    any = _reduction(ops.any, _as_bool, one_axis_at_a_time=True)
    logsumexp = _reduction(ops.logsumexp)
    max = _reduction(ops.max)
    mean = _reduction(ops.mean, _to_float)
    min = _reduction(ops.min)
    std = _reduction(ops.std, _to_float)  # population: divides by N
    sum = _reduction(ops.sum)
    var = _reduction(ops.var, _to_float)  # population: divides by N

    @staticmethod
    def prod(x, axis=None, keepdims=False):
        """Product of elements; of a shape tuple of ints, a Python int."""
        is_shape = isinstance(x, (tuple, list)) and all(
            _is_int(d) or ops.is_tensor(d) for d in x
        )
        if is_shape and axis is None and not keepdims:
            return _static_product(x)  # keeps shapes static under tracing
        return _reduce(ops.prod, x, axis, keepdims, one_axis_at_a_time=True)

    @staticmethod
    def argmax(x, axis=-1):
        return ops.argmax(x, axis=axis)

    @staticmethod
    def argmin(x, axis=-1):
        return ops.argmin(x, axis=axis)

    @staticmethod
    def cumsum(x, axis=0):
        return ops.cumsum(x, axis=axis)

    @staticmethod
    def cumprod(x, axis=0):
        return ops.cumprod(x, axis=axis)

    # Element-wise; Keras 2's and keras.ops' signatures agree. ---------------

    abs = staticmethod(ops.absolute)
    cast = staticmethod(ops.cast)
    cos = staticmethod(ops.cos)
    equal = staticmethod(ops.equal)
    exp = staticmethod(ops.exp)
    greater = staticmethod(ops.greater)
    greater_equal = staticmethod(ops.greater_equal)
    less = staticmethod(ops.less)
    less_equal = staticmethod(ops.less_equal)
    log = staticmethod(ops.log)
    maximum = staticmethod(ops.maximum)
    minimum = staticmethod(ops.minimum)
    not_equal = staticmethod(ops.not_equal)
    pow = staticmethod(ops.power)
    round = staticmethod(ops.round)  # half to even, as tf.round in Keras 2
    sigmoid = staticmethod(ops.sigmoid)
    sign = staticmethod(ops.sign)
    sin = staticmethod(ops.sin)
    softplus = staticmethod(ops.softplus)
    square = staticmethod(ops.square)
    tanh = staticmethod(ops.tanh)

    @staticmethod
    def sqrt(x):
        """Square root; negative inputs are clipped to 0 first (Keras 2)."""
        return ops.sqrt(ops.maximum(x, 0.0))

    @staticmethod
    def clip(x, min_value, max_value):
        """Clips to [min_value, max_value]; None leaves a side open (Keras 2)."""
        if min_value is not None and max_value is not None:
            # Keras 2 raised max_value to min_value rather than failing.
            if isinstance(min_value, numbers.Real) and isinstance(
                max_value, numbers.Real
            ):
                max_value = max(max_value, min_value)
            return ops.clip(x, min_value, max_value)
        if min_value is not None:
            x = ops.maximum(x, min_value)
        if max_value is not None:
            x = ops.minimum(x, max_value)
        return _tensor(x)

    # Activations -------------------------------------------------------------

    @staticmethod
    def softmax(x, axis=-1):
        return ops.softmax(x, axis=axis)

    @staticmethod
    def hard_sigmoid(x):
        """Keras 2's piecewise-linear sigmoid: clip(0.2 x + 0.5, 0, 1)."""
        return ops.clip(0.2 * _tensor(x) + 0.5, 0.0, 1.0)

    @staticmethod
    def softsign(x):
        x = _tensor(x)
        return x / (1.0 + ops.absolute(x))

    @staticmethod
    def relu(x, alpha=0.0, max_value=None, threshold=0.0):
        """Keras 2's relu: `max_value` at x >= max_value, x at threshold <= x,
        else alpha * (x - threshold)."""
        x = _tensor(x)
        if alpha == 0 and threshold == 0 and max_value is None:
            return ops.relu(x)
        out = ops.where(x >= threshold, x, alpha * (x - threshold))
        if max_value is not None:
            out = ops.where(x >= max_value, ops.cast(max_value, out.dtype), out)
        return out

    @staticmethod
    def elu(x, alpha=1.0):
        """x where x > 0, alpha * (exp(x) - 1) elsewhere."""
        x = _tensor(x)
        return ops.where(x > 0, x, alpha * ops.expm1(ops.minimum(x, 0.0)))

    # Losses (Keras 2 argument order: target, output) -------------------------

    @staticmethod
    def binary_crossentropy(target, output, from_logits=False):
        """Element-wise binary cross-entropy, no reduction.

        Probabilities are clipped to [eps, 1 - eps] and the loss is
        -(t log(p + eps) + (1 - t) log(1 - p + eps)); logits use the stable
        max(x, 0) - x t + log(1 + exp(-|x|)).
        """
        output = _tensor(output)
        target = ops.cast(target, output.dtype)
        if from_logits:
            return (
                ops.relu(output)
                - output * target
                + ops.log1p(ops.exp(-ops.absolute(output)))
            )
        eps = keras.config.epsilon()
        output = ops.clip(output, eps, 1.0 - eps)
        return -(
            target * ops.log(output + eps)
            + (1.0 - target) * ops.log(1.0 - output + eps)
        )

    @staticmethod
    def categorical_crossentropy(target, output, from_logits=False, axis=-1):
        """-sum(target * log p) over `axis`; probabilities are renormalized and
        clipped to [eps, 1 - eps], logits go through log-softmax."""
        output = _tensor(output)
        target = ops.cast(target, output.dtype)
        return ops.categorical_crossentropy(
            target, output, from_logits=from_logits, axis=axis
        )

    @staticmethod
    def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
        """Categorical cross-entropy with integer class ids as `target`.

        `target` has the shape of `output` without `axis` (a trailing axis
        of size 1 is accepted too); float ids, as `fit` may pass them, are
        cast to int32. Returns that shape.
        """
        output = _tensor(output)
        target = _tensor(target)
        if len(target.shape) == len(output.shape) and target.shape[-1] == 1:
            target = ops.squeeze(target, -1)
        return ops.sparse_categorical_crossentropy(
            _as_int(target), output, from_logits=from_logits, axis=axis
        )

    # Linear algebra ------------------------------------------------------------

    @staticmethod
    def dot(x, y):
        """Keras 2's dot: for rank > 2, contracts the last axis of `x` with the
        second-to-last of `y` (shape x[:-1] + y[:-2] + y[-1:])."""
        x, y = _tensor(x), _tensor(y)
        if len(x.shape) > 2 or len(y.shape) > 2:
            y_axis = max(len(y.shape) - 2, 0)
            return ops.tensordot(x, y, axes=([len(x.shape) - 1], [y_axis]))
        return ops.matmul(x, y)

    @staticmethod
    def batch_dot(x, y, axes=None):
        """Per-sample dot product over axis 0, Keras 2's semantics.

        `axes` (an int or a pair) names the axis of `x` and of `y` that is
        summed over; by default the last of `x` and the second-to-last of
        `y` (the last when `y` has rank 2), a batched matmul. The result
        keeps the batch axis, then `x`'s other axes, then `y`'s; a result of
        rank 1 (two rank-2 inputs) is returned as [batch, 1].
        """
        x, y = _tensor(x), _tensor(y)
        rx, ry = len(x.shape), len(y.shape)
        if rx < 2 or ry < 2:
            raise ValueError(
                "`batch_dot` needs inputs of rank >= 2 (a batch axis and one "
                f"more). Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
            )
        if axes is None:
            axes = (rx - 1, ry - 1 if ry == 2 else ry - 2)
        elif _is_int(axes):
            axes = (axes, axes)
        ax, ay = (int(a) % r for a, r in zip(axes, (rx, ry), strict=True))
        if ax == 0 or ay == 0:
            raise ValueError(
                f"`batch_dot` cannot sum over the batch axis 0. Received: axes={axes}"
            )
        letters = iter("bcdefghijklmnopqrstuvwxyz")
        xs = ["a"] + [next(letters) for _ in range(rx - 1)]
        ys = ["a"] + [next(letters) for _ in range(ry - 1)]
        ys[ay] = xs[ax]
        out = [c for i, c in enumerate(xs) if i != ax]
        out += [c for i, c in enumerate(ys) if i not in (0, ay)]
        result = ops.einsum(f"{''.join(xs)},{''.join(ys)}->{''.join(out)}", x, y)
        return ops.expand_dims(result, 1) if len(out) == 1 else result

    @staticmethod
    def l2_normalize(x, axis=None):
        """x / sqrt(max(sum(x ** 2, axis), 1e-12))."""
        x = _tensor(x)
        norm2 = ops.sum(ops.square(x), axis=_axis(axis), keepdims=True)
        return x * ops.rsqrt(ops.maximum(norm2, 1e-12))

    # Shapes ------------------------------------------------------------------

    @staticmethod
    def transpose(x):
        """Reverses every axis (a matrix transpose for rank 2)."""
        x = _tensor(x)
        return ops.transpose(x, tuple(reversed(range(len(x.shape)))))

    @staticmethod
    def permute_dimensions(x, pattern):
        return ops.transpose(x, tuple(pattern))

    @staticmethod
    def reshape(x, *args):
        """`reshape(x, shape)`, or bert4keras' `reshape(x, shape1, axis1, ...)`.

        The second form replaces axis `axis_i` by the axes `shape_i` (one of
        them may be -1), leaving the other axes alone:
        ``K.reshape(x, (2, -1), 1)`` splits axis 1 of x into two axes.
        """
        x = _tensor(x)
        if len(args) == 1:
            return ops.reshape(x, args[0])
        if not args or len(args) % 2:
            raise ValueError(
                "`reshape` takes a shape, or pairs (shape, axis). "
                f"Received: {len(args)} arguments after the tensor"
            )
        shape = [[d] for d in ops.shape(x)]
        for new, axis in zip(args[::2], args[1::2], strict=True):
            new = list(new)
            if new.count(-1) > 1:
                raise ValueError(
                    f"Each new shape may hold one -1. Received: {tuple(new)}"
                )
            if -1 in new:
                known = _static_product([d for d in new if not _is_int(d) or d != -1])
                new[new.index(-1)] = shape[axis][0] // known
            shape[axis] = new
        return ops.reshape(x, [d for dims in shape for d in dims])

    @staticmethod
    def flatten(x, start=None, end=None):
        """Merges axes start..end-1 into one; all axes by default (Keras 2)."""
        x = _tensor(x)
        shape = list(ops.shape(x))
        start = start or 0
        end = end or len(shape)
        merged = _static_product(shape[start:end])
        return ops.reshape(x, shape[:start] + [merged] + shape[end:])

    @staticmethod
    def batch_flatten(x):
        """[batch, ...] -> [batch, prod(...)]."""
        x = _tensor(x)
        return ops.reshape(x, (ops.shape(x)[0], -1))

    @staticmethod
    def expand_dims(x, axis=-1):
        return ops.expand_dims(x, axis)

    @staticmethod
    def squeeze(x, axis):
        return ops.squeeze(x, axis)

    @staticmethod
    def concatenate(tensors, axis=-1):
        return ops.concatenate(list(tensors), axis=axis)

    @staticmethod
    def stack(x, axis=0):
        return ops.stack(list(x), axis=axis)

    @staticmethod
    def tile(x, n):
        return ops.tile(x, [n] if _is_int(n) else list(n))

    @staticmethod
    def repeat_elements(x, rep, axis):
        return ops.repeat(x, rep, axis=axis)

    @staticmethod
    def repeat(x, n):
        """[batch, dim] -> [batch, n, dim] (Keras 2's RepeatVector)."""
        return ops.repeat(ops.expand_dims(x, 1), n, axis=1)

    @staticmethod
    def reverse(x, axes):
        return ops.flip(x, axis=tuple(axes) if isinstance(axes, list) else axes)

    @staticmethod
    def temporal_padding(x, padding=(1, 1)):
        """Zero-pads axis 1 of a [batch, steps, features] tensor."""
        return ops.pad(x, [[0, 0], list(padding), [0, 0]])

    @staticmethod
    def bias_add(x, bias, data_format=None):
        x, bias = _tensor(x), _tensor(bias)
        data_format = data_format or keras.config.image_data_format()
        if data_format == "channels_first" and len(bias.shape) == 1:
            bias = ops.reshape(bias, (1, -1) + (1,) * (len(x.shape) - 2))
        return x + bias

    @staticmethod
    def gather(reference, indices):
        """Rows of `reference` (axis 0) at `indices`."""
        return ops.take(reference, _as_int(indices), axis=0)

    @staticmethod
    def one_hot(indices, num_classes):
        """A float one-hot encoding on a new last axis."""
        return ops.one_hot(_as_int(indices), num_classes)

    # Control flow and gradients -----------------------------------------------

    @staticmethod
    def switch(condition, then_expression, else_expression):
        """`then_expression` where `condition` holds, else `else_expression`.

        Either expression may be a callable (called with no arguments). A
        Python bool picks one expression; a tensor condition of lower rank
        is broadcast over the trailing axes, as in Keras 2.
        """
        if isinstance(condition, (bool, np.bool_)):
            return _evaluate(then_expression if condition else else_expression)
        then_expression = _evaluate(then_expression)
        else_expression = _evaluate(else_expression)
        condition = _as_bool(condition)
        rank = max(
            len(getattr(then_expression, "shape", ())),
            len(getattr(else_expression, "shape", ())),
        )
        if len(condition.shape) > rank:
            raise ValueError(
                "The rank of `condition` must not exceed the rank of the "
                f"expressions. Received: condition.shape={tuple(condition.shape)}, "
                f"expression rank {rank}"
            )
        condition = _expand_trailing(condition, rank)
        return ops.where(condition, then_expression, else_expression)

    @staticmethod
    def where(condition, x, y):
        """bert4keras' broadcasting where; a Python number takes the other's dtype."""
        x_is_number = isinstance(x, numbers.Number)
        y_is_number = isinstance(y, numbers.Number)
        if x_is_number and y_is_number:
            x, y = _like(x, None), _like(y, None)
        elif x_is_number:
            y = _tensor(y)
            x = _like(x, y)
        elif y_is_number:
            x = _tensor(x)
            y = _like(y, x)
        return ops.where(_as_bool(condition), x, y)

    @staticmethod
    def in_train_phase(x, alt, training=None):
        """`x` when training, else `alt` (Keras 3 semantics).

        Keras 3 has no global learning phase: with `training=None` this
        returns `alt`. Pass the `training` argument of your layer's `call`
        (a Python bool or a boolean scalar tensor). `x` and `alt` may be
        callables.
        """
        if training is None:
            return _evaluate(alt)
        if isinstance(training, (bool, int, np.bool_, np.integer)):
            return _evaluate(x if training else alt)
        return _KerasTwoBackend.switch(training, x, alt)

    @staticmethod
    def in_test_phase(x, alt, training=None):
        """`x` at inference, else `alt`; `training=None` counts as inference."""
        return _KerasTwoBackend.in_train_phase(alt, x, training=training)

    @staticmethod
    def stop_gradient(variables):
        """`stop_gradient` of a tensor, or of each tensor of a list."""
        if isinstance(variables, (list, tuple)):
            return [ops.stop_gradient(_tensor(v)) for v in variables]
        return ops.stop_gradient(_tensor(variables))

    @staticmethod
    def in_top_k(predictions, targets, k):
        """Whether each target class is among the top `k` predictions
        (Keras 2 order: predictions first; `keras.ops.in_top_k` is reversed)."""
        return ops.in_top_k(_as_int(targets), predictions, k)

    @staticmethod
    def map_fn(fn, elems, name=None, dtype=None):
        del name, dtype
        return ops.map(fn, elems)

    # Random --------------------------------------------------------------------

    @staticmethod
    def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return keras.random.uniform(
            shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed
        )

    @staticmethod
    def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return keras.random.normal(
            shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed
        )

    @staticmethod
    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return keras.random.truncated_normal(
            shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed
        )

    @staticmethod
    def random_binomial(shape, p=0.0, dtype=None, seed=None):
        """1 with probability `p`, else 0 (floatx unless `dtype` is given)."""
        draw = keras.random.uniform(shape, seed=seed)
        return ops.cast(ops.less(draw, p), dtype or keras.config.floatx())

    @staticmethod
    def dropout(x, level, noise_shape=None, seed=None):
        """Always drops (as Keras 2's K.dropout did): rate `level`, rescaled."""
        return keras.random.dropout(
            _tensor(x), level, noise_shape=noise_shape, seed=seed
        )

    # Unsupported names ---------------------------------------------------------

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        reason = _UNSUPPORTED.get(name)
        if reason is None:
            reason = (
                "Keras 3 has no `keras.backend` of Keras 2 functions; look for "
                f"it in `keras.ops` (keras.ops.{name}?) or `keras.random`"
            )
        raise AttributeError(
            f"`K.{name}` is not supported by keras_rdkl's Keras 2 backend `K`: "
            f"{reason}. See keras.ops (https://keras.io/api/ops/)."
        )

    def __dir__(self):
        return sorted(n for n in dir(type(self)) if not n.startswith("_"))

    def __repr__(self):
        return "<K: Keras 2 backend functions on keras.ops (keras_rdkl.compat)>"


_NO_GRAPH = "Keras 3 has no symbolic graph"
_UNSUPPORTED = {
    "gradients": f"{_NO_GRAPH}; take gradients in a custom `train_step` with the "
    "backend's autodiff (tf.GradientTape, jax.grad, torch.autograd)",
    "function": f"{_NO_GRAPH}; call the model (`model(x)`, `model.predict`) or "
    "build a `keras.Model` whose outputs are the tensors you need",
    "placeholder": f"{_NO_GRAPH}; use `keras.Input`",
    "learning_phase": "Keras 3 has no global learning phase; use the `training` "
    "argument of `Layer.call` (and of `K.in_train_phase`)",
    "set_learning_phase": "Keras 3 has no global learning phase; pass "
    "`training=` to the model or layer call",
    "get_session": "Keras 3 has no sessions",
    "set_session": "Keras 3 has no sessions",
    "symbolic": "it is bert4keras' identity decorator for old Keras optimizers, "
    "which Keras 3 optimizers do not need; drop it",
    "print_tensor": "there is no backend-neutral print inside traced code; print "
    "`K.eval(x)` eagerly (or use tf.print / jax.debug.print)",
    "manual_variable_initialization": "Keras 3 variables initialize themselves",
    "rnn": "use `keras.layers.RNN` or `keras.ops.scan`",
    "foldl": "use `keras.ops.scan` or `keras.ops.fori_loop`",
    "foldr": "use `keras.ops.scan` (reverse=True)",
    "conv1d": "use `keras.ops.conv` (its argument order differs)",
    "conv2d": "use `keras.ops.conv` (its argument order differs)",
    "pool2d": "use `keras.ops.max_pool` or `keras.ops.average_pool`",
    "ctc_batch_cost": "use `keras.ops.ctc_loss`",
    "ctc_decode": "use `keras.ops.ctc_decode`",
    "batch_normalization": "use `keras.ops.batch_normalization` or "
    "`keras.layers.BatchNormalization`",
    "moving_average_update": "use `keras.layers.BatchNormalization`",
}


K = _KerasTwoBackend()


# ---------------------------------------------------------------------------
# bert4keras.backend's free functions


def gelu_erf(x):
    """GELU with the exact normal CDF: 0.5 x (1 + erf(x / sqrt(2))).

    Example:

    >>> from keras_rdkl.compat._backend import gelu_erf
    >>> x = np.array([-1.0, 0.0, 1.0], "float32")
    >>> np.round(ops.convert_to_numpy(gelu_erf(x)), 4).tolist()
    [-0.1587, 0.0, 0.8413]
    """
    x = _tensor(x)
    return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
def gelu_tanh(x):
    """GELU's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _tensor(x)
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1.0 + ops.tanh(inner))


def root_mean_square(x, axis=None, keepdims=False):
    """sqrt(mean(x ** 2)) over `axis` (all axes by default)."""
    return K.sqrt(K.mean(K.square(x), axis=axis, keepdims=keepdims))


def batch_gather(params, indices):
    """Gathers along the first axis after the batch axes of `indices`.

    With `indices` of shape ``[B1, ..., Bk, n]`` and `params` of shape
    ``[B1, ..., Bk, N, D...]``, ``out[b, j, ...] = params[b, indices[b, j], ...]``
    of shape ``[B1, ..., Bk, n, D...]`` (TensorFlow's `gather` with
    `batch_dims=k`, which bert4keras calls). Float indices are cast to int32.

    Example:

    >>> from keras_rdkl.compat._backend import batch_gather
    >>> params = np.arange(12.0).reshape(2, 3, 2)
    >>> ops.convert_to_numpy(batch_gather(params, np.array([[2], [0]]))).tolist()
    [[[4.0, 5.0]], [[6.0, 7.0]]]
    """
    params = _tensor(params)
    indices = _as_int(indices)
    axis = len(indices.shape) - 1
    extra = len(params.shape) - axis - 1
    if axis < 0 or extra < 0:
        raise ValueError(
            "`indices` must have rank >= 1 and `params` a rank above the batch "
            f"axes of `indices`. Received: params.shape={tuple(params.shape)}, "
            f"indices.shape={tuple(indices.shape)}"
        )
    shape = ops.shape(params)
    target = tuple(ops.shape(indices)) + tuple(shape[axis + 1 :])
    indices = ops.broadcast_to(_expand_trailing(indices, len(params.shape)), target)
    return ops.take_along_axis(params, indices, axis=axis)


def sequence_masking(x, mask=None, value=0, axis=None, bias=None, return_mask=False):
    """Writes `value` into `x` where a sequence mask is False (bert4keras).

    Args:
        x: tensor whose axis 0 is the batch.
        mask: `[batch, length]` mask (bool, or numbers where nonzero keeps);
            it is aligned to `x`'s axis 0 and to `axis`, broadcast elsewhere.
            With a list of axes, a position is kept only where it is kept
            along every axis (a `[B, L, L]` pair mask from one `[B, L]`).
            None: no sequence mask.
        value: what masked positions hold: a number, or `"-inf"` / `"inf"`
            for -/+ `infinity()` (1e12; for float16, where 1e12 overflows,
            keras_rdkl's finite float16 mask magnitude 3e4).
        axis: the sequence axis (int > 0, or list of ints), 1 by default.
        bias: an extra mask (bool, combined with `mask` by AND) or an
            additive bias (numbers, added to the kept positions).
        return_mask: also return the aligned mask (None when neither `mask`
            nor a bool `bias` was given).

    Returns:
        The masked `x`, or `(x, mask)` with `return_mask=True`.

    Example:

    >>> from keras_rdkl.compat._backend import sequence_masking
    >>> x = np.ones((1, 3, 2))
    >>> out = sequence_masking(x, np.array([[1, 1, 0]]), value=-9.0)
    >>> ops.convert_to_numpy(out)[0].tolist()
    [[1.0, 1.0], [1.0, 1.0], [-9.0, -9.0]]
    """
    x = _tensor(x)
    if isinstance(value, str):
        if value not in ("-inf", "inf"):
            raise ValueError(
                f'`value` must be a number, "-inf" or "inf". Received: value={value!r}'
            )
        big = infinity()
        if _dtype_name(x) == "float16" and big > _FLOAT16_MAX:
            big = -mask_value("float16")  # 1e12 would overflow to inf
        value = -big if value == "-inf" else big
    value = _like(value, x)
    if mask is None:
        if bias is None:
            return (x, None) if return_mask else x
        bias = _tensor(bias)
        if _dtype_name(bias) == "bool":
            mask = bias
            x = ops.where(mask, x, value)
        else:
            x = x + bias
        return (x, mask) if return_mask else x

    rank = len(x.shape)
    axes = [1] if axis is None else list(axis) if isinstance(axis, list) else [axis]
    axes = [checks.normalize_axes(a, rank)[0] for a in axes]
    if 0 in axes:
        raise ValueError(
            "`axis` must name a sequence axis, not the batch axis 0. "
            f"Received: axis={axis}"
        )
    mask = _as_bool(mask)
    full = None
    for a in axes:
        aligned = mask
        for position in range(rank):  # [B, L] -> B on axis 0, L on axis a
            if position not in (0, a):
                aligned = ops.expand_dims(aligned, position)
        full = aligned if full is None else ops.logical_and(full, aligned)
    mask = full
    if bias is None:
        x = ops.where(mask, x, value)
    else:
        bias = _tensor(bias)
        if _dtype_name(bias) == "bool":
            mask = ops.logical_and(mask, bias)
            x = ops.where(mask, x, value)
        else:
            x = ops.where(mask, x + bias, value)
    return (x, mask) if return_mask else x


def apply_rotary_position_embeddings(sinusoidal, *tensors):
    """Rotary position embeddings (RoPE) of bert4keras' interleaved layout.

    `sinusoidal` is a `[batch or 1, length, d]` table (see
    `keras_rdkl.layers.rotary.sinusoidal_embeddings`); each tensor has shape
    `[batch, length, ..., d]`. Returns the rotated tensor, or a list when
    several are given.
    """
    if not tensors:
        raise ValueError("`apply_rotary_position_embeddings` needs a tensor.")
    outputs = [apply_rotary(t, sinusoidal) for t in tensors]
    return outputs[0] if len(outputs) == 1 else outputs
