"""Span encoding/decoding and character <-> token offsets."""

import keras
import numpy as np
import pytest

from keras_rdkl import losses
from keras_rdkl import mask_value
from keras_rdkl import spans as sp


def _logits_from(span_scores, heads, length, fill=-3.0):
    x = np.full((heads, length, length), fill, dtype="float32")
    for (t, s, e), v in span_scores.items():
        x[t, s, e] = v
    return x


# ----------------------------------------------------------------- encoding


def test_encode_dense_marks_exactly_the_spans():
    spans = [(0, 1, 3), (1, 0, 0), (0, 2, 2), (0, 1, 3)]
    y = sp.encode_spans(spans, num_types=2, length=5)
    assert y.shape == (2, 5, 5) and y.dtype == np.float32
    expected = np.zeros((2, 5, 5), "float32")
    expected[0, 1, 3] = expected[1, 0, 0] = expected[0, 2, 2] = 1
    np.testing.assert_array_equal(y, expected)


def test_encode_sparse_indices_and_padding():
    y = sp.encode_spans(
        [(0, 1, 3), (0, 0, 0), (2, 4, 4)], num_types=3, length=5, sparse=True
    )
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[0, 1 * 5 + 3], [-1, -1], [24, -1]])


def test_encode_empty_span_set():
    assert sp.encode_spans([], 2, 4).sum() == 0
    np.testing.assert_array_equal(sp.encode_spans([], 2, 4, sparse=True), [[-1], [-1]])
    np.testing.assert_array_equal(
        sp.encode_spans([], 1, 4, sparse=True, max_spans=3), [[-1, -1, -1]]
    )


@pytest.mark.parametrize(
    "spans, match",
    [
        ([(0, 3, 2)], "start 3 > end 2"),
        ([(0, 0, 5)], "outside"),
        ([(0, -1, 2)], "outside"),
        ([(2, 0, 1)], "type 2"),
        ([(0, 1)], "triples"),
    ],
)
def test_encode_rejects_bad_spans(spans, match):
    with pytest.raises(ValueError, match=match):
        sp.encode_spans(spans, num_types=2, length=5)


def test_encode_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_types"):
        sp.encode_spans([], 0, 4)
    with pytest.raises(ValueError, match="length"):
        sp.encode_spans([], 1, 2.5)
    with pytest.raises(ValueError, match="max_spans"):
        sp.encode_spans([(0, 0, 1), (0, 1, 1)], 1, 4, sparse=True, max_spans=1)


def test_encode_batch_pads_k_across_batch():
    batch = [[(0, 0, 1), (0, 2, 3), (1, 1, 1)], [], [(1, 3, 3)]]
    y = sp.encode_batch(batch, num_types=2, length=4, sparse=True)
    assert y.shape == (3, 2, 2)
    np.testing.assert_array_equal(y[0], [[1, 11], [5, -1]])
    np.testing.assert_array_equal(y[1], [[-1, -1], [-1, -1]])
    np.testing.assert_array_equal(y[2], [[-1, -1], [15, -1]])
    dense = sp.encode_batch(batch, num_types=2, length=4)
    assert dense.shape == (3, 2, 4, 4)
    assert dense.sum() == 4 and dense[2, 1, 3, 3] == 1
    assert sp.encode_batch([], 2, 4).shape == (0, 2, 4, 4)


def test_sparse_encoding_matches_dense_in_the_sparse_loss():
    # -1 padding is ignored by the native sparse loss; the span (0, 0) is kept.
    batch = [[(0, 0, 0), (0, 1, 3)], [(1, 2, 2)]]
    dense = sp.encode_batch(batch, 2, 4)
    sparse = sp.encode_batch(batch, 2, 4, sparse=True)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 2, 4, 4)).astype("float32")
    a = losses.multilabel_categorical_crossentropy(dense, logits, axis=(-2, -1))
    b = losses.sparse_multilabel_categorical_crossentropy(sparse, logits, axis=(-2, -1))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-5
    )


# ----------------------------------------------------------------- decoding


def test_round_trip_nested_spans():
    spans = [(0, 0, 4), (0, 1, 2), (1, 1, 1), (1, 0, 4), (0, 3, 3)]
    y = sp.encode_spans(spans, 2, 6)
    logits = np.where(y > 0, 2.0, -2.0)
    decoded = sp.decode_spans(logits)
    assert [d[:3] for d in decoded] == sorted(spans, key=lambda s: (s[1], s[2], s[0]))
    assert all(d[3] == 2.0 for d in decoded)


def test_round_trip_batch_and_empty():
    batch = [[(0, 1, 2)], [], [(0, 0, 0), (0, 0, 3)]]
    y = sp.encode_batch(batch, 1, 4)
    out = sp.decode_spans(np.where(y > 0, 1.0, -1.0))
    assert [[d[:3] for d in s] for s in out] == [
        [(0, 1, 2)],
        [],
        [(0, 0, 0), (0, 0, 3)],
    ]


def test_decode_backend_tensor_and_threshold():
    x = _logits_from({(0, 0, 1): 0.5, (0, 2, 3): 2.0}, 1, 4)
    t = keras.ops.convert_to_tensor(x[None])
    assert [d[:3] for d in sp.decode_spans(t)[0]] == [(0, 0, 1), (0, 2, 3)]
    assert [d[:3] for d in sp.decode_spans(t, threshold=1.0)[0]] == [(0, 2, 3)]
    assert sp.decode_spans(t, threshold=-10.0)[0][0][:3] == (0, 0, 0)


def test_decode_never_returns_masked_lower_triangle_or_padding():
    x = _logits_from({(0, 2, 1): 5.0, (0, 0, 1): 1.0, (0, 1, 3): 3.0}, 1, 4)
    x[0, 0, 2] = mask_value("float32")
    x[0, 0, 3] = -np.inf
    x[0, 3, 3] = np.nan
    # Even the lowest threshold allowed (just above MASK_THRESHOLD) never
    # reaches masked values.
    assert [d[:3] for d in sp.decode_spans(x, threshold=-1.99e4)] == [
        (0, 0, 0),
        (0, 0, 1),
        (0, 1, 1),
        (0, 1, 2),
        (0, 1, 3),
        (0, 2, 2),
        (0, 2, 3),
    ]
    assert [d[:3] for d in sp.decode_spans(x)] == [(0, 0, 1), (0, 1, 3)]
    # Token 3 is padding: (0, 1, 3) goes.
    assert [d[:3] for d in sp.decode_spans(x, mask=[1, 1, 1, 0])] == [(0, 0, 1)]


def test_decode_float16_mask_value():
    x = np.full((1, 3, 3), mask_value("float16"), dtype="float16")
    assert sp.decode_spans(x, threshold=-1.99e4) == []


def test_flat_decode_greedy_hand_worked():
    # Scores: A (0,0-2)=3, B (1,2-4)=4, C (0,4-5)=2, D (1,0-0)=1, E (0,5-5)=2.5
    # Greedy: B (2..4) kept; E (5..5) no overlap -> kept; A overlaps B -> out;
    # C overlaps B and E -> out; D (0..0) no overlap -> kept.
    x = _logits_from(
        {
            (0, 0, 2): 3.0,
            (1, 2, 4): 4.0,
            (0, 4, 5): 2.0,
            (1, 0, 0): 1.0,
            (0, 5, 5): 2.5,
        },
        2,
        6,
    )
    flat = sp.decode_spans(x, flat=True)
    assert [d[:3] for d in flat] == [(1, 0, 0), (1, 2, 4), (0, 5, 5)]
    assert len(sp.decode_spans(x)) == 5


def test_flat_decode_same_span_two_types_keeps_best():
    x = _logits_from({(0, 1, 2): 1.0, (1, 1, 2): 2.0}, 2, 4)
    assert [d[:3] for d in sp.decode_spans(x, flat=True)] == [(1, 1, 2)]


def test_decode_validates():
    with pytest.raises(ValueError, match="logits"):
        sp.decode_spans(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="threshold"):
        sp.decode_spans(np.zeros((1, 2, 2)), threshold="0")
    with pytest.raises(ValueError, match="mask"):
        sp.decode_spans(np.zeros((2, 1, 3, 3)), mask=np.ones((2, 4)))


# ----------------------------------------------------------------- offsets

TEXT = "Jon Smithson lives in NewYork."
# A subword tokenizer: [CLS] Jon Smith ##son lives in New ##York . [SEP] [PAD]
OFFSETS = [
    (0, 0),  # [CLS]
    (0, 3),  # Jon
    (4, 9),  # Smith
    (9, 12),  # ##son
    (13, 18),  # lives
    (19, 21),  # in
    (22, 25),  # New
    (25, 29),  # ##York
    (29, 30),  # .
    (0, 0),  # [SEP]
    (0, 0),  # [PAD]
]


def _char_span(word, t):
    a = TEXT.index(word)
    return (t, a, a + len(word) - 1)


def test_offsets_word_split_into_subwords():
    spans = [_char_span("Jon Smithson", 0), _char_span("NewYork", 1)]
    tok = sp.char_to_token_spans(spans, OFFSETS)
    assert tok == [(0, 1, 3), (1, 6, 7)]
    back = sp.token_to_char_spans(tok, OFFSETS)
    assert back == spans
    assert [TEXT[a : b + 1] for _, a, b in back] == ["Jon Smithson", "NewYork"]


def test_offsets_partial_token_expands_to_covering_tokens():
    # "York" is inside the token pair New|##York -> only ##York; "ewY" spans both.
    assert sp.char_to_token_spans([_char_span("York", 0)], OFFSETS) == [(0, 7, 7)]
    assert sp.char_to_token_spans([_char_span("ewY", 0)], OFFSETS) == [(0, 6, 7)]
    # "mith" sits inside "Smith": expands to the whole token, text "Smith".
    tok = sp.char_to_token_spans([_char_span("mith", 0)], OFFSETS)
    assert tok == [(0, 2, 2)]
    ((_, a, b),) = sp.token_to_char_spans(tok, OFFSETS)
    assert TEXT[a : b + 1] == "Smith"


def test_offsets_merged_characters():
    # A tokenizer that merges characters into one token: "lives in" -> one token.
    offsets = [(0, 0), (0, 3), (4, 12), (13, 18), (0, 0)]
    text = "Jon Smithson lives"
    assert text[4:12] == "Smithson"
    assert sp.char_to_token_spans([(0, 4, 6)], offsets) == [(0, 2, 2)]
    assert sp.token_to_char_spans([(0, 2, 2)], offsets) == [(0, 4, 11)]


def test_offsets_exclusive_convention_and_whitespace_and_special_tokens():
    a = TEXT.index("NewYork")
    assert sp.char_to_token_spans([(0, a, a + 7)], OFFSETS, inclusive=False) == [
        (0, 6, 7)
    ]
    # A span over the space between "Jon" and "Smith" touches no token: dropped.
    assert sp.char_to_token_spans([(0, 3, 3)], OFFSETS) == []
    # Special tokens at the edges are skipped; only-special spans dropped.
    assert sp.token_to_char_spans([(0, 0, 1, 0.7)], OFFSETS, inclusive=False) == [
        (0, 0, 3, 0.7)
    ]
    assert sp.token_to_char_spans([(0, 9, 10)], OFFSETS) == []
    # Special tokens with (0, 0) offsets never attach to a span starting at 0.
    assert sp.char_to_token_spans([(0, 0, 2)], OFFSETS) == [(0, 1, 1)]


def test_offsets_validate():
    with pytest.raises(ValueError, match="start <= end"):
        sp.token_to_char_spans([(0, 3, 2)], OFFSETS)
    with pytest.raises(ValueError, match="len\\(offsets\\)"):
        sp.token_to_char_spans([(0, 0, 11)], OFFSETS)
    with pytest.raises(ValueError, match="offsets"):
        sp.char_to_token_spans([(0, 0, 1)], [(3, 1)])
    with pytest.raises(ValueError, match="empty"):
        sp.char_to_token_spans([(0, 4, 3)], OFFSETS)


def test_decode_then_offsets_end_to_end():
    length = len(OFFSETS)
    gold_chars = [_char_span("Jon Smithson", 0), _char_span("NewYork", 1)]
    targets = sp.encode_spans(sp.char_to_token_spans(gold_chars, OFFSETS), 2, length)
    logits = np.where(targets > 0, 4.0, -4.0)
    mask = [1] * 10 + [0]
    decoded = sp.decode_spans(logits[None], mask=np.array([mask]))[0]
    chars = sp.token_to_char_spans(decoded, OFFSETS)
    assert [c[:3] for c in chars] == gold_chars


# ----------------------------------------------------------------- docs


def test_docs_spans_guide_runs(capsys):
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "spans.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    namespace = {}
    exec(compile("\n".join(blocks), "docs/spans.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "[(0, 1, 3), (1, 6, 7)]" in out
    assert "[[(0, 1, 3, 4.0)]]" in out


def test_docstring_examples_run():
    import doctest

    from keras_rdkl.compat import bert4keras
    from keras_rdkl.metrics import span_f1

    for module in (sp, span_f1, bert4keras):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# ----------------------------------------------------------------- argument audit


@pytest.mark.parametrize(
    "spans, fragment",
    [
        ([(0, 1.0, 2)], "start 1.0 (float)"),
        ([(0, 1, np.float32(2))], "end np.float32(2.0) (float32)"),
        ([(0.0, 1, 2)], "type 0.0"),
        ([(0, True, 2)], "start True"),
        ([(0, "1", 2)], "start '1'"),
        ([(0, 1, 2, 3)], "triples"),
        ("abc", "iterable"),
        ([7], "triples"),
    ],
)
def test_encode_rejects_float_and_non_integer_positions(spans, fragment):
    with pytest.raises(ValueError, match="`spans`") as info:
        sp.encode_spans(spans, num_types=2, length=5)
    assert fragment in str(info.value)


def test_encode_accepts_numpy_integers():
    spans = [(np.int64(0), np.int32(1), np.int16(3))]
    y = sp.encode_spans(spans, np.int64(2), np.int64(5), sparse=True)
    np.testing.assert_array_equal(y, [[8], [-1]])


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(pad_value=3), "pad_value"),  # inside [1, L*L): reads as a span
        (dict(pad_value=24), "pad_value"),
        (dict(pad_value=-1.0), "pad_value"),
        (dict(pad_value=None), "pad_value"),
        (dict(sparse="yes"), "sparse"),
        (dict(num_types=2.0), "num_types"),
        (dict(length=np.float64(5)), "length"),
        (dict(max_spans=0), "max_spans"),
    ],
)
def test_encode_rejects_bad_arguments(kwargs, arg):
    args = dict(spans=[(0, 1, 2)], num_types=2, length=5, sparse=True)
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{arg}"):
        sp.encode_spans(**args)


def test_pad_value_conventions():
    # -1 and values >= L*L never collide; 0 works unless the span (0, 0) is there.
    assert sp.encode_spans([(0, 1, 2)], 1, 3, sparse=True, pad_value=9, max_spans=2)[
        0
    ].tolist() == [5, 9]
    y = sp.encode_spans([(0, 1, 2)], 2, 3, sparse=True, pad_value=0)
    np.testing.assert_array_equal(y, [[5], [0]])
    with pytest.raises(ValueError, match="pad_value=0"):
        sp.encode_spans([(1, 0, 0)], 2, 3, sparse=True, pad_value=0)
    with pytest.raises(ValueError, match="pad_value=0"):
        sp.encode_batch([[], [(1, 0, 0)]], 2, 3, sparse=True, pad_value=0)


def test_encode_batch_names_the_sample_and_validates_up_front():
    with pytest.raises(ValueError, match=r"`batch_spans\[1\]`.*outside"):
        sp.encode_batch([[(0, 0, 1)], [(0, 2, 9)]], 1, 4)
    with pytest.raises(ValueError, match=r"`batch_spans\[0\]`.*float"):
        sp.encode_batch([[(0, 0.0, 1)]], 1, 4, sparse=True)
    # Checked even for an empty batch.
    with pytest.raises(ValueError, match="num_types"):
        sp.encode_batch([], 0, 4, sparse=True)
    with pytest.raises(ValueError, match="batch_spans"):
        sp.encode_batch("spans", 1, 4)
    assert sp.encode_batch([], 2, 3).shape == (0, 2, 3, 3)
    assert sp.encode_batch([], 2, 3, sparse=True).shape == (0, 2, 1)


@pytest.mark.parametrize(
    "threshold",
    [-1e30, -2.0e4, float("nan"), float("inf"), -float("inf"), "0", None, True],
)
def test_decode_rejects_bad_thresholds(threshold):
    with pytest.raises(ValueError, match="`threshold`"):
        sp.decode_spans(np.zeros((1, 2, 2)), threshold=threshold)


def test_decode_accepts_numpy_threshold_and_rejects_bad_flat_and_mask():
    x = _logits_from({(0, 0, 1): 0.5}, 1, 3)
    assert [d[:3] for d in sp.decode_spans(x, threshold=np.float32(0.25))] == [
        (0, 0, 1)
    ]
    with pytest.raises(ValueError, match="`flat`"):
        sp.decode_spans(x, flat="yes")
    with pytest.raises(ValueError, match="`mask`"):
        sp.decode_spans(x, mask=[1, 2, 1])
    with pytest.raises(ValueError, match="`mask`"):
        sp.decode_spans(x, mask=[1, 1])
    with pytest.raises(ValueError, match="`logits`"):
        sp.decode_spans(np.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match="`logits`"):
        sp.decode_spans(np.zeros((1, 1, 1, 3, 3)))


@pytest.mark.parametrize("flat", [False, True])
def test_decode_of_layer_output_never_yields_masked_spans(flat):
    from keras_rdkl.layers import GlobalPointer

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6, 8)).astype("float32")
    mask = np.arange(6)[None] < np.array([[6], [2], [0]])
    logits = keras.ops.convert_to_numpy(GlobalPointer(2, 4)(x, mask=mask))
    decoded = sp.decode_spans(logits, threshold=-1.99e4, flat=flat)
    for b, spans in enumerate(decoded):
        for _t, s, e, score in spans:
            assert mask[b, s] and mask[b, e] and s <= e
            assert score > -2.0e4
    # Without flat, every unmasked upper-triangle cell decodes at this threshold.
    if not flat:
        assert [len(d) for d in decoded] == [2 * 21, 2 * 3, 0]


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: sp.char_to_token_spans([(0, 1.5, 3)], OFFSETS), "char_start 1.5"),
        (lambda: sp.char_to_token_spans([(0, 1, 3.0)], OFFSETS), "char_end 3.0"),
        (lambda: sp.char_to_token_spans([(-1, 1, 3)], OFFSETS), "type >= 0"),
        (lambda: sp.char_to_token_spans([(0, -2, 3)], OFFSETS), "char_start >= 0"),
        (lambda: sp.char_to_token_spans([(0, 1)], OFFSETS), "triples"),
        (lambda: sp.char_to_token_spans([(0, 1, 3)], [(0, 1.0)]), "offsets[0]"),
        (lambda: sp.char_to_token_spans([(0, 1, 3)], [(0, 1, 2)]), "pairs"),
        (
            lambda: sp.char_to_token_spans([(0, 1, 3)], OFFSETS, inclusive=1),
            "inclusive",
        ),
        (lambda: sp.token_to_char_spans([(0, 1.0, 2)], OFFSETS), "token_start 1.0"),
        (lambda: sp.token_to_char_spans([(-1, 1, 2)], OFFSETS), "type >= 0"),
        (
            lambda: sp.token_to_char_spans([(0, 1, 2)], OFFSETS, inclusive="no"),
            "inclusive",
        ),
    ],
)
def test_offsets_reject_float_positions_and_bad_arguments(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value)


def test_offsets_accept_numpy_integers_and_carry_extra_fields():
    offsets = np.array(OFFSETS)
    spans = [(np.int64(0), np.int64(4), np.int64(11))]
    assert sp.char_to_token_spans(spans, offsets) == [(0, 2, 3)]
    assert sp.token_to_char_spans([(0, np.int32(2), 3, "x", 0.5)], offsets) == [
        (0, 4, 11, "x", 0.5)
    ]
