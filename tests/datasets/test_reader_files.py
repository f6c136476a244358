"""Readers on awkward files: BOM, CRLF, other encodings, column counts, repairs, file:line."""

import pytest

from keras_rdkl.datasets import read_cluener_json
from keras_rdkl.datasets import read_conll
from keras_rdkl.datasets import read_germeval_tsv
from keras_rdkl.datasets import read_goemotions_tsv

BOM = b"\xef\xbb\xbf"

CONLL = "EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\nBlackburn\tI-PER\n"
CONLL_EXAMPLES = [
    (["EU", "rejects"], [("ORG", 0, 0)]),
    (["Peter", "Blackburn"], [("PER", 0, 1)]),
]
GERMEVAL = "#\tsrc\n1\tFC\tB-ORG\tO\n2\tDarmstadt\tI-ORG\tB-LOC\n\n"
GERMEVAL_EXAMPLES = [(["FC", "Darmstadt"], [("ORG", 0, 1), ("LOC", 1, 1)])]
CLUENER = '{"text": "ab", "label": {"x": {"a": [[0, 0]]}}}\n'
GOEMOTIONS = 'Nice one\t15\tid1\n"""Quoted"" text"\t2,27\tid2\n'
GOEMOTIONS_EXAMPLES = [("Nice one", [15]), ('"Quoted" text', [2, 27])]

# reader, file content, what it reads
READERS = [
    (read_conll, CONLL, (CONLL_EXAMPLES, ["ORG", "PER"])),
    (read_germeval_tsv, GERMEVAL, (GERMEVAL_EXAMPLES, ["LOC", "ORG"])),
    (read_cluener_json, CLUENER, ([(["a", "b"], [("x", 0, 0)])], ["x"])),
    (read_goemotions_tsv, GOEMOTIONS, GOEMOTIONS_EXAMPLES),
]
IDS = ["conll", "germeval", "cluener", "goemotions"]


def _write_bytes(tmp_path, data, name="data.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("reader,text,expected", READERS, ids=IDS)
def test_bom_crlf_and_both(tmp_path, reader, text, expected):
    raw = text.encode("utf-8")
    crlf = text.replace("\n", "\r\n").encode("utf-8")
    for i, data in enumerate((raw, BOM + raw, crlf, BOM + crlf)):
        path = _write_bytes(tmp_path, data, f"f{i}.txt")
        assert reader(path) == expected, data[:20]


# Files whose line 2 holds a Latin-1 "\u00e9" (byte 0xe9, invalid UTF-8) at column 4.
LATIN1 = [
    (read_conll, "EU\tB-ORG\ncaf\u00e9\tO\n"),
    (read_germeval_tsv, "#\ts\n1\tD\u00e9\tO\tO\n"),
    (read_cluener_json, CLUENER + '{"text": "caf\u00e9"}\n'),
    (read_goemotions_tsv, "ok\t1\nnon\u00e9\t2\n"),
]


@pytest.mark.parametrize("reader,text", LATIN1, ids=IDS)
def test_latin1_bytes(tmp_path, reader, text):
    path = _write_bytes(tmp_path, text.encode("latin-1"), "latin.txt")
    with pytest.raises(ValueError) as info:
        reader(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:2: byte 0xe9 at column ")
    assert "'utf-8'" in msg and "encoding=" in msg
    assert not isinstance(info.value, UnicodeDecodeError)
    with pytest.raises(
        ValueError, match=r"`encoding` must be .*Received: encoding='nope'"
    ):
        reader(path, encoding="nope")


def test_latin1_read_with_encoding(tmp_path):
    path = _write_bytes(tmp_path, LATIN1[0][1].encode("latin-1"))
    examples, _ = read_conll(path, encoding="latin-1")
    assert examples[0][0] == ["EU", "caf\u00e9"]
    with pytest.raises(ValueError, match=r"data\.txt:2: byte 0xe9 at column 4 "):
        read_conll(path)


def test_conll_bom_not_in_first_token(tmp_path):
    path = _write_bytes(tmp_path, BOM + b"\xe6\xb5\x99\tB-company\n")
    examples, labels = read_conll(path)
    assert examples[0][0] == ["\u6d59"] and labels == ["company"]


def test_conll_column_count_must_match_first_line(tmp_path):
    path = _write_bytes(
        tmp_path, b"EU NNP B-ORG\nrejects VBZ O\n\nPeter NNP extra B-PER\n"
    )
    with pytest.raises(
        ValueError, match=r"data\.txt:4: found 4 column\(s\) where .* has 3"
    ):
        read_conll(path)
    path = _write_bytes(tmp_path, b"EU\tB-ORG\nrejects\n", "short.txt")
    with pytest.raises(ValueError, match=r"short\.txt:2: found 1 column"):
        read_conll(path)
    path = _write_bytes(tmp_path, b"lonely\n", "one.txt")
    with pytest.raises(
        ValueError, match=r"one\.txt:1: expected a token and a tag column"
    ):
        read_conll(path)


def test_conll_trailing_whitespace_and_docstart(tmp_path):
    text = "-DOCSTART- O\n\nEU NNP B-ORG \nrejects VBZ O\t\n"
    path = _write_bytes(tmp_path, text.encode())
    assert read_conll(path) == ([(["EU", "rejects"], [("ORG", 0, 0)])], ["ORG"])


def test_conll_explicit_columns(tmp_path):
    path = _write_bytes(tmp_path, b"EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(path, tag_column=2)[1] == ["NP", "VP"]
    assert read_conll(path, token_column=1)[0][0][0] == ["NNP", "VBZ"]
    with pytest.raises(
        ValueError, match=r"data\.txt:1: `tag_column`=4 is out of range"
    ):
        read_conll(path, tag_column=4)
    with pytest.raises(
        ValueError, match=r"data\.txt:1: `token_column`=-5 is out of range"
    ):
        read_conll(path, token_column=-5)
    with pytest.raises(ValueError, match="name the same"):
        read_conll(path, token_column=3)
    with pytest.raises(ValueError, match="`delimiter`"):
        read_conll(path, delimiter="")
    path = _write_bytes(tmp_path, b"EU|B-ORG\n", "pipe.txt")
    assert read_conll(path, delimiter="|")[0] == [(["EU"], [("ORG", 0, 0)])]


def test_conll_bad_tag_and_scheme(tmp_path):
    path = _write_bytes(tmp_path, b"a\tO\n\nb\tO\nc\tQ-X\n")
    with pytest.raises(
        ValueError, match=r"data\.txt:4: tag 'Q-X' is not valid in scheme"
    ):
        read_conll(path)
    path = _write_bytes(tmp_path, b"a\tO\nb\tE-X\n", "e.txt")
    with pytest.raises(
        ValueError, match=r"e\.txt:2: tag 'E-X' is not valid in scheme 'bio'"
    ):
        read_conll(path)
    for bad in ("bilou", "BILOU", None):
        with pytest.raises(
            ValueError, match=r"`scheme` must be one of \['bio'.*scheme="
        ):
            read_conll(path, scheme=bad)


def test_conll_repairs_counted(tmp_path):
    text = (
        "a\tO\nb\tI-PER\nc\tI-PER\n\n"  # I- after O: 1 tag
        "d\tB-PER\ne\tI-PER\n\n"  # well-formed
        "f\tI-LOC\ng\tB-LOC\nh\tI-ORG\n"  # 2 tags
    )
    path = _write_bytes(tmp_path, text.encode())
    examples, labels, stats = read_conll(path, return_stats=True)
    assert examples[0][1] == [("PER", 1, 2)]
    assert examples[2][1] == [("LOC", 0, 0), ("LOC", 1, 1), ("ORG", 2, 2)]
    assert labels == ["LOC", "ORG", "PER"]
    assert stats == {
        "sentences": 3,
        "tokens": 8,
        "entities": 5,
        "repaired_sequences": 2,
        "repaired_tags": 3,
        "repaired_at": [f"{path}:2", f"{path}:8", f"{path}:10"],
    }
    assert read_conll(path) == (examples, labels)
    with pytest.raises(ValueError, match=r"data\.txt:2: tag 'I-PER' after 'O'"):
        read_conll(path, strict=True)


def test_conll_repairs_bioes(tmp_path):
    text = "a\tB-X\nb\tI-X\n\nc\tS-X\n"
    path = _write_bytes(tmp_path, text.encode())
    examples, _, stats = read_conll(path, scheme="bioes", return_stats=True)
    assert [s for _, s in examples] == [[("X", 0, 1)], [("X", 0, 0)]]
    assert (stats["repaired_sequences"], stats["repaired_tags"]) == (1, 1)
    assert stats["repaired_at"] == [f"{path}:2"]


def test_conll_repair_locations_capped(tmp_path):
    path = _write_bytes(tmp_path, b"".join(b"x\tI-A\n\n" for _ in range(30)))
    _, _, stats = read_conll(path, return_stats=True)
    assert stats["repaired_tags"] == 30 and len(stats["repaired_at"]) == 20


def test_germeval_stats_and_errors(tmp_path):
    text = "#\ts\n1\tA\tI-ORG\tO\n2\tB\tI-ORG\tI-LOC\n\n"
    path = _write_bytes(tmp_path, text.encode())
    examples, _, stats = read_germeval_tsv(path, return_stats=True)
    assert examples[0][1] == [("ORG", 0, 1), ("LOC", 1, 1)]
    assert (stats["repaired_sequences"], stats["repaired_tags"]) == (1, 2)
    assert stats["repaired_at"] == [f"{path}:2", f"{path}:3"]
    extra = _write_bytes(tmp_path, b"1\tA\tO\tO\textra\n", "x.tsv")
    with pytest.raises(ValueError, match=r"x\.tsv:1: expected 4 tab-separated"):
        read_germeval_tsv(extra)


@pytest.mark.parametrize(
    "row,match",
    [
        ("text only", "expected 2 or 3"),
        ("t\t1\tid\tmore", "expected 2 or 3"),
        ("t\t28\tid", r"integers in \[0, 28\); got '28'"),
        ("t\t-1\tid", "integers in"),
        ("t\t\tid", "integers in"),
        ("t\ta,b\tid", "integers in"),
    ],
)
def test_goemotions_bad_rows(tmp_path, row, match):
    path = _write_bytes(tmp_path, f"ok\t1\tid\n\n{row}\n".encode(), "train.tsv")
    with pytest.raises(ValueError, match=rf"train\.tsv:3: .*{match}"):
        read_goemotions_tsv(path)


def test_goemotions_multiline_quoted_text(tmp_path):
    path = _write_bytes(tmp_path, b'"two\nlines"\t3\tid\nbad\t99\tid\n')
    with pytest.raises(ValueError, match=r"data\.txt:3: "):
        read_goemotions_tsv(path)
    assert read_goemotions_tsv(path, num_labels=100) == [
        ("two\nlines", [3]),
        ("bad", [99]),
    ]
    with pytest.raises(ValueError, match="num_labels"):
        read_goemotions_tsv(path, num_labels=0)


def test_cluener_positions_not_a_list(tmp_path):
    path = _write_bytes(tmp_path, b'{"text": "ab", "label": {"x": {"a": 0}}}\n')
    with pytest.raises(ValueError, match=r"data\.txt:1: positions of 'a'"):
        read_cluener_json(path)


def test_conll_iob1_file(tmp_path):
    # Original CoNLL-2003 style: I- opens entities, B- only between two of a type.
    text = "U.N. NNP I-NP I-ORG\nofficial NN I-NP O\nEkeus NNP I-NP I-PER\n"
    text += "Blix NNP I-NP B-PER\n"
    path = _write_bytes(tmp_path, text.encode())
    examples, _, stats = read_conll(path, scheme="iob1", return_stats=True)
    assert examples[0][1] == [("ORG", 0, 0), ("PER", 2, 2), ("PER", 3, 3)]
    assert stats["repaired_tags"] == 0
    same, _, as_bio = read_conll(path, scheme="bio", return_stats=True)
    assert same == examples and as_bio["repaired_tags"] == 2
