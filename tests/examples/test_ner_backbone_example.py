"""examples/ner_global_pointer.py --backbone on a tiny Hugging Face BERT, then ner_predict.py.

The backbone is a 2-layer, 32-wide BERT with random weights written by
`transformers` in a subprocess (PyTorch there; the test process keeps its own
backend), with a lower-cased character WordPiece vocabulary (every ASCII word
is some pieces). Nothing is downloaded; the data is a slice of the real
WNUT-17 in ../shared/data.
"""

import importlib.util
import json
import os
import string
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rdkl import ner
from tests.conftest import DATA_DIR
from tests.conftest import load_example
from tests.conftest import requires_data

pytest.importorskip("keras_hub", reason="--backbone needs keras-hub")
pytest.importorskip("tokenizers", reason="--backbone needs tokenizers")

CHARS = string.ascii_lowercase + string.digits + string.punctuation
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(CHARS)
VOCAB += ["##" + c for c in CHARS]

_MAKE_BERT = r"""
import json, sys
import torch
import transformers as tr

torch.manual_seed(0)
config = tr.BertConfig(vocab_size=int(sys.argv[2]), hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64,
                       max_position_embeddings=64)
tr.BertModel(config).save_pretrained(sys.argv[1])
"""


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A Hugging Face-format BERT folder: config.json, model.safetensors, vocab.txt."""
    needed = ("torch", "transformers", "safetensors")
    if not all(importlib.util.find_spec(m) for m in needed):
        pytest.skip("the tiny Hugging Face BERT needs torch, transformers, safetensors")
    out = tmp_path_factory.mktemp("hf") / "tiny-bert"
    done = subprocess.run(
        [sys.executable, "-c", _MAKE_BERT, str(out), str(len(VOCAB))],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (out / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return out


SMALL = ["--max-train", "24", "--max-eval", "8", "--epochs", "1"]
SMALL += ["--batch-size", "16", "--head-size", "8", "--max-length", "10"]
SMALL += ["--verbose", "0"]


def test_backbone_flags():
    example = load_example("ner_global_pointer")
    args = example.parse_args(["--backbone", "some/dir"])
    assert (args.learning_rate, args.backbone_learning_rate) == (1e-3, 3e-5)
    assert (args.warmup, args.dropout) == (0.1, 0.1)
    scratch = example.parse_args([])  # the from-scratch defaults are unchanged
    assert (scratch.learning_rate, scratch.warmup, scratch.dropout) == (2e-3, 0.05, 0.3)
    for bad in (
        ["--backbone", "a", "--bert-dir", "b"],
        ["--backbone", "a", "--bigrams", "on"],
        ["--backbone", "a", "--char-features", "on"],
        ["--backbone", "a", "--backbone-learning-rate", "0"],
    ):
        with pytest.raises(SystemExit):
            example.parse_args(bad)


# One run per backend, every head between them: GlobalPointer with R-Drop on
# JAX, the CRF with R-Drop (softmax KL over the tags) on PyTorch,
# EfficientGlobalPointer without R-Drop on TensorFlow. Windows of 8 pieces:
# one padded length, so JAX compiles one training step, and sentences are
# split into windows and merged back.
RUNS = {
    "jax": ("global_pointer", ["--rdrop-alpha", "1"]),
    "torch": ("crf", ["--rdrop-alpha", "1", "--rdrop-kl", "softmax"]),
    "tensorflow": ("efficient_global_pointer", []),
}


@requires_data("wnut17")
def test_backbone_run_saves_reloads_and_predicts(
    tiny_bert_dir, tmp_path, monkeypatch, capsys
):
    head, flags = RUNS[keras.backend.backend()]
    monkeypatch.setenv("KERAS_RDKL_DATA", str(DATA_DIR))
    example = load_example("ner_global_pointer")
    out = tmp_path / "run"
    summary = example.main(
        SMALL
        + ["--dataset", "wnut17", "--backbone", str(tiny_bert_dir), "--head", head]
        + flags
        + ["--output-dir", str(out)]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("dev F1 = ")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["encoder"] == "backbone" and saved["head"] == head
    assert saved["backbone_class"] == "BertBackbone" and saved["epochs_run"] == 1
    assert saved["train_sentences"] == 24 and saved["tokenizer"]["level"] == "word"
    assert np.isfinite(saved["history"]["loss"]).all()
    assert ("kl" in saved["history"]) == bool(flags)
    for split in ("dev", "test"):  # WNUT-17 has both
        assert saved[split]["gold"] > 0 and 0.0 <= saved[split]["f1"] <= 1.0
    assert float(printed[-1].split("=")[1]) == pytest.approx(
        saved["dev"]["f1"], abs=1e-4
    )
    # Piece statistics are counted and written, never dropped silently.
    stats = saved["subword_stats"]
    assert stats["split_sentences"] > 0 and stats["windows"] > 24
    for key in ("zero_piece_words", "truncated_words", "spans_without_pieces"):
        assert isinstance(stats[key], int)

    # The folder reloads: model.keras (backbone inside) and tokenizer/.
    assert (out / "tokenizer" / "subword_tokenizer.json").is_file()
    model, tokenizer = ner.load_tagger(out)
    assert isinstance(tokenizer, ner.SubwordTokenizer)
    assert tokenizer.labels == saved["labels"]
    dev = summary["splits"]["dev"]
    kwargs = dict(max_length=10, threshold=-1e3)  # a weak tagger's spans too
    before = ner.predict_subword_spans(summary["model"], tokenizer, dev, **kwargs)
    after = ner.predict_subword_spans(model, tokenizer, dev, **kwargs)
    assert [[s[:3] for s in p] for p in after] == [[s[:3] for s in p] for p in before]

    # Raw text -> entities with character offsets, through ner_predict.py.
    text = "Going to Paris with @anna tomorrow"
    predict = load_example("ner_predict")
    ents = predict.main([str(out), text, "--threshold", "-1000"])
    assert "entities" in json.loads(capsys.readouterr().out.splitlines()[0])
    if head != "crf":  # an almost untrained CRF may tag every word O
        assert ents[0]
    for e in ents[0]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert e["type"] in saved["labels"]
