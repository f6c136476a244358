"""One builder from token ids (and character ids) to a span head."""

import keras
import numpy as np

from keras_rdkl.layers import ConditionalRandomField
from keras_rdkl.layers import EfficientGlobalPointer
from keras_rdkl.layers import GlobalPointer
from keras_rdkl.losses import CRFLoss
from keras_rdkl.losses import MultilabelCategoricalCrossentropy
from keras_rdkl.ner.encoders import ENCODERS
from keras_rdkl.ner.encoders import CharCNN
from keras_rdkl.ner.encoders import PaddingMask
from keras_rdkl.ner.encoders import TokenDropout
from keras_rdkl.ner.tagging import crf_constraints
from keras_rdkl.ner.tagging import num_crf_tags

__all__ = [
    "HEADS",
    "build_span_tagger",
    "find_crf",
    "register_head",
    "tagger_loss",
    "target_kind",
]


def _global_pointer(x, mask, num_types, head_size, name):
    return GlobalPointer(num_types, head_size, name=name)(x, mask=mask)


def _efficient_global_pointer(x, mask, num_types, head_size, name):
    return EfficientGlobalPointer(num_types, head_size, name=name)(x, mask=mask)


def _crf(x, mask, num_types, head_size, name, lr_multiplier=1.0):
    # BIO tags over the types (`keras_rdkl.ner.tagging`); decoding keeps to
    # well-formed BIO sequences, training uses the unconstrained likelihood.
    starts, ends, allowed = crf_constraints(num_types)
    emissions = keras.layers.Dense(num_crf_tags(num_types), name=f"{name}_emissions")(x)
    crf = ConditionalRandomField(
        lr_multiplier=lr_multiplier,
        start_tags=starts,
        end_tags=ends,
        allowed_transitions=allowed,
        name=name,
    )
    return crf(emissions, mask=mask)


# name -> fn(features [B, L, H], mask [B, L], num_types, head_size, name) -> output.
HEADS = {
    "global_pointer": _global_pointer,
    "efficient_global_pointer": _efficient_global_pointer,
    "crf": _crf,
}


def find_crf(model):
    """The `ConditionalRandomField` layer of a tagger, or None for span heads."""
    for layer in model.layers:
        if isinstance(layer, ConditionalRandomField):
            return layer
    return None


def check_head_and_dropout(head, dropout):
    """ValueError unless `head` is a known head and `dropout` is in [0, 1)."""
    if head not in HEADS:
        raise ValueError(f"`head` must be one of {sorted(HEADS)}. Received: {head!r}")
    if not 0 <= float(dropout) < 1:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")


def target_kind(model):
    """`"tags"` for a CRF tagger, `"spans"` otherwise: `SpanBatches(targets=...)`."""
    return "spans" if find_crf(model) is None else "tags"


def tagger_loss(model):
    """The training loss of a `build_span_tagger` model.

    ZLPR over each head's span grid (`MultilabelCategoricalCrossentropy(axis=(-2,
    -1))`) for the GlobalPointer heads; the CRF negative log-likelihood
    (`CRFLoss`, bound to the model's CRF layer) for `head="crf"`.

    Example:

    >>> tagger = build_span_tagger(50, 2, encoder="idcnn", head="crf", hidden=8)
    >>> type(tagger_loss(tagger)).__name__
    'CRFLoss'
    """
    crf = find_crf(model)
    if crf is not None:
        return CRFLoss(crf)
    return MultilabelCategoricalCrossentropy(axis=(-2, -1))


def register_head(name, fn):
    """Adds a head to `build_span_tagger`.

    Args:
        name: the `head=` string.
        fn: `fn(features, mask, num_types, head_size, name, **head_kwargs)`
            returning the model output from `[batch, length, hidden]`
            features and the `[batch, length]` boolean padding mask.
    """
    if not callable(fn):
        raise ValueError(f"`fn` must be callable. Received: fn={fn!r}")
    HEADS[str(name)] = fn


def build_span_tagger(
    vocab_size,
    num_types,
    encoder="bilstm",
    head="global_pointer",
    embedding_dim=None,
    hidden=256,
    layers=1,
    dropout=0.3,
    head_size=64,
    num_chars=0,
    char_dim=32,
    char_filters=64,
    max_chars=16,
    num_bigrams=0,
    bigram_dim=None,
    num_shapes=0,
    shape_dim=16,
    num_gazetteer_features=0,
    encoder_kwargs=None,
    head_kwargs=None,
    embedding_weights=None,
    trainable_embeddings=True,
    token_dropout=0.0,
    unk_id=1,
    name=None,
):
    """Builds a span tagger: embeddings -> encoder -> span head, from scratch.

    Inputs are token ids `[batch, length]` (0 = padding; any length), and
    with `num_chars > 0` also character ids `[batch, length, max_chars]`
    (the model then takes a dict `{"token_ids", "char_ids"}`; a character
    CNN's word features are concatenated to the token embeddings, for
    English / German where unseen words would otherwise all be `[UNK]`),
    and with `num_bigrams > 0` bigram ids `[batch, length]` (each token with
    its right neighbour, `Vocabulary.encode_bigrams`; for Chinese
    characters, where a bigram is often a word), whose embeddings are
    concatenated too, and with `num_shapes > 0` word-shape ids `[batch,
    length]` (`Vocabulary.encode_shapes`: case, digits, `@` / `#` / URLs;
    for lower-cased word vocabularies), embedded and concatenated likewise,
    and with `num_gazetteer_features > 0` a float `"gazetteer"` input
    `[batch, length, features]` (`Vocabulary.encode_gazetteer`: marks of
    phrases from lists of names), concatenated as it is.
    The padding mask (`token_ids != 0`) goes explicitly to the encoder and
    the head, so padded spans hold the masking value
    (`keras_rdkl.mask_value`) in the logits.

    Args:
        vocab_size: number of token ids.
        num_types: number of entity types (heads of the span head).
        encoder: `"bilstm"`, `"idcnn"` or `"transformer"` (see
            `keras_rdkl.ner.encoders`).
        head: `"global_pointer"`, `"efficient_global_pointer"`, `"crf"`
            (a dense layer to BIO tag scores and a `ConditionalRandomField`,
            decoding constrained to well-formed BIO; flat spans only), or a
            name added with `register_head`.
        embedding_dim: token embedding width (None: 128, or the width of
            `embedding_weights`).
        hidden: encoder width.
        layers: encoder depth (layers / blocks).
        dropout: dropout on the embeddings, inside the encoder and on its
            output (R-Drop needs it > 0).
        head_size: span head size (GlobalPointer heads).
        num_chars: size of the character vocabulary; 0 = no character input.
        char_dim, char_filters: character CNN widths.
        max_chars: characters per word of the character input.
        num_bigrams: size of the bigram vocabulary; 0 = no bigram input.
        bigram_dim: bigram embedding width (None: `embedding_dim`).
        num_shapes: number of word-shape ids (`Vocabulary.num_shapes`); 0 =
            no word-shape input.
        shape_dim: word-shape embedding width.
        num_gazetteer_features: features per token of the gazetteer input
            (`Vocabulary.num_gazetteer_features`); 0 = no gazetteer input.
        encoder_kwargs: extra arguments of the encoder function (`heads`,
            `dilations`, ...).
        head_kwargs: extra arguments of the head function (`head="crf"`:
            `lr_multiplier` of its `ConditionalRandomField`).
        embedding_weights: optional `[vocab_size, embedding_dim]` initial
            token embedding, e.g. pretrained word vectors through
            `embedding_matrix`.
        trainable_embeddings: False freezes the token embedding (its
            weights stay as given).
        token_dropout: word dropout rate (`TokenDropout`): in training,
            token ids become `unk_id` with this probability, so the model
            learns to tag the unseen words of test text from context and
            spelling.
        unk_id: the vocabulary's unknown id (`Vocabulary.unk_id`).
        name: model name.

    Returns:
        A functional `keras.Model`; output `[batch, num_types, length,
        length]` span scores for the GlobalPointer heads, `[batch, length,
        1 + 2 * num_types]` BIO tag emissions for `"crf"`. Train it with
        `tagger_loss(model)` and targets from `SpanBatches(...,
        targets=target_kind(model))`.

    Example:

    >>> import numpy as np
    >>> model = build_span_tagger(100, 3, encoder="idcnn", hidden=32, head_size=8)
    >>> model.predict(np.array([[5, 6, 7, 0]]), verbose=0).shape
    (1, 3, 4, 4)
    >>> crf = build_span_tagger(100, 3, encoder="idcnn", head="crf", hidden=32)
    >>> crf.predict(np.array([[5, 6, 7, 0]]), verbose=0).shape
    (1, 4, 7)
    """
    if encoder not in ENCODERS:
        raise ValueError(
            f"`encoder` must be one of {sorted(ENCODERS)}. Received: {encoder!r}"
        )
    check_head_and_dropout(head, dropout)
    if embedding_weights is not None:
        embedding_weights = np.asarray(embedding_weights)
        width = embedding_weights.shape[-1] if embedding_weights.ndim == 2 else None
        if width is None or embedding_weights.shape[0] != vocab_size:
            raise ValueError(
                "`embedding_weights` must be [vocab_size, embedding_dim] = "
                f"[{vocab_size}, ...]. Received: shape {embedding_weights.shape}"
            )
        if not np.isfinite(embedding_weights).all():
            raise ValueError(
                "`embedding_weights` must be finite. Received: "
                f"{int((~np.isfinite(embedding_weights)).sum())} NaN or infinite values"
            )
        if embedding_dim is not None and embedding_dim != width:
            raise ValueError(
                f"`embedding_dim` ({embedding_dim}) must match the width of "
                f"`embedding_weights` ({width}), or be None"
            )
        embedding_dim = width
    elif embedding_dim is None:
        embedding_dim = 128
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    mask = PaddingMask(name="padding_mask")(token_ids)
    embedding = keras.layers.Embedding(
        vocab_size,
        embedding_dim,
        trainable=bool(trainable_embeddings),
        name="token_embedding",
    )
    ids = token_ids
    if token_dropout:
        ids = TokenDropout(token_dropout, unk_id=unk_id, name="token_dropout")(ids)
    x = embedding(ids)
    if embedding_weights is not None:
        embedding.set_weights([embedding_weights])
    inputs = {"token_ids": token_ids}
    features = [x]

    def add_input(name, shape, dtype="int32"):
        inputs[name] = keras.Input(shape, dtype=dtype, name=name)
        return inputs[name]

    if num_chars:
        layer = CharCNN(num_chars, char_dim, char_filters, name="char_cnn")
        features.append(layer(add_input("char_ids", (None, max_chars))))
    if num_bigrams:
        width = bigram_dim or embedding_dim
        layer = keras.layers.Embedding(num_bigrams, width, name="bigram_embedding")
        features.append(layer(add_input("bigram_ids", (None,))))
    if num_shapes:
        layer = keras.layers.Embedding(num_shapes, shape_dim, name="shape_embedding")
        features.append(layer(add_input("shape_ids", (None,))))
    if num_gazetteer_features:
        shape = (None, num_gazetteer_features)
        features.append(add_input("gazetteer", shape, dtype="float32"))
    if len(features) > 1:
        x = keras.layers.Concatenate(name="token_features")(features)
    if len(inputs) == 1:
        inputs = token_ids
    if dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    x = ENCODERS[encoder](
        x, mask, hidden=hidden, layers=layers, dropout=dropout, **(encoder_kwargs or {})
    )
    if dropout:
        x = keras.layers.Dropout(dropout, name="encoder_dropout")(x)
    outputs = HEADS[head](x, mask, num_types, head_size, head, **(head_kwargs or {}))
    return keras.Model(inputs, outputs, name=name or f"{encoder}_{head}")
