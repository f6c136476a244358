"""bert4keras `snippets` helpers against hand-worked examples, and `forfit` inside `fit`.

The expected values follow bert4keras 0.11.x (`bert4keras/snippets.py`), worked
out by hand from its code. The `fit` tests write their `DataGenerator` as
bert4keras scripts do and train with the scripts' exact call.
"""

import math

import keras
import numpy as np
import pytest

from keras_rdkl.compat._snippets import DataGenerator
from keras_rdkl.compat._snippets import is_string
from keras_rdkl.compat._snippets import open
from keras_rdkl.compat._snippets import parallel_apply
from keras_rdkl.compat._snippets import sequence_padding
from keras_rdkl.compat._snippets import strQ2B
from keras_rdkl.compat._snippets import text_segmentate
from keras_rdkl.compat._snippets import to_array
from keras_rdkl.compat._snippets import truncate_sequences

# sequence_padding


def test_sequence_padding_post_and_pre():
    inputs = [[1, 2, 3], [4], [5, 6]]
    np.testing.assert_array_equal(
        sequence_padding(inputs), [[1, 2, 3], [4, 0, 0], [5, 6, 0]]
    )
    np.testing.assert_array_equal(
        sequence_padding(inputs, mode="pre"), [[1, 2, 3], [0, 0, 4], [0, 5, 6]]
    )
    np.testing.assert_array_equal(
        sequence_padding(inputs, value=-1), [[1, 2, 3], [4, -1, -1], [5, 6, -1]]
    )


def test_sequence_padding_longer_length_pads_and_shorter_truncates_from_the_end():
    inputs = [[1, 2, 3], [4]]
    np.testing.assert_array_equal(
        sequence_padding(inputs, length=5), [[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]]
    )
    # Truncation keeps the leading values, whatever the mode.
    np.testing.assert_array_equal(sequence_padding(inputs, length=2), [[1, 2], [4, 0]])
    np.testing.assert_array_equal(
        sequence_padding(inputs, length=2, mode="pre"), [[1, 2], [0, 4]]
    )


def test_sequence_padding_two_sequence_axes_and_trailing_features():
    a = np.array([[1, 2], [3, 4]])
    b = np.array([[5], [6], [7]])
    out = sequence_padding([a, b], seq_dims=2)
    np.testing.assert_array_equal(
        out, [[[1, 2], [3, 4], [0, 0]], [[5, 0], [6, 0], [7, 0]]]
    )
    out = sequence_padding([a, b], length=[2, 1], seq_dims=2, value=9, mode="pre")
    np.testing.assert_array_equal(out, [[[1], [3]], [[5], [6]]])
    # Axes past seq_dims are kept as they are (GlobalPointer-style [n, 2] spans).
    spans = [np.array([[0, 1], [2, 3]]), np.zeros((0, 2), int)]
    out = sequence_padding(spans)
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[1], [[0, 0], [0, 0]])


def test_sequence_padding_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        sequence_padding([[1]], mode="middle")


# text_segmentate and truncate_sequences


def test_text_segmentate_short_text_is_stripped_and_kept_whole():
    assert text_segmentate("  abc \n", 10) == ["abc"]
    assert text_segmentate("，abc。", 10, strips="，。") == ["abc"]


def test_text_segmentate_joins_pieces_below_maxlen_then_splits_finer():
    # "ab,cd;" has 6 characters: "ab,cd" (5) + "ef,gh" (5) >= 6, so it closes.
    assert text_segmentate("ab,cd;ef,gh", 6, seps=";,") == ["ab,cd;", "ef,gh"]
    # A part still over maxlen splits at the next separator.
    assert text_segmentate("abcd,efgh;ij", 6, seps=";,") == ["abcd,", "efgh;", "ij"]
    # Each piece stripped of the `strips` characters.
    assert text_segmentate("aaa,bbb,ccc", 5, seps=",", strips=",") == [
        "aaa",
        "bbb",
        "ccc",
    ]
    # Out of separators: a too long part is kept whole.
    assert text_segmentate("abcdefgh,ij", 4, seps=",") == ["abcdefgh,", "ij"]
    # "a。" (2) + "b" (1) reaches maxlen 3: pieces joined must stay below it.
    assert text_segmentate("a。b。c", 3, seps=["。"]) == ["a。", "b。", "c"]
    assert text_segmentate("a。b。c", 4, seps=["。"]) == ["a。b。", "c"]


def test_truncate_sequences_pops_the_longest_first_in_place():
    first, second = list("abcdef"), list("xyz")
    out = truncate_sequences(5, -1, first, second)
    # Lengths (6, 3) -> (5, 3) -> (4, 3) -> (3, 3) -> (2, 3): ties pop the first.
    assert out == [["a", "b"], ["x", "y", "z"]]
    assert first == ["a", "b"]
    first, second = list("abcde"), list("xyz")
    assert truncate_sequences(6, 0, first, second) == [["c", "d", "e"], list("xyz")]
    # bert4keras' tokenizer pops before the trailing [SEP]: index -2.
    seq = ["[CLS]", "a", "b", "c", "[SEP]"]
    assert truncate_sequences(4, -2, seq) == [["[CLS]", "a", "b", "[SEP]"]]
    # Empty sequences and None are left out; indices per kept sequence.
    first, second = list("abcd"), list("xy")
    assert truncate_sequences(4, [0, -1], first, None, [], second) == [
        ["c", "d"],
        ["x", "y"],
    ]


# small helpers


def test_to_array_is_string_and_strQ2B():
    ids, segs = to_array([[1, 2]], [[0, 0]])
    assert isinstance(ids, np.ndarray) and ids.shape == (1, 2)
    np.testing.assert_array_equal(segs, [[0, 0]])
    single = to_array([3, 4])
    assert isinstance(single, np.ndarray)
    np.testing.assert_array_equal(single, [3, 4])
    assert is_string("a") and not is_string(b"a") and not is_string(1)
    assert strQ2B("ｈｅｌｌｏ，　ｗｏｒｌｄ！中") == "hello, world!中"


def test_open_iterates_reads_and_indexes_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    with open(str(path), "w", encoding="utf-8") as f:
        f.write("一\n")
        f.write("two\nthree\n")
    with open(str(path), encoding="utf-8") as f:
        assert [line.rstrip("\n") for line in f] == ["一", "two", "three"]
    with open(str(path), encoding="utf-8") as f:
        assert next(f) == "一\n"
        assert f.readline() == "two\n"
    index = tmp_path / "offsets.json"
    with open(str(path), encoding="utf-8", indexable=str(index)) as f:
        assert len(f) == 3
        assert f[2] == "three\n" and f[0] == "一\n"
    assert index.exists()
    with open(str(path), encoding="utf-8", indexable=str(index)) as f:
        assert f[1] == "two\n"  # offsets read back from the JSON file
    with open(str(path), "rb") as f:
        assert f.read().endswith(b"three\n")


def _square(x):
    return x * x


@pytest.mark.parametrize("dummy", [True, False], ids=["threads", "processes"])
def test_parallel_apply_returns_every_result_in_input_order(dummy):
    out = parallel_apply(_square, range(20), workers=2, max_queue_size=3, dummy=dummy)
    assert out == [i * i for i in range(20)]
    seen = []
    result = parallel_apply(
        _square,
        iter(range(5)),
        2,
        2,
        callback=seen.append,
        dummy=dummy,
        random_seeds=[1, 2],
        unordered=False,
    )
    assert result is None and seen == [0, 1, 4, 9, 16]


# DataGenerator


class TextBatches(DataGenerator):
    """A bert4keras script's generator: `(token_ids, label)` examples.

    Records the padded length of every batch `__iter__` yields, so tests can
    check what the raw stream looked like.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.raw_lengths = []

    def __iter__(self, random=False):
        batch_token_ids, batch_segment_ids, batch_labels = [], [], []
        for is_end, (token_ids, label) in self.sample(random):
            segment_ids = [0] * len(token_ids)
            batch_token_ids.append(token_ids)
            batch_segment_ids.append(segment_ids)
            batch_labels.append([label])
            if len(batch_token_ids) == self.batch_size or is_end:
                batch_token_ids = sequence_padding(batch_token_ids)
                batch_segment_ids = sequence_padding(batch_segment_ids)
                batch_labels = sequence_padding(batch_labels)
                self.raw_lengths.append(batch_token_ids.shape[1])
                yield [batch_token_ids, batch_segment_ids], batch_labels
                batch_token_ids, batch_segment_ids, batch_labels = [], [], []


def _text_data(n=40, long=(0, 1)):
    """`n` examples of 3 tokens, those in `long` of 9; the token ids encode the index."""
    data = []
    for i in range(n):
        length = 9 if i in long else 3
        data.append(([i + 1] * length, i % 2))
    return data


def _two_input_model():
    token_ids = keras.Input((None,), dtype="int32", name="Input-Token")
    segment_ids = keras.Input((None,), dtype="int32", name="Input-Segment")
    x = keras.layers.Embedding(64, 8)(token_ids)
    x = x + keras.layers.Embedding(2, 8)(segment_ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    probas = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model([token_ids, segment_ids], probas)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy"
    )
    return model


class CountBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def _fit_as_bert4keras_does(model, train_generator, epochs=2):
    """`model.fit(gen.forfit(), steps_per_epoch=len(gen), ...)`: steps run, losses."""
    counter = CountBatches()
    history = model.fit(
        train_generator.forfit(),
        steps_per_epoch=len(train_generator),
        epochs=epochs,
        callbacks=[counter],
        verbose=0,
    )
    return counter.batches, history.history["loss"]


def test_fit_on_list_batches_whose_first_two_share_a_length():
    """The bert4keras call trains every step although batches 1 and 2 share a length.

    Without `forfit`'s reordering, Keras' TensorFlow adapter fixes the length
    at 3 from the first two batches and the first batch of length 9 stops
    `fit` (keras-team/keras#19124); lists in the batches stop it even
    earlier.
    """
    train_generator = TextBatches(_text_data(), batch_size=4)
    model = _two_input_model()
    np.random.seed(0)  # the shuffle this test is written for (see below)
    steps, losses = _fit_as_bert4keras_does(model, train_generator, epochs=2)
    assert steps == 2 * len(train_generator) == 20
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    # The case at stake did happen: in `__iter__`'s own order the first two
    # batches shared their length and a later one had another.
    first_epoch = train_generator.raw_lengths[:10]
    assert first_epoch[0] == first_epoch[1] == 3, first_epoch
    assert 9 in first_epoch[2:], first_epoch


def test_fit_on_batches_without_targets():
    """`yield [token_ids, segment_ids], None` (a model with its own loss) trains too."""

    class Seq2SeqBatches(TextBatches):
        def __iter__(self, random=False):
            for x, _ in super().__iter__(random):
                yield x, None

    class OwnLoss(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(keras.ops.mean(keras.ops.square(inputs)))
            return inputs

    token_ids = keras.Input((None,), dtype="int32")
    segment_ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(64, 4)(token_ids) + keras.layers.Embedding(2, 4)(
        segment_ids
    )
    model = keras.Model([token_ids, segment_ids], OwnLoss()(x))
    model.compile(optimizer="sgd")
    train_generator = Seq2SeqBatches(_text_data(n=12, long=(3,)), batch_size=4)
    steps, losses = _fit_as_bert4keras_does(model, train_generator, epochs=2)
    assert steps == 2 * len(train_generator) == 6
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)


def _example_ids(batch):
    (token_ids, _), _ = batch
    return [int(row[0]) - 1 for row in token_ids]


def test_forfit_trains_every_example_once_per_epoch_and_leads_with_two_shapes():
    gen = TextBatches(_text_data(), batch_size=4)
    np.random.seed(0)
    stream = gen.forfit()
    batches = [next(stream) for _ in range(2 * len(gen))]
    # Keras-ready: tuples of NumPy arrays.
    x, y = batches[0]
    assert isinstance(x, tuple) and all(isinstance(a, np.ndarray) for a in x)
    assert isinstance(y, np.ndarray) and y.shape == (4, 1)
    assert batches[0][0][0].shape[1] != batches[1][0][0].shape[1]
    for epoch in (batches[:10], batches[10:]):
        ids = sorted(i for batch in epoch for i in _example_ids(batch))
        assert ids == list(range(40))
    # Only the first epoch's order changes: the second is `__iter__`'s own.
    assert [b[0][0].shape[1] for b in batches[10:]] == gen.raw_lengths[10:20]


def test_forfit_reads_only_up_to_the_first_batch_of_another_shape():
    gen = TextBatches(_text_data(n=40, long=(21,)), batch_size=4)
    stream = gen.forfit(random=False)
    first, second = next(stream), next(stream)
    assert gen.raw_lengths == [3, 3, 3, 3, 3, 9]  # batch 5 holds example 21
    assert _example_ids(first) == [0, 1, 2, 3]
    assert _example_ids(second) == [20, 21, 22, 23]
    rest = [_example_ids(next(stream)) for _ in range(8)]
    assert [ids[0] for ids in rest] == [8, 12, 16, 4, 24, 28, 32, 36]
    # One fixed shape: at most about `buffer_size` examples are held back.
    gen = TextBatches(_text_data(n=40, long=()), batch_size=4, buffer_size=8)
    stream = gen.forfit(random=False)
    next(stream), next(stream)
    assert len(gen.raw_lengths) == 3


def test_forfit_standardizes_structures():
    class Shapes(DataGenerator):
        def __iter__(self, random=False):
            for _, d in self.sample(random):
                yield d

    ids = np.ones((2, 3), "int32")
    gen = Shapes(
        [
            ({"a": [ids, ids], "b": ids}, [[1], [0]]),
            ([ids, [ids, ids]], [ids, ids], np.ones(2)),
            (ids,),
            ids,
        ]
    )
    stream = gen.forfit(random=False)
    out = [next(stream) for _ in range(4)]
    x, y = out[0]
    assert isinstance(x["a"], tuple) and x["b"] is ids
    assert isinstance(y, np.ndarray) and y.tolist() == [[1], [0]]
    x, y, w = out[1]
    assert isinstance(x, tuple) and isinstance(x[1], tuple) and isinstance(y, tuple)
    assert w.shape == (2,)
    assert len(out[2]) == 1 and out[2][0] is ids
    assert len(out[3]) == 1 and out[3][0] is ids
    # float64 (sequence_padding of np.zeros labels) arrives as floatx, as on
    # JAX and PyTorch; int64 ids stay.
    assert w.dtype == keras.config.floatx()
    labels = sequence_padding([np.zeros((2, 2)), np.zeros((3, 3))], seq_dims=2)
    floats = Shapes([(np.ones((1, 2), "int64"), labels)])
    x, y = next(floats.forfit(random=False))
    assert labels.dtype == "float64" and y.dtype == keras.config.floatx()
    assert x.dtype == "int64"


def test_iteration_evaluation_and_prediction_streams():
    gen = TextBatches(_text_data(n=10, long=(9,)), batch_size=4)
    assert len(gen) == 3
    # The evaluator pattern: one epoch in order, batches as `__iter__` yields them.
    seen = [(x, y) for x, y in gen]
    assert len(seen) == 3 and isinstance(seen[0][0], list)
    assert [x[0].shape for x, _ in seen] == [(4, 3), (4, 3), (2, 9)]
    # fortest: `(inputs,)`, in order, epoch after epoch.
    stream = gen.fortest()
    tests = [next(stream) for _ in range(4)]
    assert all(len(t) == 1 and isinstance(t[0], tuple) for t in tests)
    assert [t[0][0].shape for t in tests] == [(4, 3), (4, 3), (2, 9), (4, 3)]


def test_sample_marks_the_last_example_and_shuffles_streams():
    gen = DataGenerator(["a", "b", "c"], batch_size=2)
    assert list(gen.sample()) == [(False, "a"), (False, "b"), (True, "c")]
    stream = DataGenerator(iter(range(50)), batch_size=4, buffer_size=10)
    with pytest.raises(TypeError, match="steps_per_epoch"):
        len(stream)
    drawn = list(stream.sample(random=True))
    assert [is_end for is_end, _ in drawn] == [False] * 49 + [True]
    values = [d for _, d in drawn]
    assert sorted(values) == list(range(50)) and values != list(range(50))


def test_unsupported_and_empty_generators_fail_clearly():
    gen = DataGenerator([1, 2])
    with pytest.raises(NotImplementedError, match="__iter__"):
        next(gen.forfit())
    with pytest.raises(NotImplementedError, match="forfit"):
        gen.to_dataset(types="float32", shapes=[None])

    class Empty(DataGenerator):
        def __iter__(self, random=False):
            yield from ()

    with pytest.raises(ValueError, match="no batch"):
        next(Empty([]).forfit())
