"""The keras_rdkl.ner example in docs/ner.md runs as written."""

import re

from tests.conftest import ROOT


def test_docs_ner_example_runs(capsys):
    text = (ROOT / "docs" / "ner.md").read_text(encoding="utf-8")
    blocks = [
        b
        for b in re.findall(r"```python\n(.*?)```", text, re.S)
        if "build_span_tagger" in b
    ]
    assert blocks, "docs/ner.md has no python block with build_span_tagger"
    namespace = {}
    exec(compile(blocks[0], "docs/ner.md:keras_rdkl.ner", "exec"), namespace)
    assert "['f1', 'gold', 'per_type', 'precision', 'predicted', 'recall', 'tp']" in (
        capsys.readouterr().out
    )
    for ent in namespace["ents"]:
        assert "张三在北京"[ent["start"] : ent["end"]] == ent["text"]


def _run_after_first_block(marker, name):
    """Runs the first build_span_tagger block, then the first block containing `marker`."""
    text = (ROOT / "docs" / "ner.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    first = next(b for b in blocks if "build_span_tagger" in b)
    found = [b for b in blocks if marker in b]
    assert found, f"docs/ner.md has no python block with {name}"
    namespace = {}
    exec(compile(first, "docs/ner.md:keras_rdkl.ner", "exec"), namespace)
    exec(compile(found[0], f"docs/ner.md:{name}", "exec"), namespace)
    return namespace


def test_docs_crf_head_example_runs():
    namespace = _run_after_first_block('head="crf"', "the CRF head")
    assert len(namespace["pred"]) == 2
    assert all(len(sp) == 4 for sent in namespace["pred"] for sp in sent)


def test_docs_bigram_example_runs():
    namespace = _run_after_first_block("num_bigrams", "bigram features")
    assert namespace["bi_vocab"].num_bigrams > 2
    for ent in namespace["bi_ents"]:
        assert "张三在北京"[ent["start"] : ent["end"]] == ent["text"]


def test_docs_word_vectors_example_runs():
    namespace = _run_after_first_block("embedding_matrix", "word vectors")
    vocab = namespace["en_vocab"]
    assert vocab.encode(["Bergen"]) != [vocab.unk_id]
    assert namespace["wv_model"].get_layer("token_embedding").output_dim == 4
    for ent in namespace["wv_ents"]:
        assert "Anna flew to Bergen"[ent["start"] : ent["end"]] == ent["text"]
