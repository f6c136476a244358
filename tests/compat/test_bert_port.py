"""build_transformer_model against bert4keras 0.11.5 on a tiny random BERT.

tests/fixtures/b4k_bert_model.npz (tools/make_bert4keras_bert_fixtures.py)
holds the weights under Google's names and bert4keras' last hidden states for
a padded batch. The tests write the weights as a Google-format TensorFlow
checkpoint (pooler, pre-training heads, adam slots and global_step beside
them) and load it on the current backend; writing and reading the checkpoint
needs TensorFlow, which the project venv has on every backend. One test
loads the converted Keras weights file in a process where TensorFlow cannot
be imported.
"""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

pytest.importorskip("keras_hub", reason="build_transformer_model needs keras-hub")

from keras_rdkl.compat.bert4keras import build_transformer_model  # noqa: E402
from keras_rdkl.compat.bert4keras import convert_checkpoint  # noqa: E402
from keras_rdkl.compat.bert4keras import load_bert_dir  # noqa: E402

ROOT = pathlib.Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "b4k_bert_model.npz"
TOOL = ROOT / "tools" / "make_bert4keras_bert_fixtures.py"
# float32 end to end; observed max |diff| ~2e-6 on every backend.
ATOL = 1e-5


def _tool():
    spec = importlib.util.spec_from_file_location("make_b4k_bert", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = dict(np.load(FIXTURE))
WEIGHTS = {k[2:]: v for k, v in DATA.items() if k.startswith("w:")}
CONFIG = json.loads(str(DATA["config_json"]))
INPUTS = [DATA["token_ids"], DATA["segment_ids"]]


def _write(folder, weights, config=CONFIG):
    pytest.importorskip("tensorflow", reason="writing a TF checkpoint needs TF")
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "bert_config.json"
    config_path.write_text(json.dumps(config))
    prefix = _tool().write_google_checkpoint(weights, folder / "bert_model.ckpt")
    return str(config_path), prefix


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("bert"), WEIGHTS)


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return build_transformer_model(*checkpoint)


def _predict(model, inputs=None):
    return keras.ops.convert_to_numpy(model(inputs or INPUTS, training=False))


def test_fixture_carries_what_released_checkpoints_carry():
    assert "bert/pooler/dense/kernel" in WEIGHTS
    assert "cls/predictions/output_bias" in WEIGHTS
    assert "cls/seq_relationship/output_weights" in WEIGHTS
    assert (DATA["token_ids"] == 0).any()  # padding in the batch
    assert np.abs(DATA["hidden_bert"]).max() > 0.5


@pytest.mark.parametrize("model", ["bert", "roberta"])
def test_hidden_states_match_bert4keras(checkpoint, model):
    bert = build_transformer_model(*checkpoint, model=model)
    assert [i.name for i in bert.inputs] == ["Input-Token", "Input-Segment"]
    np.testing.assert_allclose(
        _predict(bert), DATA[f"hidden_{model}"], atol=ATOL, rtol=0
    )


def test_tanh_gelu_differs_from_bert4keras(checkpoint, tmp_path):
    # bert4keras' "gelu" is erf; keras-hub's BertBackbone uses tanh. The
    # difference is above the tolerance, so the erf switch is what matches.
    bert = build_transformer_model(*checkpoint, gelu="tanh")
    tanh = _predict(bert)
    assert np.abs(tanh - DATA["hidden_bert"]).max() > 10 * ATOL
    # A config saying "gelu_new" selects tanh by default.
    config_path = tmp_path / "bert_config.json"
    config_path.write_text(json.dumps({**CONFIG, "hidden_act": "gelu_new"}))
    bert = build_transformer_model(str(config_path), checkpoint[1])
    np.testing.assert_allclose(_predict(bert), tanh, atol=ATOL, rtol=0)


def test_padding_is_masked_and_output_carries_the_mask(loaded):
    ids, segments = INPUTS
    longer = [np.pad(ids, ((0, 0), (0, 5))), np.pad(segments, ((0, 0), (0, 5)))]
    out, out_longer = _predict(loaded), _predict(loaded, longer)
    real = ids != 0
    np.testing.assert_allclose(
        out_longer[:, : ids.shape[1]][real], out[real], atol=ATOL
    )
    # A mask-aware layer after the model sees token_ids != 0.
    seen = {}

    class Probe(keras.layers.Layer):
        supports_masking = True

        def call(self, x, mask=None):
            seen["mask"] = mask
            return x

    probe = keras.Model(loaded.inputs, Probe()(loaded.output))
    probe(INPUTS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(seen["mask"]), real)


def test_convert_then_load_without_checkpoint_reader(checkpoint, tmp_path):
    path = convert_checkpoint(*checkpoint, str(tmp_path / "bert.weights.h5"))
    config_path = checkpoint[0]
    for bert in (
        build_transformer_model(config_path, weights_path=path),
        build_transformer_model(config_path, path),  # a .weights.h5 as checkpoint
    ):
        np.testing.assert_allclose(
            _predict(bert), DATA["hidden_bert"], atol=ATOL, rtol=0
        )


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="the TensorFlow backend cannot run without TensorFlow",
)
def test_converted_weights_load_where_tensorflow_is_missing(
    checkpoint, loaded, tmp_path
):
    path = convert_checkpoint(*checkpoint, str(tmp_path / "bert.weights.h5"))
    np.save(tmp_path / "ids.npy", np.stack(INPUTS))
    # A whole saved model also reloads in a fresh process.
    loaded.save(tmp_path / "bert.keras")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["tensorflow"] = None  # import tensorflow now fails
        import numpy as np, keras
        from keras_rdkl.compat.bert4keras import build_transformer_model
        ids, segments = np.load({str(tmp_path / "ids.npy")!r})
        bert = build_transformer_model({checkpoint[0]!r}, weights_path={path!r})
        out = keras.ops.convert_to_numpy(bert([ids, segments]))
        np.save({str(tmp_path / "out.npy")!r}, out)
        saved = keras.saving.load_model({str(tmp_path / "bert.keras")!r})
        out = keras.ops.convert_to_numpy(saved([ids, segments]))
        np.save({str(tmp_path / "saved.npy")!r}, out)
        try:
            build_transformer_model({checkpoint[0]!r}, {checkpoint[1]!r})
        except ImportError as error:
            print("IMPORT-ERROR:", error)
        """
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("out.npy", "saved.npy"):
        out = np.load(tmp_path / name)
        np.testing.assert_allclose(out, DATA["hidden_bert"], atol=ATOL, rtol=0)
    assert "IMPORT-ERROR:" in result.stdout and "convert_checkpoint" in result.stdout


def test_missing_and_misshapen_variables_are_named(tmp_path):
    weights = dict(WEIGHTS)
    del weights["bert/encoder/layer_1/output/dense/bias"]
    weights["bert/encoder/layer_0/attention/self/key/kernel"] = np.zeros(
        (32, 16), "float32"
    )
    config_path, prefix = _write(tmp_path, weights)
    with pytest.raises(ValueError) as info:
        build_transformer_model(config_path, prefix)
    message = str(info.value)
    assert "bert/encoder/layer_1/output/dense/bias: missing" in message
    assert (
        "layer_0/attention/self/key/kernel: expected shape (32, 32), got (32, 16)"
        in message
    )
    # Ignored variables are never reported.
    assert (
        "adam" not in message and "global_step" not in message and "cls/" not in message
    )


def test_checkpoint_without_pooler_or_heads_loads(tmp_path, loaded):
    weights = {k: v for k, v in WEIGHTS.items() if k.startswith("bert/")}
    weights = {k: v for k, v in weights.items() if "pooler" not in k}
    config_path, prefix = _write(tmp_path, weights)
    bert = build_transformer_model(config_path, prefix)
    np.testing.assert_allclose(_predict(bert), DATA["hidden_bert"], atol=ATOL, rtol=0)


def test_keep_tokens_selects_embedding_rows(checkpoint, loaded):
    keep = [0, 1, 2, 3] + list(range(20, CONFIG["vocab_size"]))
    bert = build_transformer_model(*checkpoint, keep_tokens=keep)
    ids = np.array([[2, 20, 25, 30, 3, 0]])
    new_ids = np.array([[keep.index(i) for i in row] for row in ids])
    segments = np.zeros_like(ids)
    np.testing.assert_allclose(
        _predict(bert, [new_ids, segments]),
        _predict(loaded, [ids, segments]),
        atol=ATOL,
    )


def test_tensorflow_missing_says_what_to_do(checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match="convert_checkpoint.*weights_path"):
        build_transformer_model(*checkpoint)


def test_bad_arguments_raise(checkpoint, tmp_path):
    config_path, prefix = checkpoint
    with pytest.raises(ValueError, match="`model` must be one of"):
        build_transformer_model(config_path, model="gpt2")
    with pytest.raises(ValueError, match="`gelu`"):
        build_transformer_model(config_path, gelu="relu")
    with pytest.raises(ValueError, match="return_keras_model.*Received"):
        build_transformer_model(config_path, return_keras_model="model")
    with pytest.raises(ValueError, match="one of `checkpoint_path`"):
        build_transformer_model(config_path, prefix, weights_path="x.weights.h5")
    with pytest.raises(ValueError, match="weights_path"):
        build_transformer_model(config_path, weights_path="bert.h5")
    with pytest.raises(ValueError, match="config_path"):
        build_transformer_model(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad_config.json"
    bad.write_text(json.dumps({"vocab_size": 10}))
    with pytest.raises(ValueError, match="lacks hidden_size"):
        build_transformer_model(str(bad))
    bad.write_text(json.dumps({**CONFIG, "num_attention_heads": 5}))
    with pytest.raises(ValueError, match="not a multiple of num_attention_heads=5"):
        build_transformer_model(str(bad))
    bad.write_text(json.dumps({**CONFIG, "hidden_act": "relu"}))
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        build_transformer_model(str(bad))
    with pytest.raises(ValueError, match="checkpoint_path"):
        build_transformer_model(config_path, str(tmp_path / "nope.ckpt"))
    with pytest.raises(ValueError, match="keep_tokens"):
        build_transformer_model(config_path, prefix, keep_tokens=[0, 10_000])
    with pytest.raises(ValueError, match="output_path"):
        convert_checkpoint(config_path, prefix, str(tmp_path / "x.h5"))


def test_global_pointer_on_bert_trains_with_rdrop_and_reloads(checkpoint, tmp_path):
    from keras_rdkl.compat.bert4keras import GlobalPointer
    from keras_rdkl.compat.bert4keras import global_pointer_crossentropy
    from keras_rdkl.models import RDropModel

    bert = build_transformer_model(*checkpoint)
    output = GlobalPointer(2, 8, RoPE=True)(bert.output)
    model = keras.Model(bert.inputs, output)
    rdrop = RDropModel(model, alpha=1.0)
    rdrop.compile(keras.optimizers.Adam(1e-3), loss=global_pointer_crossentropy)
    ids, segments = INPUTS
    length = ids.shape[1]
    labels = np.zeros((len(ids), 2, length, length), "float32")
    labels[0, 0, 1, 3] = labels[1, 1, 2, 2] = labels[2, 0, 1, 1] = 1
    history = rdrop.fit([ids, segments], labels, batch_size=3, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    logits = keras.ops.convert_to_numpy(model(INPUTS))
    # Padding rows and columns are masked out by the mask the model carries.
    assert logits[2, :, 5:, :].max() < -1e4 and logits[2, :, :, 5:].max() < -1e4
    path = str(tmp_path / "tagger.weights.h5")
    model.save_weights(path)
    again = build_transformer_model(checkpoint[0])
    again = keras.Model(again.inputs, GlobalPointer(2, 8, RoPE=True)(again.output))
    again.load_weights(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again(INPUTS)), logits, atol=1e-4
    )
    keras_path = str(tmp_path / "tagger.keras")
    model.save(keras_path)
    reloaded = keras.saving.load_model(keras_path, compile=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(INPUTS)), logits, atol=1e-4
    )


def _docs_port_script():
    text = (ROOT / "docs" / "bert.md").read_text(encoding="utf-8")
    marker = "<!-- tests/compat/test_bert_port.py runs this block -->"
    block = text.split(marker, 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]
    return block


def test_docs_port_changes_only_the_import_lines():
    """docs/bert.md's port is its bert4keras script with the imports rewritten."""
    text = (ROOT / "docs" / "bert.md").read_text(encoding="utf-8")
    original = text.split("# The original script:", 1)[1].split("\n", 1)[1]
    original = original.split("\n```", 1)[0]
    ported = _docs_port_script().split("its imports changed.\n", 1)[1]
    rewritten = re.sub(
        r"^from bert4keras\.\w+ import ",
        "from keras_rdkl.compat.bert4keras import ",
        original,
        flags=re.M,
    )
    assert "from bert4keras" in original and rewritten == ported


def test_docs_port_script_runs(tmp_path, monkeypatch):
    # The ported CLUENER script of docs/bert.md, on a tiny random BERT and a
    # few sentences in CLUENER's format, one epoch.
    sentences = [
        (
            "叶老桂认为浙商银行很好",
            {"name": {"叶老桂": [[0, 2]]}, "company": {"浙商银行": [[5, 8]]}},
        ),
        (
            "浙商银行在北京",
            {"company": {"浙商银行": [[0, 3]]}, "address": {"北京": [[5, 6]]}},
        ),
        ("叶老桂去北京", {"name": {"叶老桂": [[0, 2]]}, "address": {"北京": [[4, 5]]}}),
        ("Hello 北京", {"address": {"北京": [[6, 7]]}}),
    ]
    data = tmp_path / "data"
    data.mkdir()
    lines = "\n".join(
        json.dumps({"text": t, "label": label}, ensure_ascii=False)
        for t, label in sentences
    )
    for name in ("train.json", "dev.json"):
        (data / name).write_text(lines + "\n", encoding="utf-8")
    chars = sorted({c.lower() for t, _ in sentences for c in t if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"] + chars
    tool = _tool()
    config = tool.bert_config(len(vocab))
    config["max_position_embeddings"] = 512
    bert_dir = tmp_path / "bert"
    _write(bert_dir, tool.random_bert_weights(config), config)
    (bert_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    script = _docs_port_script()
    for old, new in [
        ("maxlen = 128", "maxlen = 16"),
        ("epochs = 10", "epochs = 1"),
        ("batch_size = 16", "batch_size = 2"),
        ('bert_dir = "chinese_L-12_H-768_A-12"', f"bert_dir = {str(bert_dir)!r}"),
        ('data_dir = "cluener2020"', f"data_dir = {str(data)!r}"),
    ]:
        assert old in script
        script = script.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_bert_port"}
    exec(compile(script, "docs/bert.md:port", "exec"), namespace)
    assert namespace["categories"] == ["address", "company", "name"]
    assert (tmp_path / "best_model.weights.h5").exists()
    found = namespace["NER"].recognize("浙商银行在北京")
    assert all(isinstance(s, tuple) and len(s) == 3 for s in found)


def test_load_bert_dir(checkpoint, tmp_path, monkeypatch):
    folder = pathlib.Path(checkpoint[0]).parent
    vocab = [str(t) for t in DATA["vocab"]]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer, bert = load_bert_dir(folder)
    assert tokenizer.vocab_size == CONFIG["vocab_size"]
    np.testing.assert_allclose(_predict(bert), DATA["hidden_bert"], atol=ATOL, rtol=0)
    # A converted folder: config, vocab and a .weights.h5 only.
    converted = tmp_path / "converted"
    converted.mkdir()
    for name in ("bert_config.json", "vocab.txt"):
        (converted / name).write_bytes((folder / name).read_bytes())
    convert_checkpoint(*checkpoint, str(converted / "bert.weights.h5"))
    _, bert = load_bert_dir(converted)
    np.testing.assert_allclose(_predict(bert), DATA["hidden_bert"], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="vocab.txt"):
        load_bert_dir(tmp_path)
    with pytest.raises(ValueError, match="must be a folder"):
        load_bert_dir(tmp_path / "nope")


def test_layers_carry_bert4keras_names_in_its_order(loaded):
    ours = [layer.name for layer in loaded.layers]
    theirs = json.loads(str(DATA["layer_names_json"]))
    assert [name for name in ours if name in theirs] == theirs


@pytest.mark.parametrize(
    "name", [k[len("layer:") :] for k in DATA if k.startswith("layer:")]
)
def test_a_layer_picked_by_name_gives_bert4keras_output(loaded, name):
    """`model.get_layer('Transformer-%d-FeedForward-Norm' % i).output`, as scripts do."""
    picked = keras.Model(loaded.inputs, loaded.get_layer(name).output)
    out = keras.ops.convert_to_numpy(picked(INPUTS, training=False))
    expected = DATA[f"layer:{name}"]
    # Padded positions carry values in bert4keras too; compare every position.
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=0)


def test_return_keras_model_false_gives_the_model_and_its_initializer(checkpoint):
    bert = build_transformer_model(*checkpoint, return_keras_model=False)
    assert isinstance(bert.model, keras.Model)
    assert bert.inputs == bert.model.inputs and bert.outputs == bert.model.outputs
    np.testing.assert_allclose(_predict(bert.model), DATA["hidden_bert"], atol=ATOL)
    head = keras.layers.Dense(3, kernel_initializer=bert.initializer)
    out = head(keras.ops.convert_to_tensor(np.ones((2, 32), "float32")))
    assert tuple(out.shape) == (2, 3)
