"""bert4keras scripts run on every backend with only their imports rewritten.

tests/compat/ported/ holds three scripts written as bert4keras 0.11 users
write them (CRF and GlobalPointer NER, [CLS] classification). Each test
rewrites the script's `from bert4keras.<module> import` lines to
`keras_rdkl.compat.bert4keras` (and checks that nothing else changed), sets
its settings to a tiny random BERT (2 layers, hidden 32, written as a
Google-format TensorFlow checkpoint) and a few real CLUENER sentences in the
file format the script reads, and runs it as `__main__` in this process:
training, evaluation after each epoch, saving the best weights and loading
them back.
"""

import importlib.util
import json
import math
import pathlib
import re
import runpy

import keras
import numpy as np
import pytest

pytest.importorskip("keras_hub", reason="build_transformer_model needs keras-hub")

from keras_rdkl.compat import bert4keras  # noqa: E402
from tests.conftest import DATA_DIR  # noqa: E402
from tests.conftest import requires_data  # noqa: E402

ROOT = pathlib.Path(__file__).parents[2]
PORTED = pathlib.Path(__file__).parent / "ported"
TOOL = ROOT / "tools" / "make_bert4keras_bert_fixtures.py"
IMPORTS = re.compile(
    r"^from bert4keras\.(?:backend|layers|models|optimizers|snippets|tokenizers)"
    r" import ",
    re.M,
)
N_TRAIN, N_VALID = 48, 8
MAXLEN, MIN_CHARS = 32, 40


def _tool():
    spec = importlib.util.spec_from_file_location("make_b4k_bert", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cluener(name, n):
    """The first `n` CLUENER sentences of `MIN_CHARS` or more, none ASCII.

    One character is one token in them, so every sentence fills `MAXLEN`
    tokens: one shape for every batch and every prediction keeps JAX and
    TensorFlow from compiling a step per length (variable lengths are
    tested in test_snippets.py and test_bert_port.py).
    """
    rows = []
    with open(DATA_DIR / "cluener2020" / name, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            text = row["text"]
            if len(text) >= MIN_CHARS and not any(c.isascii() for c in text):
                rows.append(row)
            if len(rows) == n:
                break
    return rows


def _char_tags(row):
    tags = ["O"] * len(row["text"])
    for kind, entities in row["label"].items():
        for positions in entities.values():
            for start, end in positions:
                tags[start : end + 1] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start)
    return "\n".join(f"{c} {t}" for c, t in zip(row["text"], tags, strict=True))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny BERT checkpoint and CLUENER sentences in each script's format."""
    pytest.importorskip("tensorflow", reason="writing a TF checkpoint needs TF")
    root = tmp_path_factory.mktemp("ported")
    splits = {
        "train": _cluener("train.json", N_TRAIN),
        "dev": _cluener("dev.json", N_VALID),
    }
    for split, rows in splits.items():
        (root / f"{split}.json").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
            encoding="utf-8",
        )
        (root / f"{split}.txt").write_text(
            "\n\n".join(_char_tags(r) for r in rows) + "\n", encoding="utf-8"
        )
        # Two classes: does the sentence name a person?
        (root / f"{split}.tsv").write_text(
            "".join(f"{r['text']}\t{int('name' in r['label'])}\n" for r in rows),
            encoding="utf-8",
        )
    rows = splits["train"] + splits["dev"]
    chars = sorted({c.lower() for r in rows for c in r["text"]})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tool = _tool()
    config = tool.bert_config(len(vocab))  # 2 layers, hidden 32, 64 positions
    (root / "bert_config.json").write_text(json.dumps(config))
    prefix = tool.write_google_checkpoint(
        tool.random_bert_weights(config), str(root / "bert_model.ckpt")
    )
    return {
        "root": root,
        "layers": config["num_hidden_layers"],
        "config_path": str(root / "bert_config.json"),
        "checkpoint_path": str(prefix),
        "dict_path": str(root / "vocab.txt"),
    }


def _port(script, settings):
    """The script with its bert4keras imports and its settings rewritten."""
    text = (PORTED / script).read_text(encoding="utf-8")
    ported = IMPORTS.sub("from keras_rdkl.compat.bert4keras import ", text)
    changed = [
        (a, b)
        for a, b in zip(text.splitlines(), ported.splitlines(), strict=True)
        if a != b
    ]
    assert changed and all(a.startswith("from bert4keras.") for a, _ in changed)
    assert "bert4keras." not in ported.replace("keras_rdkl.compat.bert4keras", "")
    for name, value in settings.items():
        ported, n = re.subn(
            rf"^{name} = .*$", f"{name} = {value!r}", ported, count=0, flags=re.M
        )
        assert n == 1, f"{script} sets {name} {n} times"
    return ported


def _run(script, settings, workspace, tmp_path, monkeypatch):
    """Runs the ported script as `__main__` in `tmp_path`; returns its globals."""
    keras.backend.clear_session()
    settings = {
        "config_path": workspace["config_path"],
        "checkpoint_path": workspace["checkpoint_path"],
        "dict_path": workspace["dict_path"],
        **settings,
    }
    path = tmp_path / script
    path.write_text(_port(script, settings), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    try:
        result = runpy.run_path(str(path), run_name="__main__")
    finally:
        bert4keras.set_gelu("erf")  # classification.py sets "tanh"
    assert (tmp_path / "best_model.weights.h5").is_file()
    history = result["history"].history
    assert len(history["loss"]) == settings["epochs"]
    assert all(math.isfinite(v) for values in history.values() for v in values)
    return result


def _assert_reloaded(model, inputs, tmp_path):
    """The model holds what best_model.weights.h5 holds."""
    before = keras.ops.convert_to_numpy(model(inputs, training=False))
    model.load_weights(str(tmp_path / "best_model.weights.h5"))
    after = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert np.isfinite(after).all()
    np.testing.assert_array_equal(before, after)


def _in_unit_interval(*values):
    return all(0.0 <= v <= 1.0 + 1e-9 for v in values)


@requires_data("cluener2020")
def test_ner_crf(workspace, tmp_path, monkeypatch):
    root = workspace["root"]
    out = _run(
        "ner_crf.py",
        {
            "maxlen": MAXLEN,
            "epochs": 2,
            "batch_size": 16,
            "bert_layers": workspace["layers"],
            "learning_rate": 1e-3,
            "train_path": str(root / "train.txt"),
            "valid_path": str(root / "dev.txt"),
        },
        workspace,
        tmp_path,
        monkeypatch,
    )
    assert len(out["train_data"]) == N_TRAIN and len(out["entity_types"]) > 3
    history = out["history"].history
    assert _in_unit_interval(*history["sparse_accuracy"])
    evaluator = out["evaluator"]
    assert len(evaluator.scores) == 2
    assert _in_unit_interval(*[v for s in evaluator.scores for v in s])
    # The reloaded best weights score what they scored when saved.
    assert out["final_f1"] == pytest.approx(evaluator.best_f1, abs=1e-9)
    batch = next(iter(out["data_generator"](out["valid_data"], 4)))[0]
    _assert_reloaded(out["model"], batch, tmp_path)
    spans = out["decoder"].extract(out["valid_data"][0][0])
    assert all(0 <= s <= e < len(out["valid_data"][0][0]) for s, e, _ in spans)


@requires_data("cluener2020")
def test_ner_global_pointer(workspace, tmp_path, monkeypatch):
    root = workspace["root"]
    out = _run(
        "ner_global_pointer.py",
        {
            "maxlen": MAXLEN,
            "epochs": 2,
            "batch_size": 16,
            "head_size": 16,
            "learning_rate": 1e-3,
            "train_path": str(root / "train.json"),
            "valid_path": str(root / "dev.json"),
        },
        workspace,
        tmp_path,
        monkeypatch,
    )
    history = out["history"].history
    assert _in_unit_interval(*history["global_pointer_f1_score"])
    assert history["loss"][-1] < history["loss"][0]
    evaluator = out["evaluator"]
    assert len(evaluator.scores) == 2
    assert _in_unit_interval(*[v for s in evaluator.scores for v in s])
    assert out["final_f1"] == pytest.approx(evaluator.best_f1, abs=1e-9)
    batch = next(iter(out["data_generator"](out["valid_data"], 4)))[0]
    _assert_reloaded(out["model"], batch, tmp_path)


@requires_data("cluener2020")
def test_classification(workspace, tmp_path, monkeypatch):
    root = workspace["root"]
    out = _run(
        "classification.py",
        {
            "maxlen": MAXLEN,
            "epochs": 2,
            "batch_size": 16,
            "train_path": str(root / "train.tsv"),
            "valid_path": str(root / "dev.tsv"),
        },
        workspace,
        tmp_path,
        monkeypatch,
    )
    history = out["history"].history
    assert _in_unit_interval(*history["accuracy"])
    evaluator = out["evaluator"]
    assert len(evaluator.scores) == 2 and _in_unit_interval(*evaluator.scores)
    assert out["final_accuracy"] == pytest.approx(evaluator.best_accuracy)
    assert out["model"].optimizer.__class__.__name__ == "AdamLR"
    x, _ = next(iter(out["valid_generator"]))
    _assert_reloaded(out["model"], x, tmp_path)


@requires_data("cluener2020")
def test_set_gelu_picks_the_gelu_of_hidden_act_gelu(workspace):
    inputs = [np.array([[2, 7, 9, 3]]), np.zeros((1, 4), "int32")]

    def hidden(**kwargs):
        model = bert4keras.build_transformer_model(
            workspace["config_path"], workspace["checkpoint_path"], **kwargs
        )
        return keras.ops.convert_to_numpy(model(inputs, training=False))

    # Without set_gelu "gelu" is erf: test_bert_port.py checks it against bert4keras.
    erf, tanh = hidden(gelu="erf"), hidden(gelu="tanh")
    assert np.abs(erf - tanh).max() > 1e-6
    try:
        bert4keras.set_gelu("tanh")
        np.testing.assert_allclose(hidden(), tanh, atol=1e-6)
        with pytest.raises(ValueError, match="version"):
            bert4keras.set_gelu("relu")
    finally:
        bert4keras.set_gelu("erf")


class _EpochLengths(bert4keras.DataGenerator):
    """Epoch e yields batches of the padded lengths `self.data[e]` (then the last)."""

    epoch = 0

    def __iter__(self, random=False):
        lengths = self.data[min(self.epoch, len(self.data) - 1)]
        self.epoch += 1
        for n in lengths:
            token_ids = bert4keras.sequence_padding([[1] * n, [1] * (n - 1)])
            yield token_ids, np.zeros((2, 1))

    def __len__(self):
        return len(self.data[0])


def test_forfit_looks_into_the_second_epoch_for_a_second_shape():
    # bert4keras' CRF example stopped on TensorFlow when every batch of the
    # first epoch was padded to one length and a later one was not.
    gen = _EpochLengths([[5, 5, 5], [5, 3, 5], [4, 5, 3]])
    stream = gen.forfit()
    lengths = [next(stream)[0].shape[1] for _ in range(9)]
    assert lengths == [5, 3, 5, 5, 5, 5, 4, 5, 3]
    gen = _EpochLengths([[5, 5, 5], [5, 3, 5], [4, 5, 3]])
    model = keras.Sequential([keras.layers.Embedding(8, 4), keras.layers.Dense(1)])
    model.add(keras.layers.GlobalAveragePooling1D())
    model.compile(loss="mse", optimizer="sgd")
    history = model.fit(gen.forfit(), steps_per_epoch=len(gen), epochs=3, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
