"""Span taggers on pretrained backbones: Hugging Face directories, keras-hub presets, fine-tuning.

Tiny backbones with random weights, nothing downloaded. The Hugging Face
models and their reference hidden states come from a subprocess (PyTorch and
`transformers` there, so the test process' backend, TensorFlow included,
never shares a process with them).
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

keras_hub = pytest.importorskip(
    "keras_hub", reason="pretrained backbones need keras-hub"
)

from keras_rdkl import MASK_THRESHOLD  # noqa: E402
from keras_rdkl import ner  # noqa: E402
from keras_rdkl.losses.crf import crf_negative_log_likelihood  # noqa: E402
from keras_rdkl.models import AdversarialModel  # noqa: E402
from keras_rdkl.models import RDropModel  # noqa: E402
from keras_rdkl.ner.optimizers import NO_DECAY  # noqa: E402
from keras_rdkl.ner.optimizers import find_backbone  # noqa: E402
from keras_rdkl.ner.pretrained import AddSpecialTokens  # noqa: E402
from keras_rdkl.ner.pretrained import special_token_ids  # noqa: E402
from tests.conftest import load_example  # noqa: E402
from tests.conftest import requires_data  # noqa: E402

to_np = keras.ops.convert_to_numpy
SIZE = dict(hidden=32, layers=2, heads=2, intermediate=64, vocab=120, positions=40)
BERT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    f"w{i}" for i in range(SIZE["vocab"] - 5)
]
# (cls, sep, pad) and the pieces of two rows (right-padded with pad) per family.
FAMILIES = {
    "bert": ((2, 3, 0), [[10, 11, 12, 13], [14, 15, 0, 0]]),
    "roberta": ((0, 2, 1), [[10, 11, 12, 13], [14, 15, 1, 1]]),
    "xlm_roberta": ((0, 2, 1), [[10, 11, 12, 13], [14, 15, 1, 1]]),
}
LENGTHS = [4, 2]
# What the backbone must see: start, pieces, end, padding (written by hand).
FULL = {
    "bert": [[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0]],
    "roberta": [[0, 10, 11, 12, 13, 2], [0, 14, 15, 2, 1, 1]],
    "xlm_roberta": [[0, 10, 11, 12, 13, 2], [0, 14, 15, 2, 1, 1]],
}

_MAKE_HF = r"""
import json, os, sys
import numpy as np
import torch
import transformers as tr

out, size, full = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
torch.manual_seed(0)
common = dict(vocab_size=size["vocab"], hidden_size=size["hidden"],
              num_hidden_layers=size["layers"], num_attention_heads=size["heads"],
              intermediate_size=size["intermediate"],
              max_position_embeddings=size["positions"])
roberta = dict(pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
models = {
    "bert": (tr.BertModel(tr.BertConfig(**common)), lambda m: m),
    # Hub checkpoints of RoBERTa-like models hold "roberta."-prefixed weights.
    "roberta": (tr.RobertaForMaskedLM(tr.RobertaConfig(**common, **roberta)),
                lambda m: m.roberta),
    "xlm_roberta": (
        tr.XLMRobertaForMaskedLM(tr.XLMRobertaConfig(**common, **roberta)),
        lambda m: m.roberta),
}
# keras-hub 0.32's RoBERTa converter leaves out the token-type embedding,
# which released RoBERTa checkpoints (converted from fairseq) hold as zeros.
with torch.no_grad():
    models["roberta"][0].roberta.embeddings.token_type_embeddings.weight.zero_()
for name, (model, body) in models.items():
    model.eval()
    folder = os.path.join(out, name)
    model.save_pretrained(folder)
    ids = torch.tensor(full[name])
    pad = 0 if name == "bert" else 1
    with torch.no_grad():
        hidden = body(model)(input_ids=ids, attention_mask=(ids != pad).long())
    np.save(os.path.join(folder, "hidden.npy"), hidden.last_hidden_state.numpy())
"""


def _have(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.fixture(scope="session")
def hf_dirs(tmp_path_factory):
    """Hugging Face-format folders of tiny BERT, RoBERTa and XLM-RoBERTa models."""
    if not _have("torch", "transformers", "safetensors"):
        pytest.skip("the Hugging Face reference needs torch, transformers, safetensors")
    out = tmp_path_factory.mktemp("hf")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", _MAKE_HF, str(out), json.dumps(SIZE), json.dumps(FULL)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The BERT folder gets its tokenizer files (WordPiece vocabulary), so the
    # special ids can be read from it.
    bert = out / "bert"
    (bert / "vocab.txt").write_text("\n".join(BERT_VOCAB) + "\n", encoding="utf-8")
    (bert / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return {name: out / name for name in FAMILIES}


@pytest.fixture(scope="session")
def hub_preset(tmp_path_factory):
    """A keras-hub preset folder: a one-layer BertBackbone and its tokenizer.

    One layer: most tests on it compile a training step (the long part on
    JAX), and the depth changes nothing they check.
    """
    folder = tmp_path_factory.mktemp("hub") / "tiny_bert"
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=SIZE["vocab"],
        num_layers=1,
        num_heads=SIZE["heads"],
        hidden_dim=SIZE["hidden"],
        intermediate_dim=SIZE["intermediate"],
        max_sequence_length=SIZE["positions"],
        dropout=0.1,
    )
    backbone.save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=BERT_VOCAB).save_to_preset(str(folder))
    return folder


def _pieces(family):
    (cls_id, sep_id, pad_id), ids = FAMILIES[family]
    mask = (np.arange(4)[None] < np.array(LENGTHS)[:, None]).astype("int32")
    starts = mask * np.array([[1, 0, 1, 1]], "int32")
    starts[:, 0] = 1
    return {
        "token_ids": np.array(ids, "int32"),
        "padding_mask": mask,
        "word_starts": starts,
    }


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_backbone_and_tagger_match_transformers(hf_dirs, family):
    (cls_id, sep_id, pad_id), _ = FAMILIES[family]
    tagger = ner.build_pretrained_tagger(
        hf_dirs[family],
        2,
        head_size=8,
        dropout=0.0,
        cls_id=cls_id,
        sep_id=sep_id,
        pad_id=pad_id,
    )
    x = _pieces(family)
    # Special tokens added as the family has them, the mask extended.
    full = tagger.get_layer("add_special_tokens")(
        {"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}
    )
    np.testing.assert_array_equal(to_np(full["token_ids"]), FULL[family])
    np.testing.assert_array_equal(
        to_np(full["padding_mask"]), np.array(FULL[family]) != pad_id
    )
    # The backbone keras-hub converted gives the hidden states transformers gives.
    reference = np.load(hf_dirs[family] / "hidden.npy")
    hidden = to_np(_hidden(tagger, full))
    real = to_np(full["padding_mask"]).astype(bool)
    np.testing.assert_allclose(hidden[real], reference[real], atol=1e-4)
    # So the tagger is the head on those states, over the input's pieces.
    out = to_np(tagger(x))
    head = tagger.get_layer("global_pointer")
    expected = to_np(head(reference[:, 1:-1], mask=x["padding_mask"].astype(bool)))
    assert out.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    assert np.all(out[1, :, 2:, :] <= MASK_THRESHOLD)
    assert np.all(out[1, :, :, 2:] <= MASK_THRESHOLD)


def _hidden(tagger, full):
    backbone = find_backbone(tagger)
    feed = {key: to_np(value) for key, value in full.items()}
    if "segment_ids" in backbone.input:
        feed["segment_ids"] = np.zeros_like(feed["token_ids"])
    out = backbone(feed)
    return out["sequence_output"] if isinstance(out, dict) else out


def test_special_ids_from_the_preset_tokenizer(hf_dirs, hub_preset):
    assert special_token_ids(hf_dirs["bert"]) == (2, 3, 0)
    assert special_token_ids(hub_preset) == (2, 3, 0)
    tagger = ner.build_pretrained_tagger(hub_preset, 2, head_size=8)
    layer = tagger.get_layer("add_special_tokens")
    assert (layer.cls_id, layer.sep_id, layer.pad_id) == (2, 3, 0)
    with pytest.raises(ValueError, match="pass `cls_id`, `sep_id` and `pad_id`"):
        special_token_ids(hf_dirs["roberta"])  # no tokenizer files there
    backbone = keras_hub.models.Backbone.from_preset(str(hub_preset))
    with pytest.raises(ValueError, match="`cls_id`, `sep_id`, `pad_id` must be given"):
        ner.build_pretrained_tagger(backbone, 2)


def test_add_special_tokens_keeps_the_token_id_form():
    # Token ids alone (build_bert_tagger's form): padding read from pad_id.
    out = AddSpecialTokens(0, 2, pad_id=1)(np.array([[7, 8, 1], [9, 1, 1]]))
    np.testing.assert_array_equal(to_np(out), [[0, 7, 8, 2, 1], [0, 9, 2, 1, 1]])
    layer = AddSpecialTokens.from_config(AddSpecialTokens(5, 6, pad_id=1).get_config())
    assert (layer.cls_id, layer.sep_id, layer.pad_id) == (5, 6, 1)


def _train_data(head, batch=4, length=6, num_types=2):
    rng = np.random.default_rng(0)
    lengths = np.array([6, 5, 4, 3])[:batch]
    mask = (np.arange(length)[None] < lengths[:, None]).astype("int32")
    ids = np.where(mask > 0, rng.integers(5, SIZE["vocab"], (batch, length)), 0)
    starts = mask * (rng.random((batch, length)) < 0.6)
    starts[:, 0] = 1
    x = {"token_ids": ids.astype("int32"), "padding_mask": mask, "word_starts": starts}
    if head == "crf":
        # Tag 1 (B- of type 0) on the first piece of every row, O elsewhere.
        y = np.zeros((batch, length), "int32")
        y[:, 0] = 1
    else:
        y = np.zeros((batch, num_types, length, length), "float32")
        y[:, 0, 0, 1] = 1.0
        y[:, 1, 2, 2] = 1.0
    return x, y


def test_tagger_fine_tunes_under_rdrop_and_reloads(hub_preset, tmp_path):
    # The CRF head here; GlobalPointer in test_small_corpus_is_fitted_to_high_f1.
    tagger = ner.build_pretrained_tagger(hub_preset, 2, head="crf", head_size=8)
    x, y = _train_data("crf")
    model = RDropModel(tagger, alpha=1.0, kl="softmax")
    optimizer = ner.fine_tuning_optimizer(
        model, total_steps=40, backbone_learning_rate=1e-3, head_learning_rate=1e-2
    )
    model.compile(optimizer, loss=ner.tagger_loss(tagger))
    losses = model.fit(x, y, batch_size=4, epochs=5, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses
    out = to_np(tagger(x))
    # Non-first pieces of words and padding are masked for the CRF.
    first = (x["padding_mask"] * x["word_starts"]).astype(bool)
    assert np.all(out[~first] <= MASK_THRESHOLD)
    assert np.all(out[first] > MASK_THRESHOLD)
    path = tmp_path / "crf.keras"
    tagger.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(to_np(reloaded(x)), out, atol=1e-4)


# Thirty sentences whose entity words come from fixed lists: a tiny backbone
# with random weights learns them in a few steps.
PEOPLE = ["anna", "bob", "carla", "dmitri", "erin", "farid"]
PLACES = ["paris", "leeds", "oslo", "lima", "kyoto", "quito"]
FILLER = ["today", "again", "with", "friends", "later", "we", "saw", "that"]


def _bert_tagger(tokenizer, num_types, layers, positions, head_size=8, **kwargs):
    """A seeded tiny BertBackbone (hidden 32) for `tokenizer`, with a span head."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocab_size,
        num_layers=layers,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=positions,
    )
    return ner.build_pretrained_tagger(
        backbone,
        num_types,
        head_size=head_size,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        pad_id=tokenizer.pad_id,
        **kwargs,
    )


def _synthetic_corpus(n=30, seed=0):
    rng = np.random.default_rng(seed)
    corpus = []
    for _ in range(n):
        pre = [str(w) for w in rng.choice(FILLER, rng.integers(0, 3))]
        post = [str(w) for w in rng.choice(FILLER, rng.integers(0, 2))]
        words = pre + [str(rng.choice(PEOPLE)), "flew", "to", str(rng.choice(PLACES))]
        k = len(pre)
        corpus.append((words + post, [("PER", k, k), ("LOC", k + 3, k + 3)]))
    return corpus


def test_small_corpus_is_fitted_to_high_f1(tmp_path):
    """GlobalPointer + R-Drop on a tiny BERT: train F1 > 0.9, then save_tagger / load_tagger."""
    tokenizers = pytest.importorskip("tokenizers")
    corpus, labels = _synthetic_corpus(), ["LOC", "PER"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab += sorted({w for words, _ in corpus for w in words})
    wordpiece = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(
            {t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"
        )
    )
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tokenizer = ner.SubwordTokenizer(wordpiece, labels=labels)
    tagger = _bert_tagger(tokenizer, len(labels), layers=2, positions=32, head_size=16)
    examples = ner.index_spans(corpus, labels)
    # One batch of the whole corpus, one padded length: one compiled step.
    data = ner.SubwordBatches(examples, tokenizer, 2, 16, batch_size=30, shuffle=True)
    model = RDropModel(tagger, alpha=1.0)
    steps = 15
    model.compile(
        ner.fine_tuning_optimizer(
            model,
            total_steps=steps,
            backbone_learning_rate=3e-3,
            head_learning_rate=3e-2,
            warmup=0,
        ),
        loss=ner.tagger_loss(tagger),
    )
    losses = model.fit(data, epochs=steps, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.3 * losses[0], losses
    pred = ner.predict_subword_spans(tagger, tokenizer, examples, max_length=16)
    scores = ner.entity_scores([s for _, s in examples], pred, labels)
    assert scores["f1"] > 0.9, scores

    # Reloaded from its folder, it tags raw text with character offsets (the
    # exact round trip of predictions: tests/ner/test_saving.py).
    ner.save_tagger(tmp_path, tagger, tokenizer)
    again, tokenizer_again = ner.load_tagger(tmp_path)
    text = "we saw carla flew to kyoto"
    found = ner.predict_subword_entities(again, tokenizer_again, text, max_length=16)
    assert [(e["type"], e["text"], e["start"]) for e in found] == [
        ("PER", "carla", 7),
        ("LOC", "kyoto", 21),
    ]


def test_crf_skips_the_pieces_after_a_word_start(hub_preset):
    tagger = ner.build_pretrained_tagger(
        hub_preset, 2, head="crf", dropout=0.0, head_kwargs={"lr_multiplier": 1.0}
    )
    x, y = _train_data("crf")
    emissions = to_np(tagger(x))
    crf = ner.find_crf(tagger)
    first = (x["padding_mask"] * x["word_starts"]).astype(bool)
    assert (~first & x["padding_mask"].astype(bool)).any()  # holes inside rows
    # Holes in the mask: the loss and the decoder equal those of the first
    # pieces alone, packed to the front (the chain carried over the holes).
    loss = to_np(crf_negative_log_likelihood(y, emissions, crf.transitions))
    tags = to_np(crf.decode(emissions)[0])
    order = np.argsort(~first, axis=1, kind="stable")
    packed = np.take_along_axis(emissions, order[..., None], axis=1)
    kept = np.take_along_axis(first, order, axis=1)
    packed[~kept] = emissions[~first][0, 0]  # the mask value: padded steps
    packed_y = np.take_along_axis(y, order, axis=1)
    expected = to_np(crf_negative_log_likelihood(packed_y, packed, crf.transitions))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    packed_tags = to_np(crf.decode(packed)[0])
    for row in range(len(y)):
        keep = first[row]
        np.testing.assert_array_equal(tags[row, keep], packed_tags[row, : keep.sum()])
        assert np.all(tags[row, ~keep] == 0)


@pytest.fixture
def policy():
    before = keras.mixed_precision.global_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(before)


@pytest.mark.parametrize(
    ("name", "head"), [("mixed_bfloat16", "global_pointer"), ("mixed_float16", "crf")]
)
def test_mixed_precision_trains_with_finite_losses(hub_preset, policy, name, head):
    policy(name)
    tagger = ner.build_pretrained_tagger(hub_preset, 2, head=head, head_size=8)
    assert tagger.get_layer(head).compute_dtype == name.split("_")[1]
    x, y = _train_data(head)
    tagger.compile(
        ner.fine_tuning_optimizer(tagger, total_steps=3, warmup=0),
        loss=ner.tagger_loss(tagger),
    )
    losses = tagger.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"]
    out = to_np(keras.ops.cast(tagger(x), "float32"))
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(out))


# --- the optimizer ------------------------------------------------------------


def _numpy_adamw(values, grads, lrs, decays, b1=0.9, b2=0.999, eps=1e-8):
    """PyTorch's AdamW in float64: `lrs[t][i]`, `decays[i]` per variable."""
    values = [np.array(v, "float64") for v in values]
    m = [np.zeros_like(v) for v in values]
    s = [np.zeros_like(v) for v in values]
    for t, step_grads in enumerate(grads, start=1):
        for i, g in enumerate(step_grads):
            lr = lrs[t - 1][i]
            values[i] = values[i] - lr * decays[i] * values[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            s[i] = b2 * s[i] + (1 - b2) * g**2
            m_hat, s_hat = m[i] / (1 - b1**t), s[i] / (1 - b2**t)
            values[i] = values[i] - lr * m_hat / (np.sqrt(s_hat) + eps)
    return values


def test_scaled_adamw_matches_numpy_adamw():
    rng = np.random.default_rng(3)
    start = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    kernel = keras.Variable(start[0].astype("float32"), name="kernel")
    bias = keras.Variable(start[1].astype("float32"), name="bias")
    schedule = ner.WarmupLinearDecay(0.1, warmup_steps=1, total_steps=5)
    opt = ner.ScaledAdamW(
        schedule, multipliers={kernel.path: 0.25}, weight_decay=0.3, no_decay=NO_DECAY
    )
    grads = [[rng.normal(size=v.shape) for v in start] for _ in range(4)]
    for step_grads in grads:
        opt.apply([g.astype("float32") for g in step_grads], [kernel, bias])
    lrs = [[0.25 * to_np(schedule(t)), to_np(schedule(t))] for t in range(4)]
    expected = _numpy_adamw(start, grads, lrs, decays=[0.3, 0.0])
    np.testing.assert_allclose(to_np(kernel), expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(bias), expected[1], rtol=1e-5, atol=1e-5)
    again = ner.ScaledAdamW.from_config(opt.get_config())
    assert again.multipliers == {kernel.path: 0.25} and again.no_decay == list(NO_DECAY)
    assert isinstance(again.learning_rate, keras.Variable) or callable(
        again._learning_rate
    )


def test_backbone_and_head_get_their_rates(hub_preset):
    tagger = ner.build_pretrained_tagger(hub_preset, 2, head_size=8, dropout=0.0)
    model = RDropModel(tagger, alpha=1.0)
    backbone = find_backbone(model)
    assert isinstance(backbone, keras_hub.models.Backbone)
    opt = ner.fine_tuning_optimizer(
        model,
        total_steps=10,
        backbone_learning_rate=1e-4,
        head_learning_rate=1e-2,
        warmup=0,
        weight_decay=0.0,
    )
    inside = {id(v) for v in backbone.trainable_variables}
    variables = tagger.trainable_variables
    assert any(id(v) not in inside for v in variables)
    before = [to_np(v) for v in variables]
    # Adam's first step moves every element by its learning rate (sign steps).
    opt.apply([keras.ops.ones(v.shape) for v in variables], variables)
    for v, old in zip(variables, before, strict=True):
        rate = 1e-4 if id(v) in inside else 1e-2
        np.testing.assert_allclose(old - to_np(v), rate, rtol=1e-2, err_msg=v.path)


def test_adversarial_training_perturbs_the_backbone_token_embedding(hub_preset):
    """FGM on a keras-hub backbone tagger: the token embedding is found (not
    the segment or position embedding) and one step trains with finite
    losses (tests/models/test_adversarial.py checks the perturbation)."""
    tagger = ner.build_pretrained_tagger(
        hub_preset, 2, head="global_pointer", head_size=8
    )
    x, y = _train_data("global_pointer")
    model = AdversarialModel(tagger, method="fgm", epsilon=0.5)
    assert model.embedding == "token_embedding"
    model.compile("adam", loss=ner.tagger_loss(tagger))
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and history["adversarial_loss"][0] > 0


@pytest.mark.parametrize("head", ["global_pointer", "crf"])
def test_backbone_tagger_exports_with_its_decoding(hub_preset, head, tmp_path):
    """A keras-hub BERT tagger, wrapped for training, exports with its decoding.

    The serving model of the wrapper is its inner tagger's; where this backend
    exports (`ner.serving.EXPORTS_FROM`), the artifact's outputs equal the
    serving model's `predict` (BERT's exact GELU reaches ONNX as `1 - Erf`).
    """
    from keras_rdkl.ner import serving

    tagger = ner.build_pretrained_tagger(hub_preset, 2, head=head, head_size=8)
    x, _ = _train_data(head)
    model = serving.build_serving_model(RDropModel(tagger), max_spans=64)
    expected = model.predict(x, verbose=0)
    if head == "crf":
        emissions = tagger.predict(x, verbose=0)
        mask = x["padding_mask"] > 0
        paths, _ = ner.find_crf(tagger).decode(emissions, mask=mask)
        np.testing.assert_array_equal(
            expected["tags"], np.where(mask, keras.ops.convert_to_numpy(paths), 0)
        )
    else:
        from keras_rdkl.spans import decode_spans

        spans = decode_spans(tagger.predict(x, verbose=0), mask=x["padding_mask"])
        assert expected["count"].tolist() == [len(s) for s in spans]
    backend = keras.backend.backend()
    for fmt in [f for f, ok in serving.EXPORTS_FROM.items() if backend in ok]:
        if fmt == "onnx" and head == "crf":
            continue  # tf2onnx cannot convert the Viterbi loop (docs/serving.md)
        if not _have("tensorflow", "tf2onnx", "onnxruntime"):
            pytest.skip("exporting needs tensorflow, tf2onnx and onnxruntime")
        path = str(tmp_path / fmt)
        serving.export_model(model, path, fmt)
        if fmt == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(path)
            feed = {i.name: x[i.name] for i in session.get_inputs()}
            names = [o.name for o in session.get_outputs()]
            got = dict(zip(names, session.run(None, feed), strict=True))
        else:
            import tensorflow as tf

            serve = tf.saved_model.load(path).signatures["serving_default"]
            out = serve(**{k: tf.constant(v) for k, v in x.items()})
            got = {k: v.numpy() for k, v in out.items()}
        assert sorted(got) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-4, atol=1e-4)


def _wordpiece_tokenizer(texts, labels):
    """A lowercase WordPiece over WNUT-17 text: frequent words whole, the rest
    split into characters (`##` continuations), so many words have several
    pieces."""
    tokenizers = pytest.importorskip("tokenizers")
    words = [w.lower() for t in texts for w in ner.tokenize(t, "word")[0]]
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    chars = sorted({c for w in words for c in w})
    frequent = sorted(counts, key=lambda w: (-counts[w], w))[:40]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + chars + [f"##{c}" for c in chars]
    vocab += [w for w in frequent if w not in vocab]
    wordpiece = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(
            {t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"
        )
    )
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    return ner.SubwordTokenizer(wordpiece, labels=labels)


def _byte_level_tokenizer(texts, labels):
    """A RoBERTa-style byte-level BPE trained on WNUT-17 text (words carry
    their leading space, `Ġ`), with 200 merges: most words are several pieces."""
    tokenizers = pytest.importorskip("tokenizers")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=456,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return ner.SubwordTokenizer(bpe, "<s>", "</s>", "<pad>", labels=labels)


@requires_data("wnut17")
@pytest.mark.parametrize(
    "head, pieces",
    [
        ("global_pointer", "wordpiece"),
        ("crf", "wordpiece"),
        ("global_pointer", "byte_level_bpe"),
    ],
)
def test_backbone_tagger_serves_raw_text_without_keras_rdkl(head, pieces, tmp_path):
    """`export_tagger` with a SubwordTokenizer; `serve_tagger.py` gives, from raw
    WNUT-17 text, the entities `predict_subword_entities` gives (windows of
    whole words past `max_length` included), with the tokenizer files only."""
    from keras_rdkl import datasets
    from keras_rdkl.ner import serving

    backend = keras.backend.backend()
    formats = [f for f, ok in serving.EXPORTS_FROM.items() if backend in ok]
    if not formats:
        pytest.skip(f"{backend} exports no format (tests/ner/test_serving.py)")
    if not _have("tensorflow", "tf2onnx", "onnxruntime"):
        pytest.skip("exporting needs tensorflow, tf2onnx and onnxruntime")
    dev, labels = datasets.load_wnut17("dev")
    texts = [" ".join(words) for words, _ in dev[:40]]
    make = _wordpiece_tokenizer if pieces == "wordpiece" else _byte_level_tokenizer
    tokenizer = make(texts, labels)
    assert tokenizer.byte_level == (pieces == "byte_level_bpe")
    tagger = _bert_tagger(tokenizer, len(labels), layers=1, positions=24, head=head)
    # Untrained weights: a threshold that a few spans per sentence clear,
    # in the widest gap between scores (runtimes' float noise cannot cross it).
    threshold = 0.0
    if head == "global_pointer":
        scores = np.sort(
            [
                e["score"]
                for s in ner.predict_subword_entities(
                    tagger, tokenizer, texts, max_length=16, threshold=-1e3
                )
                for e in s
            ]
        )[::-1][40:160]
        k = int(np.argmax(scores[:-1] - scores[1:]))
        threshold = float((scores[k] + scores[k + 1]) / 2)
    batches = (texts[:12], texts[12:13], texts[13:40])  # mixed lengths, and one
    expected = [
        ner.predict_subword_entities(
            tagger, tokenizer, b, max_length=16, threshold=threshold
        )
        for b in batches
    ]
    assert any(
        len(p.word_index) > 14
        for p in tokenizer.encode_batch([ner.tokenize(t, "word")[0] for t in texts])
    ), "some sentences need several windows of 14 pieces"
    assert sum(len(s) for b in expected for s in b) >= 10
    ner.save_tagger(tmp_path / "saved", tagger, tokenizer)
    for fmt in formats:
        folder = tmp_path / fmt
        if fmt == "tf_saved_model":  # as a user exports a saved tagger
            serving.main(
                [str(tmp_path / "saved"), "--format", fmt, "--output", str(folder)]
                + ["--max-spans", "256", "--threshold", repr(threshold)]
                + ["--max-length", "16"]
            )
        else:  # a training wrapper's inner tagger is what is exported
            serving.export_tagger(
                folder,
                RDropModel(tagger),
                tokenizer,
                format=fmt,
                max_spans=256,
                threshold=threshold,
                max_length=16,
            )
        settings = json.loads((folder / serving.SERVING_FILE).read_text())
        assert settings["max_length"] == 16 and "vocabulary" not in settings
        server = load_example("serve_tagger").Tagger(folder)
        for batch, want in zip(batches, expected, strict=True):
            got = server.entities(batch)
            assert [
                [(e["type"], e["start"], e["end"], e["text"]) for e in s] for s in got
            ] == [
                [(e["type"], e["start"], e["end"], e["text"]) for e in s] for s in want
            ], fmt
            for s, t in zip(got, want, strict=True):
                np.testing.assert_allclose(
                    [e["score"] for e in s], [e["score"] for e in t], atol=2e-4
                )


def test_export_tagger_checks_the_subword_arguments(hub_preset, tmp_path):
    from keras_rdkl.ner import serving

    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(
            {t: i for i, t in enumerate(BERT_VOCAB)}, unk_token="[UNK]"
        )
    )
    tokenizer = ner.SubwordTokenizer(hf, labels=["a", "b"])
    tagger = ner.build_pretrained_tagger(hub_preset, 2, head_size=8)
    fmt = "tf_saved_model"
    if keras.backend.backend() not in serving.EXPORTS_FROM[fmt]:
        pytest.skip(
            "this backend exports no format; its error is tested in test_serving"
        )
    with pytest.raises(ValueError, match="max_length.*at most the backbone's 40"):
        serving.export_tagger(tmp_path, tagger, tokenizer, fmt, max_length=41)
    plain = ner.build_span_tagger(10, 2, hidden=8, head_size=4)
    with pytest.raises(ValueError, match="no pretrained backbone"):
        serving.export_tagger(tmp_path, plain, tokenizer, fmt)
    vocab = ner.Vocabulary.build([["a"]], labels=["a", "b"], level="word")
    with pytest.raises(ValueError, match="max_length"):
        serving.export_tagger(tmp_path, plain, vocab, fmt, max_length=16)
    with pytest.raises(ValueError, match="labels"):
        serving.export_tagger(tmp_path, tagger, ner.SubwordTokenizer(hf), fmt)
