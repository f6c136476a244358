"""Span taggers on a pretrained text backbone (keras-hub presets, Hugging Face checkpoints).

`build_pretrained_tagger` puts any head of `build_span_tagger` (GlobalPointer,
EfficientGlobalPointer, CRF) on a `keras_hub.models.Backbone`: one built in
memory, a keras-hub preset directory, a Hugging Face-format directory
(`config.json` with `model_type`: keras-hub converts BERT, DistilBERT,
RoBERTa, XLM-RoBERTa, ALBERT) or a preset name. The tagger takes sub-word
pieces without special tokens, as `keras_rdkl.ner.subwords` batches them:

```
{"token_ids":    [batch, pieces] int, right-padded with the tokenizer's pad id,
 "padding_mask": [batch, pieces], 1 = a real piece,
 "word_starts":  [batch, pieces], 1 = the first piece of a word}
```

Inside the model `AddSpecialTokens` writes the start and end tokens
(`[CLS]` / `[SEP]`, `<s>` / `</s>`) around each row and extends the padding
mask, zero segment ids go in when the backbone takes them, and
`StripSpecialTokens` drops the two special positions from the hidden states,
so the head's positions are the input's pieces. The GlobalPointer heads score
spans over pieces with padding masked; the CRF tags each word's first piece
(its mask is `padding_mask AND word_starts`: the loss and the decoder skip the
other pieces and carry the chain over them).

`build_bert_tagger` (Google-format checkpoints) builds through the same
graph (`tagger_outputs`).
"""

import os

import keras
from keras import ops

from keras_rdkl.ner.builder import HEADS
from keras_rdkl.ner.builder import check_head_and_dropout

__all__ = [
    "FIRST_PIECE_HEADS",
    "AddSpecialTokens",
    "PieceMask",
    "StripSpecialTokens",
    "ZeroSegments",
    "build_pretrained_tagger",
    "load_backbone",
    "special_token_ids",
    "tagger_outputs",
]

# Heads that tag tokens rather than score spans: on sub-words they see each
# word's first piece only (their mask is padding AND word starts).
FIRST_PIECE_HEADS = {"crf"}


@keras.saving.register_keras_serializable(package="keras_rdkl")
class AddSpecialTokens(keras.layers.Layer):
    """`start ids end` for right-padded token ids: `[batch, length + 2]`.

    Args:
        cls_id: id of the start token (`[CLS]`, `<s>`), written first.
        sep_id: id of the end token (`[SEP]`, `</s>`), written after each
            row's last real token.
        pad_id: the padding id, written after the end token (and over any
            padded position of the input).
        **kwargs: base layer keyword arguments.

    Call arguments:
        inputs: int token ids `[batch, length]` whose padding is `pad_id`,
            or a dict `{"token_ids", "padding_mask"}` (`padding_mask` 1 /
            True = real token; real tokens come first in each row).

    Returns:
        For token ids: the ids with the special tokens, `[batch, length +
        2]`. For a dict: a dict of the ids and the padding mask (int32, 1 on
        the special tokens too), both `[batch, length + 2]`.

    Example:

    >>> import numpy as np
    >>> out = AddSpecialTokens(101, 102)(np.array([[7, 8, 0], [9, 0, 0]]))
    >>> keras.ops.convert_to_numpy(out).tolist()
    [[101, 7, 8, 102, 0], [101, 9, 102, 0, 0]]
    >>> out = AddSpecialTokens(0, 2, pad_id=1)(
    ...     {"token_ids": np.array([[7, 1]]), "padding_mask": np.array([[1, 0]])})
    >>> [keras.ops.convert_to_numpy(out[k]).tolist() for k in sorted(out)]
    [[[1, 1, 1, 0]], [[0, 7, 2, 1]]]
    """

    def __init__(self, cls_id, sep_id, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        self.cls_id = int(cls_id)
        self.sep_id = int(sep_id)
        self.pad_id = int(pad_id)

    def call(self, inputs):
        if isinstance(inputs, dict):
            token_ids = ops.cast(inputs["token_ids"], "int32")
            mask = ops.cast(ops.cast(inputs["padding_mask"], "bool"), "int32")
        else:
            token_ids = ops.cast(inputs, "int32")
            mask = ops.cast(ops.not_equal(token_ids, self.pad_id), "int32")
        column = ops.ones((ops.shape(token_ids)[0], 1), "int32")
        token_ids = ops.where(mask > 0, token_ids, self.pad_id)
        ids = ops.concatenate(
            [column * self.cls_id, token_ids, column * self.pad_id], axis=1
        )
        positions = ops.arange(ops.shape(ids)[1], dtype="int32")[None, :]
        end = positions == ops.sum(mask, axis=1)[:, None] + 1
        ids = ops.where(end, self.sep_id, ids)
        if not isinstance(inputs, dict):
            return ids
        mask = ops.concatenate([column, mask, column * 0], axis=1)
        return {"token_ids": ids, "padding_mask": ops.where(end, 1, mask)}

    def compute_output_spec(self, inputs):
        ids = inputs["token_ids"] if isinstance(inputs, dict) else inputs
        length = None if ids.shape[1] is None else ids.shape[1] + 2
        spec = keras.KerasTensor((ids.shape[0], length), dtype="int32")
        if not isinstance(inputs, dict):
            return spec
        mask = keras.KerasTensor(spec.shape, dtype="int32")
        return {"token_ids": spec, "padding_mask": mask}

    def get_config(self):
        return {
            **super().get_config(),
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
            "pad_id": self.pad_id,
        }


@keras.saving.register_keras_serializable(package="keras_rdkl")
class StripSpecialTokens(keras.layers.Layer):
    """Drops the first and last position of `[batch, length + 2, ...]` features.

    The last position is the padding column `AddSpecialTokens` appends; each
    row's end token sits at its own length and becomes a padded position,
    which the padding mask of the input pieces masks.
    """

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


@keras.saving.register_keras_serializable(package="keras_rdkl")
class PieceMask(keras.layers.Layer):
    """The head's boolean mask: the logical AND of its int / bool inputs.

    Call arguments:
        inputs: a `[batch, length]` mask, or a list of them (`[padding_mask,
            word_starts]` for a head that sees only each word's first piece).

    Example:

    >>> import numpy as np
    >>> out = PieceMask()([np.array([[1, 1, 1, 0]]), np.array([[1, 0, 1, 1]])])
    >>> keras.ops.convert_to_numpy(out).tolist()
    [[True, False, True, False]]
    """

    def call(self, inputs):
        masks = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        out = ops.cast(masks[0], "bool")
        for mask in masks[1:]:
            out = ops.logical_and(out, ops.cast(mask, "bool"))
        return out

    def compute_output_spec(self, inputs):
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return keras.KerasTensor(first.shape, dtype="bool")


def _import_keras_hub():
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(
            "Pretrained backbones come from keras-hub: `pip install "
            "'keras-rdkl[hub]'` (or `pip install --no-deps keras-hub` then its "
            "light dependencies, to avoid TensorFlow; see docs/bert.md)."
        ) from error
    return keras_hub


def load_backbone(backbone, **kwargs):
    """A `keras_hub.models.Backbone`: the one given, or `Backbone.from_preset(backbone)`.

    Args:
        backbone: a `keras_hub.models.Backbone`, or a path or name for
            `keras_hub.models.Backbone.from_preset`: a keras-hub preset
            directory (`save_to_preset`), a Hugging Face-format directory
            (`config.json` with `model_type` and `model.safetensors`), or a
            keras-hub preset name (downloaded; needs network access).
        **kwargs: passed to `from_preset` (`dtype`, `load_weights`, ...).
    """
    keras_hub = _import_keras_hub()
    if isinstance(backbone, keras_hub.models.Backbone):
        return backbone
    if not isinstance(backbone, (str, os.PathLike)):
        raise ValueError(
            "`backbone` must be a keras_hub.models.Backbone or a preset path / "
            f"name. Received: backbone={backbone!r}"
        )
    return keras_hub.models.Backbone.from_preset(os.fspath(backbone), **kwargs)


def special_token_ids(preset):
    """`(cls_id, sep_id, pad_id)` of a preset's tokenizer.

    Read from the tokenizer keras-hub loads for `preset` (a keras-hub preset
    directory with a saved tokenizer, or a Hugging Face directory with its
    tokenizer files): the start, end and padding tokens (`[CLS]`, `[SEP]`,
    `[PAD]` for BERT; `<s>`, `</s>`, `<pad>` for RoBERTa and XLM-RoBERTa).

    Raises:
        ValueError: when the preset has no tokenizer keras-hub can load, or
            the tokenizer lacks one of the three tokens; pass `cls_id`,
            `sep_id` and `pad_id` to `build_pretrained_tagger` then.
    """
    keras_hub = _import_keras_hub()
    try:
        tokenizer = keras_hub.models.Tokenizer.from_preset(os.fspath(preset))
    except Exception as error:  # keras-hub raises several types for no tokenizer.
        raise ValueError(
            "The special token ids could not be read from the preset's "
            "tokenizer: pass `cls_id`, `sep_id` and `pad_id`. Received: "
            f"preset={os.fspath(preset)!r} ({type(error).__name__}: {error})"
        ) from error
    ids = []
    for names in (
        ("start_token_id", "cls_token_id"),
        ("end_token_id", "sep_token_id"),
        ("pad_token_id",),
    ):
        found = [getattr(tokenizer, n, None) for n in names]
        found = [i for i in found if i is not None]
        if not found:
            raise ValueError(
                f"The tokenizer of {os.fspath(preset)!r} "
                f"({type(tokenizer).__name__}) has no {names[0][:-3]}: pass "
                "`cls_id`, `sep_id` and `pad_id`."
            )
        ids.append(int(found[0]))
    return tuple(ids)


def _backbone_encoder(backbone):
    """`encode(token_ids, padding_mask) -> hidden` through a keras-hub backbone."""
    names = backbone.input
    if not isinstance(names, dict) or not {"token_ids", "padding_mask"} <= set(names):
        raise ValueError(
            "The backbone must take a dict with `token_ids` and `padding_mask` "
            "(keras-hub's text backbones). Received inputs: "
            f"{sorted(names) if isinstance(names, dict) else names!r}"
        )
    unknown = set(names) - {"token_ids", "padding_mask", "segment_ids"}
    if unknown:
        raise ValueError(
            f"The backbone takes inputs this builder cannot fill: {sorted(unknown)}."
        )
    # The tagger uses the sequence output: a pooler left trainable would only
    # draw "no gradient" warnings.
    pooler = getattr(backbone, "pooled_dense", None)
    if pooler is not None:
        pooler.trainable = False

    def encode(token_ids, padding_mask):
        feed = {"token_ids": token_ids, "padding_mask": padding_mask}
        if "segment_ids" in names:
            feed["segment_ids"] = ZeroSegments(name="segment_ids")(token_ids)
        out = backbone(feed)
        return out["sequence_output"] if isinstance(out, dict) else out

    return encode


def tagger_outputs(
    encode,
    token_ids,
    padding_mask,
    num_types,
    head,
    cls_id,
    sep_id,
    pad_id,
    word_starts=None,
    head_size=64,
    dropout=0.1,
    head_kwargs=None,
    dropout_name="backbone_dropout",
):
    """The graph of every pretrained tagger, from pieces to the head's output.

    Args:
        encode: `encode(token_ids, padding_mask) -> [batch, length + 2,
            hidden]`, the backbone on the ids with special tokens.
        token_ids, padding_mask: symbolic `[batch, length]` pieces and mask.
        num_types, head, head_size, head_kwargs: as in `build_span_tagger`.
        cls_id, sep_id, pad_id: special token ids.
        word_starts: optional symbolic `[batch, length]`; heads in
            `FIRST_PIECE_HEADS` mask the other pieces.
        dropout: dropout on the hidden states before the head.
        dropout_name: that dropout layer's name.
    """
    full = AddSpecialTokens(cls_id, sep_id, pad_id, name="add_special_tokens")(
        {"token_ids": token_ids, "padding_mask": padding_mask}
    )
    hidden = encode(full["token_ids"], full["padding_mask"])
    hidden = StripSpecialTokens(name="strip_special_tokens")(hidden)
    if dropout:
        hidden = keras.layers.Dropout(dropout, name=dropout_name)(hidden)
    masks = [padding_mask]
    if word_starts is not None and head in FIRST_PIECE_HEADS:
        masks.append(word_starts)
    mask = PieceMask(name="head_mask")(masks)
    return HEADS[head](hidden, mask, num_types, head_size, head, **(head_kwargs or {}))


def build_pretrained_tagger(
    backbone,
    num_types,
    head="global_pointer",
    head_size=64,
    dropout=0.1,
    head_kwargs=None,
    cls_id=None,
    sep_id=None,
    pad_id=None,
    name=None,
):
    """A span tagger on a pretrained backbone: sub-word pieces -> backbone -> head.

    Args:
        backbone: a `keras_hub.models.Backbone` (BERT, RoBERTa, XLM-RoBERTa,
            DistilBERT, ALBERT, DeBERTa-v3, ELECTRA, ... any text backbone
            taking `token_ids`, `padding_mask` and optionally `segment_ids`),
            or a path / name for `keras_hub.models.Backbone.from_preset` (a
            keras-hub preset directory, a Hugging Face-format directory).
        num_types: number of entity types.
        head: a head of `build_span_tagger` (`"global_pointer"`,
            `"efficient_global_pointer"`, `"crf"`, or a registered one).
        head_size: span head size.
        dropout: dropout on the backbone's hidden states before the head.
        head_kwargs: extra arguments of the head function (`head="crf"`:
            `lr_multiplier`).
        cls_id, sep_id, pad_id: ids of the start, end and padding tokens.
            When `backbone` is a path, each one left None is read from the
            preset's tokenizer (`special_token_ids`); for a backbone object
            all three are required.
        name: model name.

    Returns:
        A functional `keras.Model` from the dict `{"token_ids",
        "padding_mask", "word_starts"}` (`[batch, pieces]` each, pieces
        without special tokens) to the head's output over the same pieces:
        `[batch, num_types, pieces, pieces]` span scores (padding masked)
        or, for `"crf"`, `[batch, pieces, 1 + 2 * num_types]` BIO emissions
        whose padded pieces and non-first pieces of words hold
        `keras_rdkl.mask_value`. Train it with `ner.tagger_loss(model)`.
        Rows longer than the backbone's `max_sequence_length - 2` pieces
        must be split into windows beforehand.
    """
    check_head_and_dropout(head, dropout)
    ids = {"cls_id": cls_id, "sep_id": sep_id, "pad_id": pad_id}
    missing = [k for k, v in ids.items() if v is None]
    if missing and not isinstance(backbone, (str, os.PathLike)):
        raise ValueError(
            f"{', '.join(f'`{k}`' for k in missing)} must be given with a "
            "backbone object (they are read from the tokenizer only when "
            f"`backbone` is a preset path). Received: {ids}"
        )
    if missing:
        found = dict(zip(ids, special_token_ids(backbone), strict=True))
        ids = {k: found[k] if v is None else v for k, v in ids.items()}
    backbone = load_backbone(backbone)
    inputs = {
        key: keras.Input((None,), dtype="int32", name=key)
        for key in ("token_ids", "padding_mask", "word_starts")
    }
    outputs = tagger_outputs(
        _backbone_encoder(backbone),
        inputs["token_ids"],
        inputs["padding_mask"],
        num_types,
        head,
        word_starts=inputs["word_starts"],
        head_size=head_size,
        dropout=dropout,
        head_kwargs=head_kwargs,
        **ids,
    )
    return keras.Model(inputs, outputs, name=name or f"{backbone.name}_{head}")
