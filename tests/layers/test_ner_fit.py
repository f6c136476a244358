"""A tiny GlobalPointer NER model learns a synthetic nested-span task under fit."""

import keras
import numpy as np
import pytest

from keras_rdkl.layers import EfficientGlobalPointer
from keras_rdkl.layers import GlobalPointer
from keras_rdkl.losses import MultilabelCategoricalCrossentropy

VOCAB, LENGTH, HEADS = 16, 10, 2
START, END, INNER = 2, 3, 4


def make_data(n, rng):
    """Type 0: every (i, j), i <= j, with token START at i and END at j.
    Type 1: single-token spans on INNER, placed inside type-0 spans (nested).
    Some rows get two STARTs before one END: two nested type-0 spans."""
    tokens = np.zeros((n, LENGTH), "int32")
    for row in range(n):
        length = rng.integers(6, LENGTH + 1)
        seq = rng.integers(5, VOCAB, size=length)
        a, b = sorted(rng.choice(length, size=2, replace=False))
        seq[a], seq[b] = START, END
        if b - a > 1 and rng.random() < 0.7:
            seq[rng.integers(a + 1, b)] = INNER
        if a > 0 and rng.random() < 0.3:
            seq[rng.integers(0, a)] = START
        if rng.random() < 0.3 and b + 1 < length:
            seq[rng.integers(b + 1, length)] = INNER
        tokens[row, :length] = seq
    return tokens, spans_to_dense(true_spans(tokens))


def true_spans(tokens):
    spans = set()
    for row, seq in enumerate(tokens):
        for i in range(LENGTH):
            if seq[i] == INNER:
                spans.add((row, 1, i, i))
            for j in range(i, LENGTH):
                if seq[i] == START and seq[j] == END:
                    spans.add((row, 0, i, j))
    return spans


def spans_to_dense(spans):
    n = max(s[0] for s in spans) + 1
    y = np.zeros((n, HEADS, LENGTH, LENGTH), "float32")
    for row, t, i, j in spans:
        y[row, t, i, j] = 1.0
    return y


def decode(logits):
    return {tuple(int(v) for v in idx) for idx in np.argwhere(logits > 0)}


@pytest.mark.parametrize("cls", [GlobalPointer, EfficientGlobalPointer])
def test_learns_nested_spans(cls):
    rng = np.random.default_rng(0)
    x_train, y_train = make_data(192, rng)
    x_test, _ = make_data(64, rng)
    inp = keras.Input((LENGTH,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 32, mask_zero=True)(inp)
    h = keras.layers.Dense(32, activation="relu")(h)
    model = keras.Model(inp, cls(HEADS, 16)(h))
    model.compile(
        optimizer=keras.optimizers.Adam(2e-2),
        loss=MultilabelCategoricalCrossentropy(axis=(-2, -1)),
    )
    first = model.evaluate(x_train, y_train, verbose=0, batch_size=64)
    history = model.fit(x_train, y_train, epochs=30, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.05 * first
    expected = true_spans(x_test)
    assert any(t == 1 for _, t, _, _ in expected) and len(expected) > 64
    found = decode(model.predict(x_test, verbose=0))
    hits = len(found & expected)
    f1 = 2 * hits / (len(found) + len(expected))
    assert f1 > 0.97, (f1, sorted(expected - found)[:5], sorted(found - expected)[:5])
    # Nested spans: an INNER span inside an outer span is recovered with it.
    nested = {
        s
        for s in expected
        if s[1] == 1
        and any(o[0] == s[0] and o[1] == 0 and o[2] < s[2] < o[3] for o in expected)
    }
    assert nested and len(nested & found) >= 0.95 * len(nested)
