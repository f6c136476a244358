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
from keras_rdkl.viterbi import viterbi_decode_numpy

__all__ = [
    "ConditionalRandomField",
    "EfficientGlobalPointer",
    "GlobalPointer",
    "SinusoidalPositionEmbedding",
    "Tokenizer",
    "ViterbiDecoder",
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


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class ConditionalRandomField(_layers.ConditionalRandomField):
    """bert4keras `ConditionalRandomField(lr_multiplier=1)` with its loss and metric methods.

    `keras_rdkl.layers.ConditionalRandomField` (same weight `trans`, same
    `lr_multiplier`, `trans` property = `lr_multiplier * W`) plus the
    methods bert4keras scripts compile with:

    ```python
    model.compile(optimizer, loss=crf.sparse_loss, metrics=[crf.sparse_accuracy])
    ```

    Padded steps hold a finite `mask_value` instead of bert4keras' `-inf`;
    the losses and accuracies find them there, as bert4keras does. Unlike
    bert4keras, a sequence with no unmasked step has loss 0 (bert4keras:
    `log(num_tags)`), and masked steps inside a sequence are skipped (the
    path joins the unmasked steps on either side) where bert4keras' loss is
    only right for right-padded masks.

    Example:

    >>> import numpy as np
    >>> crf = ConditionalRandomField(lr_multiplier=10)
    >>> e = crf(np.zeros((1, 3, 2), "float32"), mask=np.array([[1, 1, 0]]))
    >>> crf.set_weights([np.zeros((2, 2), "float32")])
    >>> round(float(crf.sparse_loss(np.array([[0, 1, 0]]), e)[0]), 4)  # log 4
    1.3863
    """

    def __init__(self, lr_multiplier=1, **kwargs):
        super().__init__(lr_multiplier=lr_multiplier, **kwargs)

    def _tags(self, y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true)
        shape = ops.shape(ops.convert_to_tensor(y_pred))[:-1]
        return ops.cast(ops.reshape(y_true, shape), "int32")

    def sparse_loss(self, y_true, y_pred):
        """Per-sequence NLL `[batch]` for integer tags `[batch, length]` (or `[..., 1]`)."""
        return self.negative_log_likelihood(self._tags(y_true, y_pred), y_pred)

    def dense_loss(self, y_true, y_pred):
        """Per-sequence NLL `[batch]` for one-hot tags `[batch, length, num_tags]`."""
        return self.negative_log_likelihood(y_true, y_pred)

    def sparse_accuracy(self, y_true, y_pred):
        """Per-batch token accuracy of the argmax of the emissions, padding excluded."""
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        valid = ops.cast(
            ops.logical_not(ops.all(ops.less_equal(y_pred, -1e6), axis=-1)), "float32"
        )
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        hits = ops.cast(ops.equal(self._tags(y_true, y_pred), pred), "float32")
        return ops.sum(hits * valid) / ops.maximum(ops.sum(valid), 1.0)

    def dense_accuracy(self, y_true, y_pred):
        """`sparse_accuracy` for one-hot tags."""
        return self.sparse_accuracy(ops.argmax(y_true, axis=-1), y_pred)


class ViterbiDecoder:
    """bert4keras `snippets.ViterbiDecoder(trans, starts=None, ends=None)`.

    `decode(nodes)` takes the emissions `[length, num_tags]` of one
    unpadded sequence (NumPy) and returns the best path under `self.trans`
    (read at every call, so scripts that set `decoder.trans =
    keras.ops.convert_to_numpy(crf.trans)` after training work), with tags
    outside `starts` forbidden first and outside `ends` last. Same paths as
    bert4keras 0.11.5; unlike it, `nodes` is not changed in place. For
    batches inside a graph use `keras_rdkl.viterbi.viterbi_decode`.

    Example:

    >>> import numpy as np
    >>> decoder = ViterbiDecoder(np.zeros((2, 2)), starts=[0])
    >>> decoder.decode(np.array([[0.0, 1.0], [0.0, 1.0]])).tolist()
    [0, 1]
    """

    def __init__(self, trans, starts=None, ends=None):
        self.trans = trans
        self.num_labels = len(trans)
        self.starts = None if starts is None else list(starts)
        self.ends = None if ends is None else list(ends)
        self.non_starts = [] if starts is None else [
            i for i in range(self.num_labels) if i not in self.starts
        ]
        self.non_ends = [] if ends is None else [
            i for i in range(self.num_labels) if i not in self.ends
        ]

    def decode(self, nodes):
        """Best path `[length]` of one sequence's emissions `[length, num_tags]`."""
        return viterbi_decode_numpy(
            nodes, keras.ops.convert_to_numpy(self.trans), self.starts, self.ends
        )
