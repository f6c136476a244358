"""Encoders that learn NER from scratch on a CPU, as functional-API building blocks.

Each encoder function takes a symbolic `[batch, length, dim]` tensor and the
`[batch, length]` padding mask and returns `[batch, length, hidden]`, with
padded positions set to 0. The mask is passed explicitly to every layer that
reads it (LSTM, attention) rather than relying on implicit propagation, so
the same code works with layers that do not propagate Keras masks
(convolutions).
"""

import keras
from keras import ops

from keras_rdkl.layers import SinusoidalPositionEmbedding

__all__ = [
    "ENCODERS",
    "CharCNN",
    "PaddingMask",
    "TokenDropout",
    "ZeroPadding",
    "bilstm_encoder",
    "idcnn_encoder",
    "transformer_encoder",
]


@keras.saving.register_keras_serializable(package="keras_rdkl")
class PaddingMask(keras.layers.Layer):
    """Boolean token mask `ids != 0` (id 0 is padding).

    Example:

    >>> import numpy as np
    >>> keras.ops.convert_to_numpy(PaddingMask()(np.array([[3, 1, 0]]))).tolist()
    [[True, True, False]]
    """

    def call(self, token_ids):
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")

    @classmethod
    def from_config(cls, config):
        # Files saved before `keras_rdkl.compat`'s int32 mask had its own
        # registered name carry this class' name for it too; the compat
        # `build_transformer_model` names that layer "Padding-Mask".
        if config.get("name") == "Padding-Mask":
            from keras_rdkl.compat._bert import PaddingMask as CompatPaddingMask

            return CompatPaddingMask.from_config(config)
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class TokenDropout(keras.layers.Layer):
    """Word dropout: in training, each token id becomes the unknown id with probability `rate`.

    Test sentences hold words never seen in training, which all map to the
    unknown id; a model trained only on known words never learns what to do
    with it. Replacing known ids by the unknown one at random in training
    (Lample et al., 2016) teaches it to tag from the context and the
    spelling (the character CNN still sees every word). Padding (id 0)
    stays padding; in inference the ids pass unchanged.

    Args:
        rate: probability in [0, 1) that a token id is replaced.
        unk_id: the id unknown tokens map to (`Vocabulary.unk_id`, 1).
        seed: optional int seed.

    Example:

    >>> import numpy as np
    >>> layer = TokenDropout(0.5, seed=0)
    >>> ids = np.array([[5, 6, 7, 0]])
    >>> keras.ops.convert_to_numpy(layer(ids)).tolist()  # inference: unchanged
    [[5, 6, 7, 0]]
    >>> out = keras.ops.convert_to_numpy(layer(ids, training=True))
    >>> bool(out[0, 3] == 0 and set(out[0, :3].tolist()) <= {1, 5, 6, 7})
    True
    """

    def __init__(self, rate, unk_id=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        if not 0 <= float(rate) < 1:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        if isinstance(unk_id, bool) or not isinstance(unk_id, int) or unk_id < 1:
            raise ValueError(
                f"`unk_id` must be an int >= 1 (0 is padding). Received: unk_id={unk_id!r}"
            )
        self.rate = float(rate)
        self.unk_id = unk_id
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, training=None):
        if not training or self.rate == 0:
            return token_ids
        draw = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
        drop = ops.logical_and(draw < self.rate, ops.not_equal(token_ids, 0))
        return ops.where(drop, ops.cast(self.unk_id, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, unk_id=self.unk_id, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="keras_rdkl")
class ZeroPadding(keras.layers.Layer):
    """Sets the vectors of padded positions to 0: `x * mask[..., None]`.

    Call arguments:
        inputs: `[batch, length, dim]`.
        mask: `[batch, length]` boolean or 0/1; without it the inputs pass
            unchanged.

    The output carries no Keras mask: the builder passes the padding mask
    explicitly to every layer that reads it.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs
        return inputs * ops.cast(mask, inputs.dtype)[..., None]

    def compute_mask(self, inputs, mask=None):
        # The mask is passed explicitly to the layers that read it; not
        # attaching it keeps layers without masking support (Conv1D) quiet.
        return None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="keras_rdkl")
class CharCNN(keras.layers.Layer):
    """Character CNN word features: embed each word's characters, convolve, max-pool.

    So that words never seen in training still get a vector built from their
    spelling (capitalisation, suffixes, digits).

    Args:
        num_chars: number of character ids (0 is padding).
        char_dim: character embedding width.
        filters: output width (convolution filters).
        kernel_size: convolution width in characters.

    Call arguments:
        char_ids: int `[batch, length, max_chars]`, 0 = padding.

    Returns:
        `[batch, length, filters]`; words with no characters get 0.

    Example:

    >>> import numpy as np
    >>> out = CharCNN(10, 8, 16)(np.ones((2, 5, 7), "int32"))
    >>> keras.ops.convert_to_numpy(out).shape
    (2, 5, 16)
    """

    def __init__(self, num_chars, char_dim=32, filters=64, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        for name, value in (
            ("num_chars", num_chars),
            ("char_dim", char_dim),
            ("filters", filters),
            ("kernel_size", kernel_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
                )
        self.num_chars = num_chars
        self.char_dim = char_dim
        self.filters = filters
        self.kernel_size = kernel_size
        self.embedding = keras.layers.Embedding(
            num_chars, char_dim, name="char_embedding"
        )
        self.conv = keras.layers.Conv1D(
            filters, kernel_size, padding="same", activation="relu", name="char_conv"
        )

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.conv.build((None, input_shape[-1], self.char_dim))
        self.built = True

    def call(self, char_ids):
        shape = ops.shape(char_ids)
        flat = ops.reshape(char_ids, (-1, shape[-1]))
        h = self.conv(self.embedding(flat))
        valid = ops.not_equal(flat, 0)[..., None]
        h = ops.where(valid, h, ops.zeros_like(h))  # relu >= 0: max ignores pads
        h = ops.max(h, axis=1)
        return ops.reshape(h, (shape[0], shape[1], self.filters))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "num_chars": self.num_chars,
            "char_dim": self.char_dim,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
        }


def bilstm_encoder(x, mask, hidden=256, layers=1, dropout=0.0, name="bilstm"):
    """Stacked bidirectional LSTM; `hidden` is the width of both directions together.

    Args:
        x: `[batch, length, dim]` symbolic tensor.
        mask: `[batch, length]` boolean padding mask.
        hidden: output width (even; `hidden // 2` units per direction).
        layers: number of BiLSTM layers.
        dropout: dropout between layers.
        name: prefix of the layer names.

    Returns:
        `[batch, length, hidden]`, 0 at padding.
    """
    for i in range(layers):
        if i and dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}{i}_dropout")(x)
        x = keras.layers.Bidirectional(
            keras.layers.LSTM(hidden // 2, return_sequences=True), name=f"{name}{i}"
        )(x, mask=mask)
    return ZeroPadding(name=f"{name}_zero_padding")(x, mask=mask)


def idcnn_encoder(
    x,
    mask,
    hidden=256,
    layers=1,
    dropout=0.0,
    dilations=(1, 2, 4),
    kernel_size=3,
    name="idcnn",
):
    """Iterated dilated CNN (Strubell et al. 2017 style), with residuals and layer norm.

    A projection to `hidden`, then `layers` blocks; each block is one
    `Conv1D(hidden, kernel_size, dilation_rate=d)` per dilation `d` with a
    residual connection and layer normalization; padded positions are set
    to 0 before every convolution so they never leak into tokens.

    Args:
        x, mask: as in `bilstm_encoder`.
        hidden: width.
        layers: number of blocks (the receptive field grows by
            `2 * sum(dilations)` tokens per block with `kernel_size=3`).
        dropout: dropout after each block.
        dilations: dilation rates within a block.
        kernel_size: convolution width.
        name: prefix of the layer names.

    Returns:
        `[batch, length, hidden]`, 0 at padding.
    """
    x = keras.layers.Dense(hidden, name=f"{name}_projection")(x)
    for b in range(layers):
        for j, d in enumerate(dilations):
            h = ZeroPadding(name=f"{name}{b}_{j}_zero_padding")(x, mask=mask)
            h = keras.layers.Conv1D(
                hidden,
                kernel_size,
                padding="same",
                dilation_rate=d,
                activation="relu",
                name=f"{name}{b}_conv{j}",
            )(h)
            x = keras.layers.LayerNormalization(name=f"{name}{b}_norm{j}")(
                keras.layers.Add(name=f"{name}{b}_residual{j}")([x, h])
            )
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}{b}_dropout")(x)
    return ZeroPadding(name=f"{name}_zero_padding")(x, mask=mask)


def transformer_encoder(
    x, mask, hidden=128, layers=2, dropout=0.0, heads=4, ffn=None, name="transformer"
):
    """A small post-norm Transformer encoder with fixed sin-cos positions.

    Args:
        x, mask: as in `bilstm_encoder`.
        hidden: width (divisible by `heads`).
        layers: number of blocks.
        dropout: dropout after embeddings, attention and feed-forward.
        heads: attention heads.
        ffn: feed-forward inner width (default `4 * hidden`).
        name: prefix of the layer names.

    Returns:
        `[batch, length, hidden]`, 0 at padding.
    """
    if hidden % heads:
        raise ValueError(
            f"`hidden` must be divisible by `heads`. Received: hidden={hidden}, heads={heads}"
        )
    ffn = ffn or 4 * hidden
    x = keras.layers.Dense(hidden, name=f"{name}_projection")(x)
    x = SinusoidalPositionEmbedding(hidden, merge_mode="add", name=f"{name}_positions")(
        x
    )
    x = keras.layers.LayerNormalization(name=f"{name}_embedding_norm")(x)
    for i in range(layers):
        attn = keras.layers.MultiHeadAttention(
            heads, hidden // heads, dropout=dropout, name=f"{name}{i}_attention"
        )(x, x, query_mask=mask, value_mask=mask)
        if dropout:
            attn = keras.layers.Dropout(dropout, name=f"{name}{i}_attention_dropout")(
                attn
            )
        x = keras.layers.LayerNormalization(name=f"{name}{i}_attention_norm")(
            keras.layers.Add(name=f"{name}{i}_attention_residual")([x, attn])
        )
        h = keras.layers.Dense(ffn, activation="gelu", name=f"{name}{i}_ffn_inner")(x)
        h = keras.layers.Dense(hidden, name=f"{name}{i}_ffn_outer")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"{name}{i}_ffn_dropout")(h)
        x = keras.layers.LayerNormalization(name=f"{name}{i}_ffn_norm")(
            keras.layers.Add(name=f"{name}{i}_ffn_residual")([x, h])
        )
    return ZeroPadding(name=f"{name}_zero_padding")(x, mask=mask)


ENCODERS = {
    "bilstm": bilstm_encoder,
    "idcnn": idcnn_encoder,
    "transformer": transformer_encoder,
}
