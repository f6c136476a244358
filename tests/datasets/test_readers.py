"""Loaders on small fixture files: every tag scheme, nested spans, malformed lines."""

import inspect
import json

import pytest

from keras_rdkl import datasets
from keras_rdkl.datasets import read_cluener_json
from keras_rdkl.datasets import read_conll
from keras_rdkl.datasets import read_germeval_tsv
from keras_rdkl.datasets import tags_to_spans


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ---------------------------------------------------------------- tag schemes


@pytest.mark.parametrize(
    "scheme,tags,expected",
    [
        ("bio", ["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        ("iob2", ["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
        ("bio", ["O", "O"], []),
        ("bio", [], []),
        (
            "bioes",
            ["S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"],
            [("LOC", 0, 0), ("ORG", 1, 3)],
        ),
        ("iobes", ["B-X", "E-X", "S-X"], [("X", 0, 1), ("X", 2, 2)]),
        (
            "bmes",
            ["B-name", "M-name", "E-name", "S-game"],
            [("name", 0, 2), ("game", 3, 3)],
        ),
    ],
)
def test_tags_to_spans_valid(scheme, tags, expected):
    assert tags_to_spans(tags, scheme) == sorted(
        expected, key=lambda s: (s[1], s[2], s[0])
    )


@pytest.mark.parametrize(
    "scheme,tags,expected",
    [
        # I- that continues nothing starts a span (conlleval's repair).
        ("bio", ["O", "I-PER", "I-PER"], [("PER", 1, 2)]),
        ("bio", ["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),
        # An unclosed BIOES span ends at its last token.
        ("bioes", ["B-ORG", "I-ORG", "O"], [("ORG", 0, 1)]),
        ("bmes", ["B-a", "M-a"], [("a", 0, 1)]),
        # A lone E- is a one-token span.
        ("bioes", ["O", "E-ORG"], [("ORG", 1, 1)]),
    ],
)
def test_tags_to_spans_lenient_repairs(scheme, tags, expected):
    assert tags_to_spans(tags, scheme) == expected


@pytest.mark.parametrize(
    "scheme,tags",
    [
        ("bio", ["O", "I-PER"]),
        ("bioes", ["B-ORG", "I-ORG", "O"]),
        ("bioes", ["B-ORG", "I-ORG"]),
        ("bmes", ["E-a"]),
    ],
)
def test_tags_to_spans_strict_raises(scheme, tags):
    with pytest.raises(ValueError):
        tags_to_spans(tags, scheme, strict=True)


def test_bad_scheme_and_tag():
    with pytest.raises(ValueError, match="scheme"):
        tags_to_spans(["O"], "bilou")
    with pytest.raises(ValueError, match="E-PER"):
        tags_to_spans(["E-PER"], "bio")  # E- is not a BIO prefix
    with pytest.raises(ValueError, match="PER"):
        tags_to_spans(["PER"], "bio")


# ---------------------------------------------------------------- CoNLL

CONLL_EN = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""

CONLL_ZH_BMES = "浙\tB-company\n商\tM-company\n银\tM-company\n行\tE-company\n叶\tB-name\n老\tM-name\n桂\tE-name\n\n好\tO\n港\tS-address\n"


def test_read_conll_english_bio(tmp_path):
    path = _write(tmp_path, "en.conll", CONLL_EN)
    examples, labels = read_conll(path, scheme="bio")
    assert labels == ["MISC", "ORG", "PER"]
    assert examples == [
        (["EU", "rejects", "German", "call"], [("ORG", 0, 0), ("MISC", 2, 2)]),
        (["Peter", "Blackburn"], [("PER", 0, 1)]),
    ]
    # Another column as tags: the chunk column.
    chunks, chunk_labels = read_conll(path, tag_column=2)
    assert chunk_labels == ["NP", "VP"]
    assert chunks[0][1] == [("NP", 0, 0), ("VP", 1, 1), ("NP", 2, 3)]


def test_read_conll_chinese_bmes_and_bioes(tmp_path):
    path = _write(tmp_path, "zh.txt", CONLL_ZH_BMES)
    examples, labels = read_conll(path, scheme="bmes")
    assert labels == ["address", "company", "name"]
    assert "".join(examples[0][0]) == "浙商银行叶老桂"
    assert examples[0][1] == [("company", 0, 3), ("name", 4, 6)]
    assert examples[1] == (["好", "港"], [("address", 1, 1)])
    bioes = _write(tmp_path, "x.bioes", CONLL_ZH_BMES.replace("M-", "I-"))
    assert read_conll(bioes, scheme="bioes")[0] == examples


def test_read_conll_malformed_names_file_and_line(tmp_path):
    path = _write(tmp_path, "bad.conll", "a\tO\nb\tB-X\nlonely\n")
    with pytest.raises(ValueError, match=r"bad\.conll:3"):
        read_conll(path)
    path = _write(tmp_path, "badtag.conll", "a\tO\n\nb\tQ-X\n")
    with pytest.raises(ValueError, match=r"badtag\.conll:3.*Q-X"):
        read_conll(path)
    path = _write(tmp_path, "strict.conll", "a\tO\nb\tI-X\n")
    with pytest.raises(ValueError, match=r"strict\.conll:2"):
        read_conll(path, strict=True)
    with pytest.raises(ValueError, match="scheme"):
        read_conll(path, scheme="bilou")
    with pytest.raises(ValueError, match="tag_column"):
        read_conll(path, tag_column="1")


# ---------------------------------------------------------------- CLUENER JSON


def test_read_cluener_json(tmp_path):
    lines = [
        {
            "text": "浙商银行企业信贷部叶老桂博士",
            "label": {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}},
        },
        # Nested spans (book contains company) and a repeated mention.
        {
            "text": "《招商银行》和招商银行",
            "label": {
                "book": {"《招商银行》": [[0, 5]]},
                "company": {"招商银行": [[1, 4], [7, 10]]},
            },
        },
        {"id": 3, "text": "无标签"},
    ]
    path = _write(
        tmp_path,
        "dev.json",
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines),
    )
    examples, labels = read_cluener_json(path)
    assert labels == ["book", "company", "name"]
    assert examples[0] == (
        list("浙商银行企业信贷部叶老桂博士"),
        [("company", 0, 3), ("name", 9, 11)],
    )
    assert examples[1][1] == [("book", 0, 5), ("company", 1, 4), ("company", 7, 10)]
    assert examples[2] == (list("无标签"), [])


@pytest.mark.parametrize(
    "bad,match",
    [
        ('{"text": "abc", "label": {"x": {"abc": [[0, 2]]}}', "invalid JSON"),
        ('{"text": "abc", "label": {"x": {"abc": [[0, 3]]}}}', "outside"),
        ('{"text": "abc", "label": {"x": {"c": [[2, 1]]}}}', "end < start"),
        ('{"text": "abc", "label": {"x": {"ab": [[1, 2]]}}}', "not the mention"),
        ('{"text": "abc", "label": {"x": {"ab": [0, 1]}}}', r"\[start, end\]"),
        ('{"label": {}}', '"text"'),
    ],
)
def test_read_cluener_malformed(tmp_path, bad, match):
    good = '{"text": "ok", "label": {}}'
    path = _write(tmp_path, "train.json", "\n".join([good, good, bad]))
    with pytest.raises(ValueError, match=r"train\.json:3: .*" + match):
        read_cluener_json(path)


def test_read_cluener_unchecked_mentions(tmp_path):
    path = _write(
        tmp_path, "t.json", '{"text": "abc", "label": {"x": {"zz": [[1, 2]]}}}'
    )
    assert read_cluener_json(path, check_mentions=False)[0][0][1] == [("x", 1, 2)]


# ---------------------------------------------------------------- GermEval

GERMEVAL = (
    "#\thttp://example.org/a\t[2009-10-17]\t\n"
    "1\tDer\tO\tO\n"
    "2\tFC\tB-ORG\tO\n"
    "3\tKickers\tI-ORG\tO\n"
    "4\tDarmstadt\tI-ORG\tB-LOC\n"
    "5\tund\tO\tO\n"
    "6\tdeutsche\tB-LOCderiv\tO\n"
    "7\tFans\tO\tO\n"
    "\n"
    "#\thttp://example.org/b\t[2009-10-18]\t\n"
    "1\tBerlin\tB-LOC\tO\n"
    "2\tBerliner-Zeitung\tB-ORG\tB-LOCpart\n"
    "\n"
)


def test_read_germeval_nested(tmp_path):
    path = _write(tmp_path, "NER-de-dev.tsv", GERMEVAL)
    examples, labels = read_germeval_tsv(path)
    assert labels == ["LOC", "LOCderiv", "LOCpart", "ORG"]
    assert examples[0][0] == [
        "Der",
        "FC",
        "Kickers",
        "Darmstadt",
        "und",
        "deutsche",
        "Fans",
    ]
    # ORG [1, 3] contains the embedded LOC [3, 3]: both kept.
    assert examples[0][1] == [("ORG", 1, 3), ("LOC", 3, 3), ("LOCderiv", 5, 5)]
    # Same token, two levels, two types.
    assert examples[1][1] == [("LOC", 0, 0), ("LOCpart", 1, 1), ("ORG", 1, 1)]

    outer, outer_labels = read_germeval_tsv(path, nested=False)
    assert outer[0][1] == [("ORG", 1, 3), ("LOCderiv", 5, 5)]
    assert outer_labels == ["LOC", "LOCderiv", "ORG"]

    folded, folded_labels = read_germeval_tsv(path, subtypes="fold")
    assert folded_labels == ["LOC", "ORG"]
    assert folded[0][1] == [("ORG", 1, 3), ("LOC", 3, 3), ("LOC", 5, 5)]
    dropped, _ = read_germeval_tsv(path, subtypes="drop")
    assert dropped[0][1] == [("ORG", 1, 3), ("LOC", 3, 3)]
    assert dropped[1][1] == [("LOC", 0, 0), ("ORG", 1, 1)]


def test_read_germeval_malformed(tmp_path):
    bad = GERMEVAL.replace("5\tund\tO\tO\n", "5\tund\tO\n")
    path = _write(tmp_path, "bad.tsv", bad)
    with pytest.raises(ValueError, match=r"bad\.tsv:6"):
        read_germeval_tsv(path)
    badtag = GERMEVAL.replace("B-LOCderiv", "X-LOCderiv")
    path = _write(tmp_path, "badtag.tsv", badtag)
    with pytest.raises(ValueError, match=r"badtag\.tsv:7"):
        read_germeval_tsv(path)
    with pytest.raises(ValueError, match="subtypes"):
        read_germeval_tsv(path, subtypes="merge")


def test_loader_bad_split():
    for loader in (datasets.load_cluener, datasets.load_germeval, datasets.load_wnut17):
        with pytest.raises(ValueError, match="split"):
            loader("validation")


def test_loaders_share_the_default_split():
    names = [name for name in datasets.__all__ if name.startswith("load_")]
    loaders = [getattr(datasets, name) for name in names]
    assert len(loaders) == 4
    for loader in loaders:
        default = inspect.signature(loader).parameters["split"].default
        assert default == "train", f"{loader.__name__}: split={default!r}"
