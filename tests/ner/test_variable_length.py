"""Variable-length batches train on every backend, whatever order they come in.

Keras' TensorFlow data adapter fixes a dataset's shapes from its first two
batches (keras-team/keras#19124); `SpanBatches` puts two batches of different
lengths first so that the length axis stays open (`keras_rdkl._batching`).
"""

import keras
import numpy as np
import pytest

from keras_rdkl import datasets
from keras_rdkl import ner
from tests.conftest import requires_data


def _short_then_long():
    """8 sentences of 3 tokens, then 8 of 20: in order, batches of 4 are 3, 3, 20, 20."""
    rng = np.random.default_rng(0)
    examples = []
    for n in [3] * 8 + [20] * 8:
        tokens = [str(t) for t in rng.integers(0, 9, n)]
        examples.append((tokens, [(0, 0, 1), (1, n - 2, n - 1)]))
    return examples


def _lengths(data):
    return [data[i][0].shape[1] for i in range(len(data))]


class _Steps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1


@pytest.mark.parametrize("head", ["global_pointer", "crf"])
def test_an_epoch_whose_first_two_batches_would_share_a_length(head):
    examples = _short_then_long()
    vocab = ner.Vocabulary.build([t for t, _ in examples])
    kind = "tags" if head == "crf" else "spans"
    data = ner.SpanBatches(examples, vocab, 2, batch_size=4, targets=kind)
    # Without the reordering the batches would be padded to 8, 8, 24, 24.
    assert _lengths(data) == [8, 24, 8, 24]
    model = ner.build_span_tagger(
        len(vocab),
        2,
        head=head,
        hidden=8,
        embedding_dim=8,
        head_size=8,
    )
    model.compile(optimizer="adam", loss=ner.tagger_loss(model))
    steps = _Steps()
    history = model.fit(data, epochs=1, verbose=0, callbacks=[steps])
    assert steps.seen == len(data)
    assert np.all(np.isfinite(history.history["loss"]))
    # Evaluation and prediction take the same batches.
    assert np.isfinite(model.evaluate(data, verbose=0))


def test_shuffled_epochs_always_lead_with_two_lengths():
    examples = _short_then_long() * 3
    vocab = ner.Vocabulary.build([t for t, _ in examples])
    data = ner.SpanBatches(examples, vocab, 2, batch_size=4, shuffle=True, seed=1)
    for _ in range(20):
        first, second = (data[i][0].shape[1] for i in (0, 1))
        assert first != second
        data.on_epoch_end()


def test_one_length_keeps_its_order():
    examples = [(list("abc"), []) for _ in range(12)]
    vocab = ner.Vocabulary.build([t for t, _ in examples])
    data = ner.SpanBatches(examples, vocab, 1, batch_size=4)
    assert [list(b) for b in data.batches] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
    ]


@requires_data("cluener2020")
def test_cluener_orders_lead_with_two_lengths():
    """The issue's case: 3,000 CLUENER sentences, batch 32, shuffled with seed 1."""
    examples, labels = datasets.load_cluener("train")
    examples = ner.index_spans(examples[:3000], labels)
    vocab = ner.Vocabulary.build([t for t, _ in examples])
    for seed in (1, 2, 3):
        data = ner.SpanBatches(
            examples, vocab, len(labels), batch_size=32, shuffle=True, seed=seed
        )
        for _ in range(5):
            lengths = {data._length(data.batches[i]) for i in (0, 1)}
            assert len(lengths) == 2
            data.on_epoch_end()
