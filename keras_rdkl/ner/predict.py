"""From a trained span tagger to entities: token spans for a corpus, character offsets for raw text."""

import keras
import numpy as np

from keras_rdkl.ner.builder import find_crf
from keras_rdkl.ner.data import SpanBatches
from keras_rdkl.ner.data import merge_windows
from keras_rdkl.ner.data import split_windows
from keras_rdkl.ner.saving import load_tagger  # noqa: F401 (its former home)
from keras_rdkl.ner.tagging import tag_ids_to_spans
from keras_rdkl.ner.tokens import tokenize
from keras_rdkl.spans import decode_spans

__all__ = ["predict_entities", "predict_spans"]


def predict_spans(
    model,
    examples,
    vocab,
    num_types,
    max_length=None,
    batch_size=64,
    threshold=0.0,
    flat=False,
    max_chars=16,
):
    """Decoded spans `(type id, start, end, score)` for every sentence of `examples`.

    Sentences longer than `max_length` are split into windows
    (`split_windows`), predicted, and their spans mapped back, so spans are
    always in the sentence's own token positions. A CRF tagger
    (`head="crf"`) is decoded with its constrained Viterbi; a span's score is
    then the sum of the emissions of its tags along the best path (its spans
    never overlap, and `threshold` / `flat` do not apply).

    Args:
        model: a span tagger (`build_span_tagger` output, or reloaded).
        examples: list of `(tokens, spans)` (spans are ignored) or of token
            lists.
        vocab: the model's `Vocabulary`.
        num_types: number of entity types.
        max_length: longest window in tokens (None: no splitting).
        batch_size: sentences per forward pass.
        threshold: decision threshold of `decode_spans` (0 for ZLPR).
        flat: keep only non-overlapping spans (greedy by score).
        max_chars: characters per word for word + character models.

    Returns:
        A list (one per sentence) of `(type, start, end, score)` lists.
    """
    examples = [e if isinstance(e, tuple) else (list(e), []) for e in examples]
    num_sentences = len(examples)
    origins = [(i, 0) for i in range(num_sentences)]
    if max_length:
        examples, origins, _ = split_windows(examples, max_length)
    data = SpanBatches(
        examples, vocab, num_types, batch_size, with_targets=False, max_chars=max_chars
    )
    crf = find_crf(model)
    window_spans = [None] * len(examples)
    for i in range(len(data)):
        (x,) = data[i]
        ids = x["token_ids"] if isinstance(x, dict) else x
        logits = model.predict_on_batch(x)
        if crf is None:
            decoded = decode_spans(
                logits, threshold=threshold, flat=flat, mask=ids != 0
            )
        else:
            decoded = _crf_spans(crf, logits, ids != 0)
        for j, spans in zip(data.batches[i], decoded, strict=True):
            window_spans[j] = spans
    return merge_windows(window_spans, origins, num_sentences)


def _crf_spans(crf, emissions, mask):
    paths, _ = crf.decode(emissions, mask=mask)
    paths = keras.ops.convert_to_numpy(paths)
    emissions = np.asarray(emissions, "float32")
    out = []
    for row, (path, valid) in enumerate(zip(paths, mask, strict=True)):
        path = path[: int(valid.sum())]
        picked = emissions[row, np.arange(len(path)), path]
        out.append(
            [
                (t, s, e, float(picked[s : e + 1].sum()))
                for t, s, e in tag_ids_to_spans(path)
            ]
        )
    return out


def predict_entities(
    model,
    vocab,
    texts,
    max_length=128,
    batch_size=32,
    threshold=0.0,
    flat=False,
    max_chars=16,
):
    """Raw text -> entities with character offsets.

    Args:
        model: a span tagger (e.g. from `load_tagger`).
        vocab: its `Vocabulary`, with `labels` (type names) and `level`.
        texts: a string or a list of strings.
        max_length, batch_size, threshold, flat, max_chars: as in
            `predict_spans`.

    Returns:
        For each text, a list of dicts `{"type", "start", "end", "text",
        "score"}` with `text[start:end]` the entity (end exclusive), sorted
        by position; a single dict list when `texts` is a string.

    Example:

    >>> model, vocab = load_tagger("runs/demo")  # doctest: +SKIP
    >>> predict_entities(model, vocab, "我在北京大学读书")  # doctest: +SKIP
    [{'type': 'organization', 'start': 2, 'end': 6, 'text': '北京大学', 'score': 7.1}]
    """
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    labels = vocab.labels
    if labels is None:
        raise ValueError(
            "`vocab.labels` is None: the vocabulary must carry the type names."
        )
    tokenized = [tokenize(t, vocab.level) for t in texts]
    spans = (
        predict_spans(
            model,
            [(toks, []) for toks, _ in tokenized],
            vocab,
            len(labels),
            max_length,
            batch_size,
            threshold,
            flat,
            max_chars,
        )
        if tokenized
        else []
    )
    out = []
    for text, (_, offsets), sent in zip(texts, tokenized, spans, strict=True):
        ents = []
        for t, s, e, score in sent:
            a, b = offsets[s][0], offsets[e][1]
            ents.append(
                dict(
                    type=labels[t],
                    start=a,
                    end=b,
                    text=text[a:b],
                    score=float(np.round(score, 4)),
                )
            )
        out.append(ents)
    return out[0] if single else out
