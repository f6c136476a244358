"""Sub-word pieces aligned with words: keras_rdkl.ner.subwords.

Tokenizers are trained here, on a few hundred real sentences, nothing
downloaded: WordPiece (BERT), byte-level BPE (RoBERTa) and Unigram
(XLM-RoBERTa) with the `tokenizers` trainers, saved as Hugging Face
directories through `transformers`' tokenizer classes, and a real
`sentencepiece` model in a keras-hub preset layout (XLM-RoBERTa's fairseq ids).
The checks are host-side; only the CRF decoding runs on the backend.
"""

import io
import json

import numpy as np
import pytest

from keras_rdkl.layers import ConditionalRandomField
from keras_rdkl.ner import SubwordBatches
from keras_rdkl.ner import SubwordTokenizer
from keras_rdkl.ner import WordPieces
from keras_rdkl.ner import predict_subword_entities
from keras_rdkl.ner import predict_subword_spans
from keras_rdkl.ner.tagging import crf_constraints
from keras_rdkl.ner.tagging import flatten_spans
from keras_rdkl.ner.tagging import num_crf_tags
from keras_rdkl.ner.tagging import spans_to_tag_ids
from tests.conftest import DATA_DIR

tokenizers = pytest.importorskip("tokenizers")

SIZE = 250  # sentences per corpus
CORPORA = ("wnut17", "germeval", "cluener")
KINDS = ("wordpiece", "bytelevel", "unigram", "spm")
HAVE_DATA = all(
    (DATA_DIR / d).is_dir()
    for d in ("wnut17", "germeval2014_nested_ner", "cluener2020")
)
needs_data = pytest.mark.skipif(
    not HAVE_DATA, reason=f"real dataset folders are not all present in {DATA_DIR}"
)


def _index(examples, labels):
    ids = {t: i for i, t in enumerate(labels)}
    return [(list(w), [(ids[t], s, e) for t, s, e in spans]) for w, spans in examples]


@pytest.fixture(scope="session")
def corpora():
    """Real sentences with integer span types, by corpus: `(examples, labels)`."""
    if not HAVE_DATA:
        pytest.skip(f"real dataset folders are not all present in {DATA_DIR}")
    from keras_rdkl.datasets import load_cluener
    from keras_rdkl.datasets import load_germeval
    from keras_rdkl.datasets import load_wnut17

    out = {}
    for name, (examples, labels) in (
        ("wnut17", load_wnut17("dev", path=DATA_DIR / "wnut17")),
        ("germeval", load_germeval("dev", path=DATA_DIR / "germeval2014_nested_ner")),
        ("cluener", load_cluener("dev", path=DATA_DIR / "cluener2020")),
    ):
        out[name] = (_index(examples[:SIZE], labels), labels)
    return out


def _texts(corpora):
    for name, (examples, _) in corpora.items():
        sep = "" if name == "cluener" else " "
        for words, _ in examples:
            yield sep.join(words)


@pytest.fixture(scope="session")
def trained(corpora, tmp_path_factory):
    """The four tokenizers as `SubwordTokenizer`s read from their directories.

    Returns `{kind: (SubwordTokenizer, reference)}`, the reference being the
    transformers tokenizer (or the SentencePiece processor) to compare with.
    """
    from tokenizers import Tokenizer
    from tokenizers import decoders
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers
    from tokenizers import trainers

    transformers = pytest.importorskip("transformers")
    texts = list(_texts(corpora))
    root = tmp_path_factory.mktemp("tokenizers")
    out = {}

    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=False)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wp.train_from_iterator(
        texts,
        trainers.WordPieceTrainer(
            vocab_size=1500, special_tokens=specials, show_progress=False
        ),
    )
    bert = transformers.BertTokenizerFast(vocab=wp.get_vocab(), do_lower_case=False)
    bert.save_pretrained(root / "bert")
    out["wordpiece"] = (SubwordTokenizer.from_directory(root / "bert"), bert)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=1500,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    state = json.loads(bpe.to_str())["model"]
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]
    ]
    roberta = transformers.RobertaTokenizerFast(
        vocab=state["vocab"], merges=merges, add_prefix_space=True
    )
    roberta.save_pretrained(root / "roberta")
    out["bytelevel"] = (SubwordTokenizer.from_directory(root / "roberta"), roberta)

    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.NFKC()
    uni.pre_tokenizer = pre_tokenizers.Metaspace()
    uni.train_from_iterator(
        texts,
        trainers.UnigramTrainer(
            vocab_size=4000,
            special_tokens=specials[:4],
            unk_token="<unk>",
            show_progress=False,
        ),
    )
    vocab = [tuple(p) for p in json.loads(uni.to_str())["model"]["vocab"]]
    xlmr = transformers.XLMRobertaTokenizerFast(vocab=vocab)
    xlmr.save_pretrained(root / "xlmr")
    out["unigram"] = (SubwordTokenizer.from_directory(root / "xlmr"), xlmr)

    sentencepiece = pytest.importorskip("sentencepiece")
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=proto,
        vocab_size=3000,
        model_type="unigram",
        character_coverage=0.9995,
        minloglevel=2,
    )
    preset = root / "xlmr_preset"
    (preset / "assets" / "tokenizer").mkdir(parents=True)
    (preset / "assets" / "tokenizer" / "vocabulary.spm").write_bytes(proto.getvalue())
    (preset / "tokenizer.json").write_text(
        json.dumps(
            {
                "module": "keras_hub.src.models.xlm_roberta.xlm_roberta_tokenizer",
                "class_name": "XLMRobertaTokenizer",
                "config": {},
                "registered_name": "keras_hub>XLMRobertaTokenizer",
            }
        )
    )
    processor = sentencepiece.SentencePieceProcessor(model_proto=proto.getvalue())
    out["spm"] = (SubwordTokenizer.from_directory(preset), processor)
    return out


def _reference_ids(kind, reference, words, char_level):
    """What the reference tokenizer gives: running text for word corpora."""
    if kind == "spm":
        ids = reference.encode(words if char_level else [" ".join(words)], out_type=int)
        unk = reference.unk_id()
        return [3 if i == unk else i + 1 for piece in ids for i in piece]
    if kind == "bytelevel" or char_level:
        enc = reference(words, is_split_into_words=True, add_special_tokens=False)
        return enc["input_ids"]
    return reference(" ".join(words), add_special_tokens=False)["input_ids"]


# Alignment on real sentences.


@needs_data
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("corpus", CORPORA)
def test_round_trip_is_exact_on_real_sentences(trained, corpora, kind, corpus):
    tok, reference = trained[kind]
    examples, _ = corpora[corpus]
    char_level = corpus == "cluener"
    encoded = tok.encode_batch([w for w, _ in examples])
    spans_seen = reordered = 0
    for (words, spans), pieces in zip(examples, encoded, strict=True):
        expected = _reference_ids(kind, reference, words, char_level)
        if kind == "unigram" and pieces.ids.tolist() != expected:
            # Equal-score segmentations ("KE KEKE" / "KEKE KE") of a model trained
            # on a few hundred sentences: `tokenizers` breaks such ties
            # differently in two copies of one model. Same pieces, same text.
            assert sorted(pieces.ids.tolist()) == sorted(expected)
            reordered += 1
        else:
            assert pieces.ids.tolist() == expected
        piece_spans, dropped = pieces.to_piece_spans(spans)
        assert dropped == 0
        back = pieces.to_word_spans(piece_spans)
        assert sorted(back) == sorted(spans)
        for (_, a, b), (_, s, e) in zip(piece_spans, spans, strict=True):
            # The first piece of the start word to the last of the end word.
            assert pieces.word_index[a] == s and pieces.word_index[b] == e
            assert a == 0 or pieces.word_index[a - 1] < s
            assert b == len(pieces) - 1 or pieces.word_index[b + 1] > e
        spans_seen += len(spans)
    assert spans_seen > 50 and reordered <= 3


@needs_data
@pytest.mark.parametrize("kind", ["wordpiece", "bytelevel", "unigram"])
def test_special_ids_match_transformers(trained, kind):
    tok, reference = trained[kind]
    assert (tok.cls_id, tok.sep_id, tok.pad_id) == (
        reference.cls_token_id,
        reference.sep_token_id,
        reference.pad_token_id,
    )
    assert tok.vocab_size == len(reference)
    assert tok.byte_level == (kind == "bytelevel")


@needs_data
def test_sentencepiece_preset_uses_fairseq_ids(trained):
    tok, processor = trained["spm"]
    assert tok.backend == "sentencepiece" and tok.fairseq_ids
    assert (tok.cls_id, tok.pad_id, tok.sep_id) == (0, 1, 2)
    assert tok.vocab_size == processor.get_piece_size() + 2
    word = "Zürich"
    assert tok.encode([word]).ids.tolist() == [
        i + 1 for i in processor.encode(word, out_type=int)
    ]


# Words of zero pieces.


@needs_data
@pytest.mark.parametrize("kind", KINDS)
def test_zero_piece_words_move_span_edges_inward(trained, corpora, kind):
    tok, _ = trained[kind]
    gap = " "  # whitespace: zero pieces for every tokenizer
    examples, _ = corpora["wnut17"]
    tested = 0
    for words, spans in examples:
        if not spans:
            continue
        t, s, e = spans[0]
        # A blank word before, inside and after the span, and a span of only blanks.
        new = words[:s] + [gap] + words[s : e + 1] + [gap, gap] + words[e + 1 :]
        first_gap, inner_gap = s, e + 2
        wide = (t, first_gap, inner_gap)  # blank edges on both sides
        lone = (t, inner_gap, inner_gap + 1)  # only blanks
        pieces = tok.encode(new)
        assert pieces.zero_piece_words == 3
        assert pieces.first[first_gap] == -1 and pieces.last[inner_gap] == -1
        piece_spans, dropped = pieces.to_piece_spans([wide, lone])
        assert dropped == 1
        assert pieces.to_word_spans(piece_spans) == [(t, s + 1, e + 1)]
        same = tok.encode(words)
        assert pieces.ids.tolist() == same.ids.tolist()
        tested += 1
    assert tested > 20


@needs_data
def test_zero_width_characters_give_no_wordpiece(trained):
    tok, _ = trained["wordpiece"]
    pieces = tok.encode(["Paris", "\u200b", "\u200d", "Berlin"])
    assert pieces.first.tolist()[1:3] == [-1, -1]
    assert pieces.zero_piece_words == 2
    # Byte-level BPE keeps their bytes: never silently lost, pieces of their own.
    bytes_tok, _ = trained["bytelevel"]
    assert (bytes_tok.encode(["Paris", "\u200b"]).first >= 0).all()


def test_word_pieces_without_a_tokenizer():
    pieces = WordPieces([[5], [], [6, 7, 8], [9]], max_pieces=2)
    assert pieces.ids.tolist() == [5, 6, 7, 9]
    assert pieces.truncated_words == 1 and pieces.zero_piece_words == 1
    assert pieces.word_starts.tolist() == [1, 1, 0, 1]
    assert pieces.pieces_of_words() == [[5], [], [6, 7], [9]]
    assert pieces.to_piece_spans([(0, 1, 2), (1, 0, 3)]) == ([(0, 1, 2), (1, 0, 3)], 0)
    assert pieces.to_word_spans([(0, 2, 2, 1.5)]) == [(0, 2, 2, 1.5)]
    with pytest.raises(ValueError, match="number of words"):
        pieces.to_piece_spans([(0, 2, 4)])
    with pytest.raises(ValueError, match="number of pieces"):
        pieces.to_word_spans([(0, 3, 4)])


# Windows and batches.


@needs_data
@pytest.mark.parametrize("kind", ["wordpiece", "spm"])
@pytest.mark.parametrize("corpus", CORPORA)
def test_long_sentences_split_into_windows_and_merge_back(
    trained, corpora, kind, corpus
):
    tok, _ = trained[kind]
    examples, _ = corpora[corpus]
    max_length = 18
    windows, origins, stats = tok.split_windows(examples, max_length)
    assert stats["split_sentences"] > 10 and stats["windows"] == len(windows)
    for (words, spans, pieces), (n, offset) in zip(windows, origins, strict=True):
        assert len(pieces) <= max_length - 2
        assert words == examples[n][0][offset : offset + len(words)]
        for _, s, e in spans:
            assert 0 <= s <= e < len(words)
    # Every sentence's words come back in order, once.
    rebuilt = [[] for _ in examples]
    for (words, _, _), (n, offset) in zip(windows, origins, strict=True):
        assert offset == len(rebuilt[n])
        rebuilt[n].extend(words)
    assert rebuilt == [w for w, _ in examples]
    # An oracle reads each window's gold spans: merged, they are the sentences'
    # (a span longer than a window comes back cut, as `cut_spans` counts).
    oracle = _Oracle(SubwordBatches(examples, tok, 12, max_length=max_length))
    predicted = predict_subword_spans(oracle, tok, examples, max_length=max_length)
    missing = extra = 0
    for (_, gold), got in zip(examples, predicted, strict=True):
        got = {sp[:3] for sp in got}
        missing += len(set(gold) - got)
        extra += len(got - set(gold))
    assert missing == extra == stats["cut_spans"]


def test_a_word_longer_than_a_window_is_truncated_and_counted():
    tok = _tiny_wordpiece()
    long_word = "new" + "s" * 30  # new ##s ##s ...
    examples = [(["new", long_word, "new"], [(0, 1, 2)])]
    data = SubwordBatches(examples, tok, 1, max_length=10, batch_size=4)
    assert data.truncated_words == 1
    assert all(len(p) <= 8 for p in data.pieces)
    x, y = data[0]
    assert x["token_ids"].shape[1] <= 8
    assert y.sum() == 1


def _tiny_wordpiece(**kwargs):
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "new", "##s", "york", "a", "##b"]
    hf = Tokenizer(
        models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]")
    )
    hf.normalizer = normalizers.BertNormalizer()
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return SubwordTokenizer(hf, "[CLS]", "[SEP]", "[PAD]", **kwargs)


def test_batches_hold_pieces_masks_and_targets():
    tok = _tiny_wordpiece()
    examples = [
        (["news", "york", "a"], [(0, 0, 1), (1, 2, 2)]),
        (["ab", " ", "news", "ab", "york", "new"], [(1, 0, 3), (0, 1, 1)]),
    ]
    data = SubwordBatches(examples, tok, 2, batch_size=2, bucket=False)
    x, y = data[0]
    assert set(x) == {"token_ids", "padding_mask", "word_starts"}
    assert x["token_ids"].shape == (2, 8) and x["token_ids"].dtype == np.int32
    assert x["token_ids"][0].tolist() == [4, 5, 6, 7, 0, 0, 0, 0]
    assert x["padding_mask"][0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert x["word_starts"][0].tolist() == [1, 0, 1, 1, 0, 0, 0, 0]
    # ab ##b | (blank) | new ##s | a ##b | york | new
    assert x["word_starts"][1].tolist()[:8] == [1, 0, 1, 0, 1, 0, 1, 1]
    assert y.shape == (2, 2, 8, 8)
    assert np.argwhere(y[0]).tolist() == [[0, 0, 2], [1, 3, 3]]
    # The span of only the blank word is dropped and counted.
    assert np.argwhere(y[1]).tolist() == [[1, 0, 5]]
    assert data.dropped_spans == 1 and data.zero_piece_words == 1
    tags = SubwordBatches(examples, tok, 2, batch_size=2, bucket=False, targets="tags")
    _, t = tags[0]
    assert t.shape == (2, 8)
    # B-0 I-0 on the first pieces of "news" and "york", B-1 on "a"; 0 elsewhere.
    assert t[0].tolist() == [1, 0, 2, 3, 0, 0, 0, 0]
    expected = np.zeros(8, "int32")
    expected[[0, 2, 4, 6, 7]] = spans_to_tag_ids([(1, 0, 2)], 5)
    assert t[1].tolist() == expected.tolist()
    (only_x,) = SubwordBatches(examples, tok, 2, with_targets=False)[0]
    assert set(only_x) == set(x)


def test_batch_lengths_stay_within_the_backbone():
    tok = _tiny_wordpiece()
    examples = [(["new"] * n, []) for n in (1, 3, 9, 10, 11)]
    data = SubwordBatches(examples, tok, 1, max_length=12, batch_size=1)
    lengths = [data[i][0]["token_ids"].shape[1] for i in range(len(data))]
    assert max(lengths) == 10 and len(set(lengths[:2])) == 2
    assert len(data.pieces) == 6  # 11 pieces in windows of 10: one more window


def test_arguments_are_checked():
    tok = _tiny_wordpiece()
    with pytest.raises(ValueError, match="targets"):
        SubwordBatches([], tok, 1, targets="bio")
    with pytest.raises(ValueError, match="max_length"):
        tok.split_windows([], 2)
    with pytest.raises(ValueError, match="level"):
        _tiny_wordpiece(level="piece")
    with pytest.raises(ValueError, match="cls_token"):
        SubwordTokenizer(tok._hf, "<s>", "[SEP]", "[PAD]")
    with pytest.raises(ValueError, match="tokenizer"):
        SubwordTokenizer(object())


# Saving.


@needs_data
@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_keep_the_pieces(trained, corpora, kind, tmp_path):
    tok, _ = trained[kind]
    tok.labels = ["a", "b"]
    try:
        tok.save(tmp_path)
        again = SubwordTokenizer.load(tmp_path)
        from_dir = SubwordTokenizer.from_directory(tmp_path)
    finally:
        tok.labels = None
    assert again.get_config() == {**tok.get_config(), "labels": ["a", "b"]}
    assert from_dir.get_config() == again.get_config()
    words = [w for w, _ in corpora["germeval"][0][:40]]
    for a, b in zip(tok.encode_batch(words), again.encode_batch(words), strict=True):
        assert a.ids.tolist() == b.ids.tolist()
    assert (again.cls_id, again.sep_id, again.pad_id) == (
        tok.cls_id,
        tok.sep_id,
        tok.pad_id,
    )


# Prediction with character offsets.


class _Oracle:
    """A stand-in tagger that answers each window's gold spans (or BIO tags)."""

    def __init__(self, data, crf=None):
        self.gold = {}
        for pieces, spans in zip(data.pieces, data.spans, strict=True):
            self.gold.setdefault(pieces.ids.tobytes(), (pieces, spans))
        self.num_types = data.num_types
        self.crf = crf
        self.layers = [] if crf is None else [crf]

    def predict_on_batch(self, x):
        batch, length = x["token_ids"].shape
        if self.crf is None:
            out = np.full((batch, self.num_types, length, length), -10.0, "float32")
        else:
            out = np.full(
                (batch, length, num_crf_tags(self.num_types)), -10.0, "float32"
            )
        for row in range(batch):
            ids = x["token_ids"][row][x["padding_mask"][row] == 1]
            pieces, spans = self.gold[ids.tobytes()]
            if self.crf is None:
                for t, a, b in spans:
                    out[row, t, a, b] = 10.0
            else:
                from keras_rdkl.ner.subwords import _tag_targets

                tags = _tag_targets(pieces, spans, length)
                out[row, np.arange(length), tags] = 10.0
        return out


@needs_data
@pytest.mark.parametrize("head", ["global_pointer", "crf"])
@pytest.mark.parametrize("corpus", CORPORA)
def test_entities_come_back_with_character_offsets(trained, corpora, corpus, head):
    tok, _ = trained["unigram" if corpus == "germeval" else "bytelevel"]
    examples, labels = corpora[corpus]
    crf = None
    if head == "crf":  # one entity per word: the outer spans; fewer shapes to trace
        examples = [(w, flatten_spans(spans)[0]) for w, spans in examples[:64]]
        starts, ends, allowed = crf_constraints(len(labels))
        crf = ConditionalRandomField(
            transitions_initializer="zeros",
            start_tags=starts,
            end_tags=ends,
            allowed_transitions=allowed,
        )
        crf.build((None, None, num_crf_tags(len(labels))))
    level = "char" if corpus == "cluener" else "word"
    data = SubwordBatches(
        examples, tok, len(labels), targets="spans" if crf is None else "tags"
    )
    oracle = _Oracle(data, crf)
    sep = "" if level == "char" else " "
    texts = [sep.join(w) for w, _ in examples]
    # Raw text for the characters (ner.tokenize drops the spaces), word lists
    # for the words.
    inputs = texts if level == "char" else [w for w, _ in examples]
    got = predict_subword_entities(oracle, tok, inputs, labels=labels, level=level)
    seen = 0
    for (words, spans), text, ents in zip(examples, texts, got, strict=True):
        if level == "char":
            kept = [i for i, c in enumerate(words) if not c.isspace()]
            spans = [(t, kept.index(s), kept.index(e)) for t, s, e in spans]
            where = [(i, i + 1) for i in kept]
        else:
            where, pos = [], 0
            for w in words:
                where.append((pos, pos + len(w)))
                pos += len(w) + 1
        expected = {(labels[t], where[s][0], where[e][1], s, e) for t, s, e in spans}
        found = {
            (d["type"], d["start"], d["end"], d["first_word"], d["last_word"])
            for d in ents
        }
        assert found == expected
        for d in ents:
            assert d["text"] == text[d["start"] : d["end"]]
            if level == "word":
                words_in = words[d["first_word"] : d["last_word"] + 1]
                assert d["text"] == " ".join(words_in)
            assert d["score"] > 0
        seen += len(ents)
    assert seen > 10


@needs_data
def test_keras_hub_presets_give_keras_hub_pieces(trained, corpora, tmp_path):
    """Presets written by keras-hub's `save_to_preset` read back with its pieces."""
    keras_hub = pytest.importorskip("keras_hub")
    bert, _ = trained["wordpiece"]
    roberta, _ = trained["bytelevel"]
    spm, processor = trained["spm"]
    made = {
        "bert": keras_hub.models.BertTokenizer(
            vocabulary=[bert._hf.id_to_token(i) for i in range(bert.vocab_size)]
        ),
        "roberta": keras_hub.models.RobertaTokenizer(
            vocabulary=roberta._hf.get_vocab(),
            merges=[
                " ".join(m) if not isinstance(m, str) else m
                for m in json.loads(roberta._hf.to_str())["model"]["merges"]
            ],
        ),
        "xlmr": keras_hub.models.XLMRobertaTokenizer(
            proto=processor.serialized_model_proto()
        ),
    }
    sentences = [w for w, _ in corpora["germeval"][0][:60]]
    for name, reference in made.items():
        reference.save_to_preset(tmp_path / name)
        tok = SubwordTokenizer.from_directory(tmp_path / name)
        assert (tok.cls_id, tok.sep_id, tok.pad_id) == (
            reference.token_to_id(tok.cls_token),
            reference.token_to_id(tok.sep_token),
            reference.token_to_id(tok.pad_token),
        )
        for words, pieces in zip(sentences, tok.encode_batch(sentences), strict=True):
            text = " ".join(words)
            if name == "roberta":  # every word in its leading-space form
                text = " " + text
            expected = np.asarray(reference(text)).tolist()
            assert pieces.ids.tolist() == expected, (name, words)
