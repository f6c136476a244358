"""GlobalPointer: every (start, end) span scored as one unit, for nested NER."""

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl.layers.rotary import apply_rotary
from keras_rdkl.layers.rotary import sinusoidal_embeddings
from keras_rdkl.masking import mask_value


def rotary_table(length, dim):
    """Sinusoidal table `[1, length, dim]` for positions 0 .. length - 1."""
    positions = ops.expand_dims(ops.arange(length, dtype="float32"), 0)
    return sinusoidal_embeddings(positions, dim)


def mask_span_logits(logits, mask, tril_mask):
    """Writes `mask_value(logits.dtype)` where a span is not allowed.

    `logits` is `[batch, heads, length(start), length(end)]`. A span is
    excluded when its start or its end is padding (`mask` `[batch, length]`
    False or 0) or, with `tril_mask`, when start > end.
    """
    valid = None
    if mask is not None:
        mask = ops.cast(mask, "bool")
        valid = ops.logical_and(mask[:, None, :, None], mask[:, None, None, :])
    if tril_mask:
        length = ops.shape(logits)[-1]
        index = ops.arange(length)
        upper = ops.greater_equal(index[None, :], index[:, None])[None, None]
        valid = upper if valid is None else ops.logical_and(valid, upper)
    if valid is None:
        return logits
    fill = ops.cast(mask_value(logits.dtype), logits.dtype)
    return ops.where(valid, logits, fill)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class GlobalPointer(keras.layers.Layer):
    """GlobalPointer span scorer (bert4keras-compatible weights and numbers).

    For each of `heads` entity types, one projection gives a query `q` and
    a key `k` of size `head_size` per token; with `rope=True` both get
    interleaved rotary position embeddings (see `apply_rotary`), so the
    score depends on the relative offset of start and end. The logit of a
    span is

        s[b, h, i, j] = <q[b, i, h], k[b, j, h]> / sqrt(head_size)

    for start `i` and end `j` (end inclusive). A span is predicted when its
    logit is > 0; nested and overlapping spans come out naturally. Train it
    with `keras_rdkl.losses.MultilabelCategoricalCrossentropy(axis=(-2, -1))`
    (or the sparse variant on flat `start * length + end` indices).

    Weights match bert4keras 0.11.5's `GlobalPointer`: a kernel
    `[hidden, heads * 2 * head_size]` and a bias `[heads * 2 * head_size]`,
    where each head's block of `2 * head_size` channels is `[q | k]`, so
    `layer.set_weights(b4k_layer.get_weights())` reproduces its logits.

    Masked spans hold `keras_rdkl.mask_value(compute dtype)`, a large but
    finite negative (-1e12, or -3e4 in float16) written with `ops.where`,
    instead of bert4keras' `-inf`: outputs stay finite under mixed precision,
    and every keras_rdkl loss and metric treats such scores as excluded.

    Args:
        heads: int, the number of entity types.
        head_size: int, the size of `q` and `k` per type (even with `rope`).
        rope: bool, apply rotary position embeddings to `q` and `k`.
        use_bias: bool, whether the projection has a bias.
        tril_mask: bool, mask spans whose start comes after their end.
        kernel_initializer: initializer for the projection kernel.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[batch, length, hidden]`.
        mask: optional `[batch, length]` padding mask (True / 1 = token). Keras
            fills it from mask propagation (e.g. `Embedding(mask_zero=True)`
            or `Masking`), or pass it explicitly as `mask=`. A span is masked
            when its start or its end is padding.

    Returns:
        Logits `[batch, heads, length(start), length(end)]` in the compute
        dtype. The layer produces no Keras mask (`compute_mask` is None): the
        masking is inside the logits.

    Raises:
        ValueError: at construction for `heads` or `head_size` that are not
            positive integers (Python or NumPy), an odd `head_size` with
            `rope=True`, or `rope` / `use_bias` / `tril_mask` that are not
            bools; at build or call (before any backend op, the same on
            every backend) for `inputs` not of rank 3 with a known hidden
            size, a hidden size other than the one built for, or a `mask`
            whose shape is not `inputs.shape[:2]`.

    Example:

    >>> import numpy as np
    >>> layer = GlobalPointer(heads=3, head_size=8)
    >>> x = np.random.rand(2, 5, 16).astype("float32")
    >>> tuple(layer(x, mask=np.array([[1, 1, 1, 0, 0], [1] * 5])).shape)
    (2, 3, 5, 5)

    Reference:
        - Su Jianlin, "GlobalPointer: 用统一的方式处理嵌套和非嵌套NER", 2021
          (https://kexue.fm/archives/8373).
        - bert4keras 0.11.5, `bert4keras.layers.GlobalPointer`.
    """

    def __init__(
        self,
        heads,
        head_size,
        rope=True,
        use_bias=True,
        tril_mask=True,
        kernel_initializer="lecun_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        heads = checks.check_positive_int(heads, "heads")
        head_size = checks.check_positive_int(head_size, "head_size")
        rope = checks.check_bool(rope, "rope")
        if rope and head_size % 2:
            raise ValueError(
                "`head_size` must be even when `rope=True` (rotary embeddings "
                f"rotate channel pairs). Received: head_size={head_size}"
            )
        self.heads = heads
        self.head_size = head_size
        self.rope = rope
        self.use_bias = checks.check_bool(use_bias, "use_bias")
        self.tril_mask = checks.check_bool(tril_mask, "tril_mask")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def _check_input_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"`{type(self).__name__}` expects `inputs` of shape [batch, length, "
                f"hidden] with a known hidden size. Received: "
                f"inputs.shape={input_shape}"
            )
        return input_shape[-1]

    def _check_call(self, inputs, mask, hidden):
        """Static shape checks shared by both layers, before any backend op."""
        shape = tuple(inputs.shape)
        if self._check_input_shape(shape) != hidden:
            raise ValueError(
                f"`{type(self).__name__}` was built for hidden size {hidden}. "
                f"Received: inputs.shape={shape}"
            )
        if mask is None:
            return
        mask_shape = tuple(mask.shape)
        if len(mask_shape) != 2 or any(
            a is not None and b is not None and a != b
            for a, b in zip(mask_shape, shape[:2], strict=True)
        ):
            raise ValueError(
                "`mask` must have shape [batch, length] = inputs.shape[:2] = "
                f"{shape[:2]}. Received: mask.shape={mask_shape}"
            )

    def build(self, input_shape):
        hidden = self._check_input_shape(input_shape)
        units = self.heads * 2 * self.head_size
        self.kernel = self.add_weight(
            name="kernel", shape=(hidden, units), initializer=self.kernel_initializer
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(units,), initializer="zeros"
            )

    def _project(self, inputs, kernel, bias):
        x = ops.matmul(inputs, kernel)
        return x if bias is None else x + bias

    def _rotate(self, q, k, length):
        if not self.rope:
            return q, k
        table = rotary_table(length, self.head_size)
        return apply_rotary(q, table), apply_rotary(k, table)

    def call(self, inputs, mask=None):
        inputs = ops.convert_to_tensor(inputs)
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
        self._check_call(inputs, mask, self.kernel.shape[0])
        shape = ops.shape(inputs)
        x = self._project(inputs, self.kernel, self.bias)
        x = ops.reshape(x, (shape[0], shape[1], self.heads, 2 * self.head_size))
        q, k = x[..., : self.head_size], x[..., self.head_size :]
        q, k = self._rotate(q, k, shape[1])
        logits = ops.einsum("bmhd,bnhd->bhmn", q, k)
        logits = logits / ops.cast(self.head_size**0.5, logits.dtype)
        return mask_span_logits(logits, mask, self.tril_mask)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.heads, input_shape[1], input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "heads": self.heads,
                "head_size": self.head_size,
                "rope": self.rope,
                "use_bias": self.use_bias,
                "tril_mask": self.tril_mask,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
