"""Tokenizer parity with bert4keras 0.11.5 (fixtures from tools/make_bert4keras_bert_fixtures.py).

The tokenizer is pure Python over Hugging Face `tokenizers`; it runs the same
on every backend (the suite runs it under each).
"""

import json
import pathlib

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="the Tokenizer needs `tokenizers`")

from keras_rdkl.compat._tokenizer import load_vocab  # noqa: E402
from keras_rdkl.compat.bert4keras import Tokenizer  # noqa: E402

FIXTURE = pathlib.Path(__file__).parents[1] / "fixtures" / "b4k_bert_tokenizer.npz"


def _load():
    data = np.load(FIXTURE)
    return [str(t) for t in data["vocab"]], json.loads(str(data["cases_json"]))


VOCAB, CASES = _load()


@pytest.fixture(scope="module")
def dict_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tokenizers(dict_path):
    return {lower: Tokenizer(dict_path, do_lower_case=lower) for lower in (False, True)}


def _ids(case):
    return [f"lower={case['lower']}", repr(case["text"][:24])]


SINGLE = [c for c in CASES if "second" not in c]
PAIRS = [c for c in CASES if "second" in c]


def test_fixture_covers_the_cases():
    assert len(SINGLE) == 32 and len(PAIRS) == 10
    # Unknown words, a word over word_maxlen, accents, Chinese and truncation.
    assert any(1 in c["encode"][0] for c in SINGLE)
    assert any(len(c["text"]) > 200 for c in SINGLE)
    assert any(len(c["encode"][0]) > 8 for c in SINGLE)


@pytest.mark.parametrize("case", SINGLE, ids=lambda c: "-".join(_ids(c)))
def test_single_text_matches_bert4keras(tokenizers, case):
    tok = tokenizers[case["lower"]]
    text = case["text"]
    tokens = tok.tokenize(text)
    assert tokens == case["tokens"]
    assert tok.tokenize(text, maxlen=6) == case["tokens_max6"]
    assert [list(x) for x in tok.encode(text)] == case["encode"]
    assert [list(x) for x in tok.encode(text, maxlen=8)] == case["encode_max8"]
    assert tok.rematch(text, tokens) == case["rematch"]
    assert tok.rematch(text, case["tokens_max6"]) == case["rematch_max6"]


@pytest.mark.parametrize("case", PAIRS, ids=lambda c: "-".join(_ids(c)))
def test_pair_matches_bert4keras(tokenizers, case):
    tok = tokenizers[case["lower"]]
    first, second = case["text"], case["second"]
    assert [list(x) for x in tok.encode(first, second)] == case["encode"]
    assert [list(x) for x in tok.encode(first, second, maxlen=10)] == case[
        "encode_max10"
    ]
    assert [list(x) for x in tok.encode(first, second, maxlen=7)] == case["encode_max7"]


def test_pair_truncation_rule_from_first_principles(tokenizers):
    # The longer part loses its last token before [SEP] first; ties cut the
    # first part; the pair keeps one [SEP] per part and one [CLS].
    tok = tokenizers[False]
    ids, segments = tok.encode("我爱北京天安门", "我爱", maxlen=7)
    assert tok.ids_to_tokens(ids) == ["[CLS]", "我", "爱", "[SEP]", "我", "爱", "[SEP]"]
    assert segments == [0, 0, 0, 0, 1, 1, 1]
    # Both parts count their own [CLS] while cutting (5 + 5 tokens down to
    # maxlen + 1 = 7): first, first again on the tie, then the second.
    ids, _ = tok.encode("我爱北", "天安门", maxlen=6)
    assert tok.ids_to_tokens(ids) == ["[CLS]", "我", "[SEP]", "天", "安", "[SEP]"]


def test_vocab_attributes_and_lookups(tokenizers, dict_path):
    tok = tokenizers[True]
    assert tok.vocab_size == len(VOCAB) == tok._vocab_size
    assert (tok._token_pad_id, tok._token_unk_id, tok._token_start_id) == (0, 1, 2)
    assert (tok._token_end_id, tok._token_mask_id) == (3, 4)
    assert tok.token_to_id("hello") == VOCAB.index("hello")
    assert tok.token_to_id("not-in-vocab") == 1
    assert tok.id_to_token(5) == VOCAB[5]
    assert tok.ids_to_tokens([2, 3]) == ["[CLS]", "[SEP]"]
    assert load_vocab(dict_path) == {t: i for i, t in enumerate(VOCAB)}
    assert Tokenizer(load_vocab(dict_path)).encode("hello") == ([2, 32, 3], [0, 0, 0])
    assert tok.stem("##ing") == "ing" and tok.stem("play") == "play"


def test_token_lists_and_left_truncation(tokenizers):
    tok = tokenizers[False]
    tokens = tok.tokenize("我爱北京天安门。")
    assert tok.encode(tokens) == tok.encode("我爱北京天安门。")
    ids, _ = tok.encode("我爱北京天安门。", maxlen=4, truncate_from="left")
    assert tok.ids_to_tokens(ids) == ["[CLS]", "门", "。", "[SEP]"]
    # rematch follows tokens that skip a left part.
    kept = ["[CLS]", "门", "。", "[SEP]"]
    assert tok.rematch("我爱北京天安门。", kept) == [[], [6], [7], []]


def test_bad_arguments_raise(tokenizers, tmp_path):
    tok = tokenizers[False]
    with pytest.raises(ValueError, match="maxlen"):
        tok.encode("hello", maxlen=0)
    with pytest.raises(ValueError, match="pattern"):
        tok.encode("hello", "world", pattern="x")
    with pytest.raises(ValueError, match="truncate_from"):
        tok.encode("hello", maxlen=2, truncate_from="middle")
    with pytest.raises(ValueError, match="is not a token of `text`"):
        tok.rematch("hello", ["world"])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.id_to_token(10_000)
    with pytest.raises(ValueError, match="token_dict"):
        Tokenizer(42)
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        Tokenizer(str(path))


def test_pickles_for_data_workers(tokenizers):
    # keras.utils.PyDataset workers and multiprocessing pickle the tokenizer.
    import pickle

    tok = tokenizers[True]
    copy = pickle.loads(pickle.dumps(tok))
    for case in SINGLE[:6]:
        assert copy.encode(case["text"]) == tok.encode(case["text"])
        tokens = copy.tokenize(case["text"])
        assert copy.rematch(case["text"], tokens) == tok.rematch(case["text"], tokens)
