"""EfficientGlobalPointer: a GlobalPointer whose span projection is shared by all types."""

import keras
from keras import ops

from keras_rdkl.layers.global_pointer import GlobalPointer
from keras_rdkl.layers.global_pointer import mask_span_logits


@keras.saving.register_keras_serializable(package="keras_rdkl")
class EfficientGlobalPointer(GlobalPointer):
    """Parameter-efficient GlobalPointer (bert4keras-compatible).

    One projection `p = x W_p + b_p` of size `2 * head_size` is shared by
    all types: its even channels are the query `q`, its odd channels the
    key `k` (interleaved). With `rope=True` both get interleaved rotary
    position embeddings. Each type adds its own start and end bias, read
    from the pre-rotary projection by a second dense map
    `c = p W_q + b_q` of size `2 * heads` and halved:

        s[b, h, i, j] = <q[b, i], k[b, j]> / sqrt(head_size)
                        + c[b, i, 2h + 1] / 2 + c[b, j, 2h] / 2

    (odd channels of `c` are start biases, even channels end biases, as in
    bert4keras). Parameters per extra type: `4 * head_size + 2`, instead of
    `2 * hidden * head_size` for `GlobalPointer`.

    Weights, in order: `p_kernel [hidden, 2 * head_size]`, `p_bias`,
    `q_kernel [2 * head_size, 2 * heads]`, `q_bias`: the order and shapes of
    bert4keras 0.11.5's `EfficientGlobalPointer`, whose `get_weights()` can
    be passed to `set_weights`.

    Masked spans hold `keras_rdkl.mask_value(compute dtype)` (finite; see
    `GlobalPointer`), written with `ops.where`.

    Args:
        heads: int, the number of entity types.
        head_size: int, the size of `q` and `k` (even with `rope`).
        rope: bool, apply rotary position embeddings to `q` and `k`.
        use_bias: bool, whether both dense maps have a bias.
        tril_mask: bool, mask spans whose start comes after their end.
        kernel_initializer: initializer for both kernels.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[batch, length, hidden]`.
        mask: optional `[batch, length]` padding mask (True / 1 = token),
            from Keras mask propagation or passed as `mask=`. A span is
            masked when its start or its end is padding.

    Returns:
        Logits `[batch, heads, length(start), length(end)]`; no Keras mask.

    Example:

    >>> import numpy as np
    >>> layer = EfficientGlobalPointer(heads=3, head_size=8)
    >>> tuple(layer(np.random.rand(2, 5, 16).astype("float32")).shape)
    (2, 3, 5, 5)

    Reference:
        - Su Jianlin, "Efficient GlobalPointer：少点参数，多点效果", 2022
          (https://kexue.fm/archives/8877).
        - bert4keras 0.11.5, `bert4keras.layers.EfficientGlobalPointer`.
    """

    def build(self, input_shape):
        hidden = self._check_input_shape(input_shape)
        size = 2 * self.head_size
        self.p_kernel = self.add_weight(
            name="p_kernel", shape=(hidden, size), initializer=self.kernel_initializer
        )
        self.p_bias = None
        if self.use_bias:
            self.p_bias = self.add_weight(
                name="p_bias", shape=(size,), initializer="zeros"
            )
        self.q_kernel = self.add_weight(
            name="q_kernel",
            shape=(size, 2 * self.heads),
            initializer=self.kernel_initializer,
        )
        self.q_bias = None
        if self.use_bias:
            self.q_bias = self.add_weight(
                name="q_bias", shape=(2 * self.heads,), initializer="zeros"
            )

    def call(self, inputs, mask=None):
        inputs = ops.convert_to_tensor(inputs)
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
        self._check_call(inputs, mask, self.p_kernel.shape[0])
        length = ops.shape(inputs)[1]
        p = self._project(inputs, self.p_kernel, self.p_bias)
        q, k = self._rotate(p[..., 0::2], p[..., 1::2], length)
        logits = ops.einsum("bmd,bnd->bmn", q, k)
        logits = logits / ops.cast(self.head_size**0.5, logits.dtype)
        bias = ops.transpose(self._project(p, self.q_kernel, self.q_bias), (0, 2, 1))
        bias = bias / ops.cast(2.0, bias.dtype)
        end_bias = bias[:, 0::2, None, :]
        start_bias = bias[:, 1::2, :, None]
        logits = logits[:, None] + end_bias + start_bias
        return mask_span_logits(logits, mask, self.tril_mask)
