"""keras_rdkl.datasets.tags: spans <-> tags for every scheme, conlleval repairs."""

import itertools
import random

import pytest

from keras_rdkl import datasets
from keras_rdkl.datasets import tags as tags_module
from keras_rdkl.datasets.tags import SCHEMES
from keras_rdkl.datasets.tags import check_scheme
from keras_rdkl.datasets.tags import repair_tags
from keras_rdkl.datasets.tags import spans_to_tags
from keras_rdkl.datasets.tags import tag_vocabulary
from keras_rdkl.datasets.tags import tags_to_spans


def test_public_names():
    assert set(tags_module.__all__) == {
        "SCHEMES",
        "check_scheme",
        "repair_tags",
        "spans_to_tags",
        "tag_vocabulary",
        "tags_to_spans",
    }
    for name in tags_module.__all__:
        assert getattr(datasets, name) is getattr(tags_module, name)
    assert datasets.tags is tags_module


def test_check_scheme():
    assert check_scheme("BIO") == "bio"
    assert [check_scheme(s) for s in SCHEMES] == list(SCHEMES)
    for bad in ("bilou", "iob3", "", None, 3):
        with pytest.raises(ValueError, match=r"`scheme` must be one of .*bioes.*bmes"):
            check_scheme(bad)


# Hand-worked encodings: one single-token and one longer entity per scheme.
SPANS = [("PER", 0, 1), ("LOC", 3, 3), ("ORG", 4, 6)]
EXPECTED_TAGS = {
    "bio": ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O"],
    "bioes": ["B-PER", "E-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"],
    "bmes": ["B-PER", "E-PER", "O", "S-LOC", "B-ORG", "M-ORG", "E-ORG", "O"],
}
EXPECTED_TAGS["iob1"] = ["I-PER", "I-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG", "O"]
EXPECTED_TAGS["iob2"] = EXPECTED_TAGS["bio"]
EXPECTED_TAGS["iobes"] = EXPECTED_TAGS["bioes"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_spans_to_tags_hand_worked(scheme):
    tags = spans_to_tags(SPANS, 8, scheme)
    assert tags == EXPECTED_TAGS[scheme]
    assert tags_to_spans(tags, scheme, strict=True) == [
        ("PER", 0, 1),
        ("LOC", 3, 3),
        ("ORG", 4, 6),
    ]
    assert repair_tags(tags, scheme) == (tags, 0)


def _random_spans(rng, length, types=("A", "B", "C")):
    """Non-overlapping spans, adjacent ones of the same type included."""
    spans, i = [], 0
    while i < length:
        if rng.random() < 0.4:
            i += 1
            continue
        end = min(length - 1, i + rng.choice([0, 0, 1, 2, 4]))
        spans.append((rng.choice(types), i, end))
        i = end + 1
    return spans


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip_random(scheme):
    rng = random.Random(0)
    for _ in range(300):
        length = rng.randint(0, 12)
        spans = _random_spans(rng, length)
        tags = spans_to_tags(spans, length, scheme)
        assert len(tags) == length
        assert tags_to_spans(tags, scheme, strict=True) == sorted(
            spans, key=lambda s: (s[1], s[2], s[0])
        )


@pytest.mark.parametrize("scheme", ["bio", "bioes", "bmes", "iob1"])
def test_round_trip_all_short_sequences(scheme):
    """Every tag sequence of length <= 3 over two types: tags -> spans -> tags.

    Well-formed sequences come back unchanged; every sequence decodes to the
    spans of its repaired form, and repairing is idempotent.
    """
    alphabet = tag_vocabulary(["X", "Y"], scheme)
    for n in range(4):
        for seq in itertools.product(alphabet, repeat=n):
            seq = list(seq)
            spans = tags_to_spans(seq, scheme)
            fixed, changed = repair_tags(seq, scheme)
            assert changed == sum(a != b for a, b in zip(seq, fixed, strict=True))
            assert tags_to_spans(fixed, scheme, strict=True) == spans
            assert repair_tags(fixed, scheme) == (fixed, 0)
            if changed == 0:
                assert spans_to_tags(spans, n, scheme) == seq
                assert tags_to_spans(seq, scheme, strict=True) == spans
            else:
                with pytest.raises(ValueError, match="ill-formed"):
                    tags_to_spans(seq, scheme, strict=True)


# conlleval's reading of ill-formed sequences, worked by hand:
# (scheme, tags, spans conlleval reads, repaired tags, number changed)
REPAIRS = [
    # I- after O starts an entity.
    ("bio", ["O", "I-PER", "I-PER"], [("PER", 1, 2)], ["O", "B-PER", "I-PER"], 1),
    # I- at the sentence start starts an entity.
    ("bio", ["I-PER", "O"], [("PER", 0, 0)], ["B-PER", "O"], 1),
    # I- of another type than the open entity starts a new one.
    ("bio", ["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)], ["B-PER", "B-LOC"], 1),
    # IOB1-style: I-X I-X B-X is two entities, only the first tag is changed.
    (
        "bio",
        ["I-X", "I-X", "B-X", "I-X"],
        [("X", 0, 1), ("X", 2, 3)],
        ["B-X", "I-X", "B-X", "I-X"],
        1,
    ),
    # IOB1 proper: B- only where an entity follows one of the same type.
    (
        "iob1",
        ["I-X", "I-X", "B-X", "I-Y"],
        [("X", 0, 1), ("X", 2, 2), ("Y", 3, 3)],
        ["I-X", "I-X", "B-X", "I-Y"],
        0,
    ),
    # ... so an IOB2 sequence read as IOB1 has its entity-initial B- changed.
    (
        "iob1",
        ["B-X", "I-X", "O", "B-Y"],
        [("X", 0, 1), ("Y", 3, 3)],
        ["I-X", "I-X", "O", "I-Y"],
        2,
    ),
    # BIOES: an entity never closed by E- ends at its last token.
    ("bioes", ["B-ORG", "I-ORG", "O"], [("ORG", 0, 1)], ["B-ORG", "E-ORG", "O"], 1),
    ("bioes", ["B-ORG", "I-ORG"], [("ORG", 0, 1)], ["B-ORG", "E-ORG"], 1),
    # A B- followed by O is a single-token entity.
    ("bioes", ["B-ORG", "O"], [("ORG", 0, 0)], ["S-ORG", "O"], 1),
    # A lone E- is a single-token entity.
    ("bioes", ["O", "E-ORG"], [("ORG", 1, 1)], ["O", "S-ORG"], 1),
    # I- after S- of the same type starts a new entity.
    (
        "bioes",
        ["S-X", "I-X", "E-X"],
        [("X", 0, 0), ("X", 1, 2)],
        ["S-X", "B-X", "E-X"],
        1,
    ),
    # E- of another type closes the open entity and is one token itself.
    (
        "bioes",
        ["B-X", "I-X", "E-Y"],
        [("X", 0, 1), ("Y", 2, 2)],
        ["B-X", "E-X", "S-Y"],
        2,
    ),
    # BMES: the same rules with M-.
    ("bmes", ["B-a", "M-a"], [("a", 0, 1)], ["B-a", "E-a"], 1),
    ("bmes", ["M-a", "E-a"], [("a", 0, 1)], ["B-a", "E-a"], 1),
    ("bmes", ["B-a", "B-a"], [("a", 0, 0), ("a", 1, 1)], ["S-a", "S-a"], 2),
]


@pytest.mark.parametrize("scheme,tags,spans,fixed,changed", REPAIRS)
def test_conlleval_repairs(scheme, tags, spans, fixed, changed):
    assert tags_to_spans(tags, scheme) == spans
    assert repair_tags(tags, scheme) == (fixed, changed)
    if changed:
        with pytest.raises(ValueError, match=r"tag \d+: tag .* ill-formed"):
            tags_to_spans(tags, scheme, strict=True)
    else:
        assert tags_to_spans(tags, scheme, strict=True) == spans


def test_strict_error_names_location():
    where = ["f.conll:1", "f.conll:2", "f.conll:4"]
    with pytest.raises(ValueError, match=r"^f\.conll:2: tag 'I-PER' after 'O'"):
        tags_to_spans(["O", "I-PER", "I-PER"], "bio", strict=True, where=where)
    with pytest.raises(ValueError, match="one location per tag"):
        tags_to_spans(["O"], "bio", where=["a", "b"])


@pytest.mark.parametrize(
    "scheme,tag",
    [
        ("bio", "E-PER"),
        ("bio", "PER"),
        ("bio", "B-"),
        ("bioes", "M-X"),
        ("bmes", "I-X"),
    ],
)
def test_invalid_tag(scheme, tag):
    with pytest.raises(ValueError, match=rf"tag 1: tag '{tag}' is not valid in scheme"):
        tags_to_spans(["O", tag], scheme)
    with pytest.raises(ValueError, match="not valid"):
        repair_tags([tag], scheme)


def test_bad_scheme_everywhere():
    for call in (
        lambda: tags_to_spans(["O"], "bilou"),
        lambda: spans_to_tags([], 1, "bilou"),
        lambda: repair_tags(["O"], "bilou"),
        lambda: tag_vocabulary(["X"], "bilou"),
    ):
        with pytest.raises(ValueError, match="scheme"):
            call()


@pytest.mark.parametrize(
    "spans,length,match",
    [
        ([("A", 0, 2), ("B", 2, 3)], 5, "overlap at token 2"),
        ([("A", 0, 2), ("A", 1, 1)], 5, "overlap"),
        ([("A", 3, 5)], 5, "end < length=5"),
        ([("A", 2, 1)], 5, "start <= end"),
        ([("A", -1, 0)], 5, "0 <= start"),
        ([("A", 0.0, 1)], 5, "integer positions"),
        ([("", 0, 1)], 5, "non-empty string type"),
        ([("A", 0)], 5, r"\(type, start, end\)"),
        ([], -1, "length"),
        ([], 2.0, "length"),
    ],
)
def test_spans_to_tags_errors(spans, length, match):
    with pytest.raises(ValueError, match=match):
        spans_to_tags(spans, length)


def test_tag_vocabulary():
    assert tag_vocabulary(["LOC", "PER"], "bioes") == [
        "O",
        "B-LOC",
        "I-LOC",
        "E-LOC",
        "S-LOC",
        "B-PER",
        "I-PER",
        "E-PER",
        "S-PER",
    ]
    assert tag_vocabulary([], "bmes") == ["O"]
    with pytest.raises(ValueError, match="repeat"):
        tag_vocabulary(["A", "A"])
    with pytest.raises(ValueError, match="non-empty"):
        tag_vocabulary([""])
