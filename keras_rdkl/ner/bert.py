"""Span taggers on a pretrained BERT (Google-format checkpoints, `keras_rdkl.compat.bert4keras`).

`build_bert_tagger` puts any head of `build_span_tagger` (GlobalPointer,
EfficientGlobalPointer, CRF) on a BERT from `load_bert_dir` /
`build_transformer_model`. The tagger takes token ids `[batch, length]` (0 =
padding) as the from-scratch taggers do, adds `[CLS]` and `[SEP]` itself and
drops them from its output, so its positions are the input's positions and
`SpanBatches`, `EntityF1Callback` and `predict_spans` work unchanged.
`bert_vocabulary` maps each token (a character, for Chinese) to its id in
the BERT vocabulary. The BERT itself needs the `hub` extra (keras-hub).
"""

import keras
from keras import ops

from keras_rdkl.ner.builder import HEADS
from keras_rdkl.ner.builder import check_head_and_dropout
from keras_rdkl.ner.data import PAD
from keras_rdkl.ner.data import Vocabulary
from keras_rdkl.ner.encoders import PaddingMask

__all__ = ["AddSpecialTokens", "bert_vocabulary", "build_bert_tagger"]


@keras.saving.register_keras_serializable(package="keras_rdkl")
class AddSpecialTokens(keras.layers.Layer):
    """`[CLS] ids [SEP]` for right-padded token ids: `[batch, length + 2]`.

    Args:
        cls_id: id of `[CLS]`, written first.
        sep_id: id of `[SEP]`, written after each row's last token (0 = padding).

    Example:

    >>> import numpy as np
    >>> out = AddSpecialTokens(101, 102)(np.array([[7, 8, 0], [9, 0, 0]]))
    >>> keras.ops.convert_to_numpy(out).tolist()
    [[101, 7, 8, 102, 0], [101, 9, 102, 0, 0]]
    """

    def __init__(self, cls_id, sep_id, **kwargs):
        super().__init__(**kwargs)
        self.cls_id = int(cls_id)
        self.sep_id = int(sep_id)

    def call(self, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        batch = ops.shape(token_ids)[0]
        column = ops.ones((batch, 1), "int32")
        padded = ops.concatenate([column * self.cls_id, token_ids, column * 0], axis=1)
        lengths = ops.sum(ops.cast(ops.not_equal(token_ids, 0), "int32"), axis=1)
        positions = ops.arange(ops.shape(padded)[1], dtype="int32")[None, :]
        return ops.where(positions == lengths[:, None] + 1, self.sep_id, padded)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 2
        return (input_shape[0], length)

    def get_config(self):
        return {**super().get_config(), "cls_id": self.cls_id, "sep_id": self.sep_id}


@keras.saving.register_keras_serializable(package="keras_rdkl")
class StripSpecialTokens(keras.layers.Layer):
    """Drops the first and last position of `[batch, length + 2, ...]` features."""

    def call(self, x):
        return x[:, 1:-1]

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] - 2
        return (input_shape[0], length, *input_shape[2:])


@keras.saving.register_keras_serializable(package="keras_rdkl")
class ZeroSegments(keras.layers.Layer):
    """Segment ids of single sentences: zeros shaped as the token ids."""

    def call(self, token_ids):
        return ops.zeros_like(token_ids)

    def compute_output_shape(self, input_shape):
        return input_shape


def bert_vocabulary(tokenizer, labels=None):
    """A `Vocabulary` with the ids of a BERT vocabulary, for character-level corpora.

    Each token (a Chinese character) maps to the BERT token spelled the same
    (lower-cased when the tokenizer lower-cases), else to `[UNK]`, so token
    positions stay the corpus' positions.

    Args:
        tokenizer: a `keras_rdkl.compat.bert4keras.Tokenizer`.
        labels: entity-type names, saved with the vocabulary.
    """
    tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    if tokens[:1] != [PAD]:
        raise ValueError(
            f"The BERT vocabulary must have {PAD!r} at id 0 (padding). "
            f"Received: first tokens {tokens[:3]!r}"
        )
    return Vocabulary(
        tokens,
        lowercase=tokenizer._do_lower_case,
        labels=labels,
        level="char",
        unk_token=tokenizer._token_unk,
    )


def build_bert_tagger(
    bert,
    num_types,
    cls_id,
    sep_id,
    head="global_pointer",
    head_size=64,
    dropout=0.1,
    head_kwargs=None,
    name=None,
):
    """A span tagger on a BERT: token ids -> BERT -> span head.

    Args:
        bert: a model taking `[token_ids, segment_ids]` and returning hidden
            states `[batch, length, hidden]` (`load_bert_dir`,
            `build_transformer_model`).
        num_types: number of entity types.
        cls_id, sep_id: ids of `[CLS]` and `[SEP]` (`tokenizer._token_start_id`,
            `tokenizer._token_end_id`).
        head: a head of `build_span_tagger` (`"global_pointer"`,
            `"efficient_global_pointer"`, `"crf"`, or a registered one).
        head_size: span head size.
        dropout: dropout on the hidden states before the head.
        head_kwargs: extra arguments of the head function (`head="crf"`:
            `lr_multiplier`; bert4keras scripts use 1000 with BERT).
        name: model name.

    Returns:
        A functional `keras.Model` from token ids `[batch, length]` to the
        head's output over the same positions; train it with
        `ner.tagger_loss(model)`.
    """
    check_head_and_dropout(head, dropout)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    mask = PaddingMask(name="padding_mask")(token_ids)
    full = AddSpecialTokens(cls_id, sep_id, name="add_special_tokens")(token_ids)
    segments = ZeroSegments(name="segment_ids")(full)
    hidden = StripSpecialTokens(name="strip_special_tokens")(bert([full, segments]))
    if dropout:
        hidden = keras.layers.Dropout(dropout, name="bert_dropout")(hidden)
    outputs = HEADS[head](
        hidden, mask, num_types, head_size, head, **(head_kwargs or {})
    )
    return keras.Model(token_ids, outputs, name=name or f"bert_{head}")
