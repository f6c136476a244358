"""Span taggers on a pretrained BERT (Google-format checkpoints, `keras_rdkl.compat.bert4keras`).

`build_bert_tagger` puts any head of `build_span_tagger` (GlobalPointer,
EfficientGlobalPointer, CRF) on a BERT from `load_bert_dir` /
`build_transformer_model`, through the graph of every pretrained tagger
(`keras_rdkl.ner.pretrained.tagger_outputs`, as `build_pretrained_tagger`).
It differs in its input only, a thin adapter: token ids `[batch, length]` (0 =
padding, one token per position, no `word_starts`) as the from-scratch
taggers take them, the padding mask derived from them. It adds `[CLS]` and
`[SEP]` itself and drops them from its output, so its positions are the input's positions and
`SpanBatches`, `EntityF1Callback` and `predict_spans` work unchanged.
`bert_vocabulary` maps each token (a character, for Chinese) to its id in
the BERT vocabulary. The BERT itself needs the `hub` extra (keras-hub).
"""

import keras

from keras_rdkl.ner.builder import check_head_and_dropout
from keras_rdkl.ner.data import PAD
from keras_rdkl.ner.data import Vocabulary
from keras_rdkl.ner.encoders import PaddingMask
from keras_rdkl.ner.pretrained import AddSpecialTokens
from keras_rdkl.ner.pretrained import ZeroSegments
from keras_rdkl.ner.pretrained import tagger_outputs

__all__ = ["AddSpecialTokens", "bert_vocabulary", "build_bert_tagger"]


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

    def encode(full_ids, full_mask):
        # bert4keras' BERT takes [token_ids, segment_ids] and reads its
        # padding from the ids (0), which `AddSpecialTokens` keeps.
        return bert([full_ids, ZeroSegments(name="segment_ids")(full_ids)])

    outputs = tagger_outputs(
        encode,
        token_ids,
        mask,
        num_types,
        head,
        cls_id=cls_id,
        sep_id=sep_id,
        pad_id=0,
        head_size=head_size,
        dropout=dropout,
        head_kwargs=head_kwargs,
        dropout_name="bert_dropout",
    )
    return keras.Model(token_ids, outputs, name=name or f"bert_{head}")
