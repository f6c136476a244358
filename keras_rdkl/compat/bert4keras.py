"""bert4keras names and argument spellings mapped onto keras_rdkl.

Porting a bert4keras (0.11.x) GlobalPointer script usually needs only its
imports changed to this module. Behaviour differs from bert4keras where
bert4keras is fragile: masked logits are a finite large negative instead
of `-inf`, the sparse loss counts a repeated index once (bert4keras' goes
negative or NaN), and the F1 score is 0 instead of NaN on batches with
neither gold nor predicted spans. See docs/porting.md.
"""

import keras
from keras import ops

from keras_rdkl import layers as _layers
from keras_rdkl import losses as _losses
from keras_rdkl.compat._bert import build_transformer_model
from keras_rdkl.compat._bert import convert_checkpoint
from keras_rdkl.compat._bert import load_bert_dir
from keras_rdkl.compat._tokenizer import Tokenizer

__all__ = [
    "EfficientGlobalPointer",
    "GlobalPointer",
    "SinusoidalPositionEmbedding",
    "Tokenizer",
    "build_transformer_model",
    "convert_checkpoint",
    "load_bert_dir",
    "global_pointer_crossentropy",
    "global_pointer_f1_score",
    "multilabel_categorical_crossentropy",
    "sparse_global_pointer_crossentropy",
    "sparse_multilabel_categorical_crossentropy",
]


def multilabel_categorical_crossentropy(y_true, y_pred):
    """bert4keras `multilabel_categorical_crossentropy`: ZLPR over the last axis.

    Same as `keras_rdkl.losses.multilabel_categorical_crossentropy(y_true,
    y_pred, axis=-1)`; returns the per-row loss `[...]`.

    Example:

    >>> tuple(multilabel_categorical_crossentropy([[0.0, 1.0]], [[-2.0, 3.0]]).shape)
    (1,)
    """
    return _losses.multilabel_categorical_crossentropy(y_true, y_pred, axis=-1)


def sparse_multilabel_categorical_crossentropy(y_true, y_pred, mask_zero=False):
    """bert4keras `sparse_multilabel_categorical_crossentropy`.

    `y_pred` `[..., N]` scores, `y_true` `[..., K]` positive class indices.
    Same as `keras_rdkl.losses.sparse_multilabel_categorical_crossentropy`;
    unlike bert4keras, a repeated index counts once, so the loss never goes
    negative or NaN.

    Example:

    >>> y_pred = [[-2.0, 3.0]]
    >>> tuple(sparse_multilabel_categorical_crossentropy([[1, 0]], y_pred, True).shape)
    (1,)
    """
    return _losses.sparse_multilabel_categorical_crossentropy(
        y_true, y_pred, mask_zero=mask_zero, axis=-1
    )


def global_pointer_crossentropy(y_true, y_pred):
    """The bert4keras NER scripts' GlobalPointer loss: ZLPR, mean over batch x heads.

    Args:
        y_true: dense 0/1 targets `[B, heads, L, L]`.
        y_pred: GlobalPointer logits `[B, heads, L, L]`.

    Returns:
        Scalar: the mean over `B * heads` of the ZLPR loss of each head's
        flattened `L * L` grid.

    Example:

    >>> import numpy as np
    >>> y = np.zeros((2, 1, 3, 3), "float32"); y[0, 0, 0, 1] = 1
    >>> tuple(global_pointer_crossentropy(y, np.zeros_like(y)).shape)
    ()
    """
    loss = _losses.multilabel_categorical_crossentropy(y_true, y_pred, axis=(-2, -1))
    return ops.mean(loss)


def sparse_global_pointer_crossentropy(y_true, y_pred):
    """The bert4keras GPLinker (relation extraction) sparse GlobalPointer loss.

    Each gold span is a `(start, end)` pair; its flat index is
    `start * L + end`. Pairs are padded with `(0, 0)`, which `mask_zero=True`
    drops (so a span (0, 0) is never a label, as in bert4keras, where token
    0 is `[CLS]`). The loss is summed over heads and averaged over the batch.

    Args:
        y_true: int `[B, heads, K, 2]` `(start, end)` pairs.
        y_pred: logits `[B, heads, L, L]`.

    Returns:
        Scalar loss.

    Example:

    >>> import numpy as np
    >>> y_true = np.array([[[[0, 1], [0, 0]]]])  # one span (0, 1), one pad
    >>> y_pred = np.zeros((1, 1, 3, 3))
    >>> tuple(sparse_global_pointer_crossentropy(y_true, y_pred).shape)
    ()
    """
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) < 2 or y_true.shape[-1] != 2:
        raise ValueError(
            "`y_true` must hold (start, end) pairs of shape [B, heads, K, 2]. "
            f"Received: y_true.shape={tuple(y_true.shape)}"
        )
    y_pred = ops.convert_to_tensor(y_pred)
    length = ops.shape(y_pred)[-1]
    pairs = ops.cast(y_true, "int32")
    flat = pairs[..., 0] * length + pairs[..., 1]
    loss = _losses.sparse_multilabel_categorical_crossentropy(
        flat, y_pred, mask_zero=True, axis=(-2, -1)
    )
    return ops.mean(ops.sum(loss, axis=1))


def global_pointer_f1_score(y_true, y_pred):
    """bert4keras `global_pointer_f1_score`: `2 * TP / (predicted + gold)`.

    Counted over the whole batch with prediction `y_pred > 0`; masked logits
    are never positive. Returns 0, not NaN, when the batch has neither gold
    nor predicted spans. This is a per-batch number: for corpus F1 use
    `keras_rdkl.metrics.SpanF1`.

    Example:

    >>> float(global_pointer_f1_score([[0.0, 1.0]], [[-1.0, 2.0]]))
    1.0
    """
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    pred = ops.cast(ops.greater(y_pred, 0.0), "float32")
    tp = ops.sum(y_true * pred)
    denom = ops.sum(y_true + pred)
    return ops.where(
        ops.greater(denom, 0.0),
        2.0 * tp / ops.where(ops.greater(denom, 0.0), denom, 1.0),
        0.0,
    )


def _b4k_layer_doc(native):
    return (
        f"bert4keras-spelled `{native.__name__}`: `RoPE=` for keras_rdkl's `rope=`.\n\n"
        f"    Same weights and logits as `keras_rdkl.layers.{native.__name__}`;\n"
        "    masked spans hold a finite `keras_rdkl.mask_value(dtype)` instead of\n"
        "    bert4keras' `-inf`.\n\n"
        "    Args:\n"
        "        heads: int, number of entity types.\n"
        "        head_size: int, size of q and k per type.\n"
        "        RoPE: bool, rotary position embeddings (bert4keras spelling).\n"
        "        use_bias: bool.\n"
        "        tril_mask: bool, mask spans with start > end.\n"
        "        kernel_initializer: projection kernel initializer.\n"
        "        **kwargs: base layer keyword arguments.\n\n"
        "    Example:\n\n"
        f"    >>> layer = {native.__name__}(heads=2, head_size=8, RoPE=True)\n"
        "    >>> layer.rope\n"
        "    True\n"
    )


class _RoPESpelling:
    def __init__(
        self,
        heads,
        head_size,
        RoPE=True,
        use_bias=True,
        tril_mask=True,
        kernel_initializer="lecun_normal",
        **kwargs,
    ):
        kwargs.pop("rope", None)
        super().__init__(
            heads,
            head_size,
            rope=RoPE,
            use_bias=use_bias,
            tril_mask=tril_mask,
            kernel_initializer=kernel_initializer,
            **kwargs,
        )
        self.RoPE = self.rope

    def get_config(self):
        config = super().get_config()
        config["RoPE"] = config.pop("rope")
        return config


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class GlobalPointer(_RoPESpelling, _layers.GlobalPointer):
    __doc__ = _b4k_layer_doc(_layers.GlobalPointer)


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class EfficientGlobalPointer(_RoPESpelling, _layers.EfficientGlobalPointer):
    __doc__ = _b4k_layer_doc(_layers.EfficientGlobalPointer)


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class SinusoidalPositionEmbedding(_layers.SinusoidalPositionEmbedding):
    """bert4keras `SinusoidalPositionEmbedding(output_dim, merge_mode, custom_position_ids)`.

    The argument spellings already match bert4keras; this subclass only
    gives it a home in the compat namespace. See
    `keras_rdkl.layers.SinusoidalPositionEmbedding`.

    Example:

    >>> SinusoidalPositionEmbedding(output_dim=8, merge_mode="zero").output_dim
    8
    """
