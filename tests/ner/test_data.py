"""The NER pipeline: vocabulary, windows over long sentences, bucketed span batches."""

import numpy as np
import pytest

from keras_rdkl import ner


def _examples():
    return [
        (list("abcdefghij"), [(0, 0, 1), (1, 3, 5), (0, 8, 9)]),
        (list("ab"), [(1, 0, 0)]),
        (list("abcd"), []),
        (list("abcdefg"), [(0, 2, 6), (1, 3, 3)]),
    ]


def test_vocabulary_ids_and_round_trip(tmp_path):
    vocab = ner.Vocabulary.build(
        [["b", "a", "a"], ["C"]], lowercase=True, chars=True, labels=["X"], level="word"
    )
    assert vocab.tokens == ["[PAD]", "[UNK]", "a", "b", "c"]
    assert vocab.encode(["A", "c", "zz"]) == [2, 4, 1]
    np.testing.assert_array_equal(
        vocab.encode_chars(["aC", "q"], 3),
        [[vocab.char_ids["a"], vocab.char_ids["C"], 0], [1, 0, 0]],
    )
    vocab.save(tmp_path / "v.json")
    again = ner.Vocabulary.load(tmp_path / "v.json")
    assert again.get_config() == vocab.get_config()
    with pytest.raises(ValueError, match="tokens"):
        ner.Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="min_count"):
        ner.Vocabulary.build([["a"]], min_count=0)


def test_split_windows_keeps_every_span_and_counts():
    examples = _examples()
    windows, origins, stats = ner.split_windows(examples, max_length=4)
    assert all(len(t) <= 4 for t, _ in windows)
    assert stats["sentences"] == 4 and stats["windows"] == len(windows)
    assert stats["split_sentences"] == 2  # the 10- and 7-token sentences
    # (0, 2, 6) is 5 tokens long: the only span that must be cut.
    assert stats["cut_spans"] == 1
    back = ner.merge_windows([s for _, s in windows], origins, len(examples))
    for (_, gold), got in zip(examples, back, strict=True):
        uncut = [s for s in gold if s[2] - s[1] < 4]
        assert set(uncut) <= set(got)
    # Tokens are preserved in order.
    for n, (tokens, _) in enumerate(examples):
        joined = sum(
            (w for (w, _), o in zip(windows, origins, strict=True) if o[0] == n), []
        )
        assert joined == tokens


def test_split_windows_moves_the_cut_before_a_crossing_span():
    windows, origins, stats = ner.split_windows(
        [(list("abcdef"), [(0, 2, 4)])], max_length=4
    )
    assert [w for w, _ in windows] == [list("ab"), list("cdef")]
    assert windows[1][1] == [(0, 0, 2)] and origins == [(0, 0), (0, 2)]
    assert stats["cut_spans"] == 0


def test_span_batches_bucket_pad_and_encode():
    vocab = ner.Vocabulary.build([t for t, _ in _examples()])
    data = ner.SpanBatches(
        _examples(), vocab, num_types=2, batch_size=2, shuffle=False, pad_to_multiple=4
    )
    assert len(data) == 2
    seen = []
    for i in range(len(data)):
        x, y = data[i]
        idx = data.batches[i]
        longest = max(len(_examples()[j][0]) for j in idx)
        assert x.shape == (len(idx), -(-longest // 4) * 4)
        assert y.shape == (len(idx), 2, x.shape[1], x.shape[1])
        for row, j in enumerate(idx):
            tokens, spans = _examples()[j]
            assert list(x[row, : len(tokens)]) == vocab.encode(tokens)
            assert np.all(x[row, len(tokens) :] == 0)
            assert {tuple(int(v) for v in p) for p in np.argwhere(y[row] == 1)} == set(
                spans
            )
            seen.append(int(j))
    assert sorted(seen) == [0, 1, 2, 3]
    # Bucketing: the two short sentences (2 and 4 tokens) share a batch.
    assert sorted(int(j) for j in data.batches[0]) == [1, 2]


@pytest.mark.parametrize("targets", ["spans", "tags"])
def test_span_batches_sample_weights_follow_the_rows(targets):
    vocab = ner.Vocabulary.build([t for t, _ in _examples()])
    weights = [1.0, 0.0, 0.5, 2.0]
    data = ner.SpanBatches(
        _examples(), vocab, 2, batch_size=3, shuffle=True, seed=1,
        targets=targets, sample_weights=weights,
    )  # fmt: skip
    for i in range(len(data)):
        _, _, w = data[i]
        np.testing.assert_array_equal(
            w, np.asarray(weights, "float32")[data.batches[i]]
        )
    for bad in ([1.0, 1.0], [1.0, -1.0, 1.0, 1.0], [1.0, float("nan"), 1.0, 1.0]):
        with pytest.raises(ValueError, match="sample_weights"):
            ner.SpanBatches(_examples(), vocab, 2, sample_weights=bad)


def test_span_batches_shuffle_each_epoch_and_chars():
    ex = _examples() * 10
    vocab = ner.Vocabulary.build([t for t, _ in ex], chars=True)
    data = ner.SpanBatches(ex, vocab, 2, batch_size=4, shuffle=True, seed=3)
    first = [list(b) for b in data.batches]
    data.on_epoch_end()
    assert [list(b) for b in data.batches] != first
    x, y = data[0]
    assert set(x) == {"token_ids", "char_ids"}
    assert x["char_ids"].shape == x["token_ids"].shape + (16,)
    (x_only,) = ner.SpanBatches(ex, vocab, 2, batch_size=4, with_targets=False)[0]
    assert set(x_only) == {"token_ids", "char_ids"}


def test_bigram_vocabulary_counts_pairs_with_an_end_marker(tmp_path):
    # Bigrams of "abab": "a b" x2, "b a" x1, "b [END]" x1; of "ab": "a b", "b [END]".
    vocab = ner.Vocabulary.build(
        [list("abab"), list("ab")], bigrams=True, bigram_min_count=2
    )
    assert vocab.bigrams == ["[PAD]", "[UNK]", "a b", "b [END]"]
    assert vocab.num_bigrams == 4
    # One id per token: the token with its right neighbour; unseen -> 1.
    assert vocab.encode_bigrams(list("abba")) == [2, 1, 1, 1]
    assert vocab.encode_bigrams(list("ab")) == [2, 3]
    assert vocab.encode_bigrams([]) == []
    everything = ner.Vocabulary.build([list("abab")], bigrams=True, bigram_min_count=1)
    assert everything.bigrams[2:] == ["a b", "b [END]", "b a"]
    # Lower-cased like the tokens.
    lower = ner.Vocabulary.build(
        [["X", "y"]], lowercase=True, bigrams=True, bigram_min_count=1, level="word"
    )
    assert (
        lower.encode_bigrams(["x", "Y"]) == lower.encode_bigrams(["X", "y"]) != [1, 1]
    )
    vocab.save(tmp_path / "v.json")
    again = ner.Vocabulary.load(tmp_path / "v.json")
    assert again.get_config() == vocab.get_config()
    assert again.encode_bigrams(list("abba")) == [2, 1, 1, 1]
    plain = ner.Vocabulary.build([list("ab")])
    assert plain.num_bigrams == 0 and plain.bigrams is None
    with pytest.raises(ValueError, match="no bigrams"):
        plain.encode_bigrams(["a"])
    with pytest.raises(ValueError, match="bigram_min_count"):
        ner.Vocabulary.build([["a"]], bigrams=True, bigram_min_count=0)
    with pytest.raises(ValueError, match="`bigrams` must start with"):
        ner.Vocabulary(["[PAD]", "[UNK]"], bigrams=["a b"])


def test_span_batches_bigram_ids_follow_the_tokens():
    ex = _examples()
    vocab = ner.Vocabulary.build([t for t, _ in ex], bigrams=True, bigram_min_count=1)
    data = ner.SpanBatches(ex, vocab, 2, batch_size=4, bucket=False)
    x, _ = data[0]
    assert set(x) == {"token_ids", "bigram_ids"}
    assert x["bigram_ids"].shape == x["token_ids"].shape
    for row, (tokens, _) in enumerate(ex):
        n = len(tokens)
        np.testing.assert_array_equal(
            x["bigram_ids"][row, :n], vocab.encode_bigrams(tokens)
        )
        assert (x["bigram_ids"][row, n:] == 0).all()
    both = ner.Vocabulary.build(
        [t for t, _ in ex], chars=True, bigrams=True, bigram_min_count=1
    )
    (xb,) = ner.SpanBatches(ex, both, 2, batch_size=4, with_targets=False)[0]
    assert set(xb) == {"token_ids", "char_ids", "bigram_ids"}


@pytest.mark.parametrize(
    "word, shape",
    [
        ("paris", "lower"),
        ("don't", "lower"),
        ("Paris", "title"),
        ("I", "title"),
        ("É", "title"),
        ("Ünal", "title"),
        ("NASA", "upper"),
        ("U.S.", "upper"),
        ("iPhone", "mixed"),
        ("McDonald", "mixed"),
        ("2017", "digits"),
        ("3.5", "digits"),
        ("A4", "letters+digits"),
        ("2nd", "letters+digits"),
        ("...", "punctuation"),
        ("@", "punctuation"),
        ("#", "punctuation"),
        ("@anna_b", "mention"),
        ("#TBT", "hashtag"),
        ("http://t.co/x1", "url"),
        ("www.example.org", "url"),
        ("bit.ly/abc", "url"),
        ("", "other"),
    ],
)
def test_word_shape_classes(word, shape):
    assert ner.word_shape(word) == shape
    assert shape in ner.WORD_SHAPES[2:]


def test_shape_vocabulary_and_batches(tmp_path):
    ex = [
        (["Anna", "met", "@bob", "in", "NYC", "2017"], [(0, 0, 0)]),
        (["#tbt", "iPhone"], []),
    ]
    vocab = ner.Vocabulary.build(
        [t for t, _ in ex], lowercase=True, chars=True, shapes=True, level="word"
    )
    assert vocab.num_shapes == len(ner.WORD_SHAPES)
    ids = vocab.encode_shapes(["Anna", "met", "@bob", "in", "NYC", "2017"])
    assert [ner.WORD_SHAPES[i] for i in ids] == [
        "title",
        "lower",
        "mention",
        "lower",
        "upper",
        "digits",
    ]
    # The case the lower-cased token ids lose is in the shapes.
    assert vocab.encode(["Anna"]) == vocab.encode(["anna"])
    assert vocab.encode_shapes(["Anna"]) != vocab.encode_shapes(["anna"])
    vocab.save(tmp_path / "v.json")
    again = ner.Vocabulary.load(tmp_path / "v.json")
    assert again.get_config() == vocab.get_config() and again.shapes
    one = vocab.encode_inputs(ex[0][0], max_chars=5)
    assert set(one) == {"token_ids", "char_ids", "shape_ids"}
    assert one["char_ids"].shape == (6, 5) and one["shape_ids"].tolist() == ids
    assert (
        set(plain_inputs := ner.Vocabulary.build([["a"]]).encode_inputs(["a"]))
        == {"token_ids"}
        and plain_inputs["token_ids"].dtype == np.int32
    )
    (x,) = ner.SpanBatches(ex, vocab, 1, batch_size=2, with_targets=False)[0]
    assert set(x) == {"token_ids", "char_ids", "shape_ids"}
    assert x["shape_ids"].shape == x["token_ids"].shape
    for row, j in enumerate(
        ner.SpanBatches(ex, vocab, 1, batch_size=2, with_targets=False).batches[0]
    ):
        tokens = ex[j][0]
        np.testing.assert_array_equal(
            x["shape_ids"][row, : len(tokens)], vocab.encode_shapes(tokens)
        )
        assert (x["shape_ids"][row, len(tokens) :] == 0).all()
    plain = ner.Vocabulary.build([["a"]])
    assert plain.num_shapes == 0 and not plain.shapes
    with pytest.raises(ValueError, match="no word shapes"):
        plain.encode_shapes(["a"])
    # A vocabulary saved before word shapes existed loads without them.
    config = plain.get_config()
    del config["shapes"]
    assert not ner.Vocabulary(**config).shapes


def test_index_spans_unknown_type():
    assert ner.index_spans([(["a"], [("B", 0, 0)])], ["A", "B"]) == [
        (["a"], [(1, 0, 0)])
    ]
    with pytest.raises(ValueError, match="'C'"):
        ner.index_spans([(["a"], [("C", 0, 0)])], ["A", "B"])


def test_split_marks_moves_spans_and_counts():
    examples = [
        (["RT", "@anna", ":", "#new", "york", "rocks"], [("PER", 1, 1), ("LOC", 3, 4)]),
        (["@", "##", "a@b", "@x"], [("ORG", 2, 3, 0.5)]),
        ([], []),
    ]
    out, count = ner.split_marks(examples)
    assert count == 3
    assert out[0] == (
        ["RT", "@", "anna", ":", "#", "new", "york", "rocks"],
        [
            ("PER", 2, 2),
            ("LOC", 5, 6),
        ],  # a span starting on a split token skips the mark
    )
    # Marks alone stay whole; a mark inside a word is not split; a span
    # ending on a split token ends on its word part; extra items are kept.
    assert out[1] == (["@", "##", "a@b", "@", "x"], [("ORG", 2, 4, 0.5)])
    assert out[2] == ([], [])
    assert examples[0][0][1] == "@anna"  # the input is left as it was
    only_hash, n = ner.split_marks(examples[:1], marks="#")
    assert n == 1 and only_hash[0][0][1] == "@anna"
    with pytest.raises(ValueError, match="marks"):
        ner.split_marks(examples, marks="")
