"""Writes bert4keras 0.11.5 fixtures for the BERT-port tests.

The fixtures feed tests/compat/test_tokenizer.py and
tests/compat/test_bert_port.py. bert4keras needs Keras 2 (tf.keras), so the
fixtures are made in their own virtualenv (see tools/make_bert4keras_fixtures.py
for how to build it):

    TF_KERAS=1 TF_USE_LEGACY_KERAS=1 /tmp/b4k/bin/python \
        tools/make_bert4keras_bert_fixtures.py [--out DIR]

b4k_bert_tokenizer.npz: a small vocabulary and, for `do_lower_case` False
and True, what bert4keras' `Tokenizer` gives on varied strings (Chinese,
English, digits, mixed, accents, unknown words and characters, control and
space characters, long text with `maxlen`, text pairs): `tokenize`, `encode`
(with and without `maxlen`) and `rematch`, as JSON.

b4k_bert_model.npz: a tiny random BERT (2 layers, hidden 32) as a dict of
arrays with Google's checkpoint names (pooler and pre-training heads
included), its bert_config.json, a padded batch of token and segment ids and
bert4keras' last hidden states for it (`model="bert"` and `"roberta"`), the
names of bert4keras' layers and the outputs of the layers scripts pick by
name (`PICKED_LAYERS`). The
model is loaded by bert4keras from a real TensorFlow checkpoint that
`write_google_checkpoint` writes with `tf.compat.v1` variables and a
`tf.compat.v1.train.Saver` (optimizer slots and `global_step` beside the
weights, as released checkpoints carry them); the tests write the same
checkpoint again from the arrays.
"""

import argparse
import json
import os
import pathlib

import numpy as np

HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS, SEGMENTS = 32, 2, 4, 64, 64, 2

VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + list("我爱北京天安门。中文标点引号，结束！世界年（）“”的是")
    + ["hello", "world", "Hello", "World", "!", ",", ".", "-", "[", "]", "?"]
    + ["play", "##ing", "un", "##aff", "##able", "test", "##1", "##2", "##3"]
    + ["1", "2", "3", "4", "5", "##0", "##4", "##5", "20", "##20", "14"]
    + ["cafe", "naive", "resume", "ecole", "uber", "Cafe", "Ecole"]
    + ["tab", "new", "line", "spaces", "full", "width", "zero", "##width"]
    + ["ctrl", "cls", "unk", "CLS", "UNK", "a", "##a", "e", "##e", "##s"]
    + ["οδος", "ο", "##δ", "##ο", "##ς", "##σ", "ㅎ", "##ㅏ", "##ㄴ", "한"]
    + ["x", "##y", "##z", "##q"]
)

TEXTS = [
    "",
    "我爱北京天安门。",
    "Hello World! playing unaffable",
    "hello, 世界 2020年 test123",
    "Café naïve résumé",
    "ÉCOLE Über cafe",
    "xyzqq 未知字符㐀 ☃ zzz",
    "tab\tnew\nline  spaces\u3000full-width",
    "zero\u200bwidth\x00ctrl\ufffd end",
    "（中文标点）“引号”，结束！",
    "我爱北京天安门。" * 4 + "hello world 12345 3.14",
    "ΟΔΟΣ οδος",
    "한 국",
    "[CLS] literal [UNK] ?",
    "a" * 210 + " a",
    "Cafe\u0301 ecole\u0300",
]

PAIRS = [
    ("我爱北京", "天安门。"),
    ("Hello World!", "playing unaffable test123"),
    ("我爱北京天安门。" * 3, "hello world"),
    ("hello", "我爱北京天安门。" * 3),
    ("", "hello"),
]


def tokenizer_cases(dict_path):
    from bert4keras.tokenizers import Tokenizer

    cases = []
    for lower in (False, True):
        tok = Tokenizer(dict_path, do_lower_case=lower)
        for text in TEXTS:
            tokens = tok.tokenize(text)
            case = {"lower": lower, "text": text, "tokens": tokens}
            case["tokens_max6"] = tok.tokenize(text, maxlen=6)
            case["encode"] = tok.encode(text)
            case["encode_max8"] = tok.encode(text, maxlen=8)
            case["rematch"] = tok.rematch(text, tokens)
            case["rematch_max6"] = tok.rematch(text, case["tokens_max6"])
            cases.append(case)
        for first, second in PAIRS:
            case = {"lower": lower, "text": first, "second": second}
            case["encode"] = tok.encode(first, second)
            case["encode_max10"] = tok.encode(first, second, maxlen=10)
            case["encode_max7"] = tok.encode(first, second, maxlen=7)
            cases.append(case)
    return cases


def bert_config(vocab_size):
    return {
        "attention_probs_dropout_prob": 0.1,
        "directionality": "bidi",
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": POSITIONS,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pooler_fc_size": HIDDEN,
        "pooler_num_attention_heads": HEADS,
        "pooler_num_fc_layers": 3,
        "pooler_size_per_head": HIDDEN // HEADS,
        "pooler_type": "first_token_transform",
        "type_vocab_size": SEGMENTS,
        "vocab_size": vocab_size,
    }


def random_bert_weights(config, seed=0):
    """Random float32 weights of a BERT under Google's checkpoint names.

    Includes the pooler and both pre-training heads. Scales are larger than
    BERT's initializer so that every layer changes the hidden states.
    """
    rng = np.random.default_rng(seed)
    h = config["hidden_size"]
    inter = config["intermediate_size"]
    vocab = config["vocab_size"]

    def dense(shape):
        return (rng.standard_normal(shape) * 0.2).astype("float32")

    def norm(prefix):
        return {
            f"{prefix}/gamma": (1 + 0.1 * rng.standard_normal(h)).astype("float32"),
            f"{prefix}/beta": (0.1 * rng.standard_normal(h)).astype("float32"),
        }

    w = {
        "bert/embeddings/word_embeddings": dense((vocab, h)),
        "bert/embeddings/token_type_embeddings": dense((config["type_vocab_size"], h)),
        "bert/embeddings/position_embeddings": dense(
            (config["max_position_embeddings"], h)
        ),
        **norm("bert/embeddings/LayerNorm"),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}"
        for part in ("query", "key", "value"):
            w[f"{p}/attention/self/{part}/kernel"] = dense((h, h))
            w[f"{p}/attention/self/{part}/bias"] = dense((h,))
        w[f"{p}/attention/output/dense/kernel"] = dense((h, h))
        w[f"{p}/attention/output/dense/bias"] = dense((h,))
        w.update(norm(f"{p}/attention/output/LayerNorm"))
        w[f"{p}/intermediate/dense/kernel"] = dense((h, inter))
        w[f"{p}/intermediate/dense/bias"] = dense((inter,))
        w[f"{p}/output/dense/kernel"] = dense((inter, h))
        w[f"{p}/output/dense/bias"] = dense((h,))
        w.update(norm(f"{p}/output/LayerNorm"))
    w["bert/pooler/dense/kernel"] = dense((h, h))
    w["bert/pooler/dense/bias"] = dense((h,))
    w["cls/predictions/transform/dense/kernel"] = dense((h, h))
    w["cls/predictions/transform/dense/bias"] = dense((h,))
    w.update(norm("cls/predictions/transform/LayerNorm"))
    w["cls/predictions/output_bias"] = dense((vocab,))
    w["cls/seq_relationship/output_weights"] = dense((2, h))
    w["cls/seq_relationship/output_bias"] = dense((2,))
    return w


def write_google_checkpoint(weights, prefix, optimizer_slots=True):
    """Writes `weights` as a TF1 checkpoint with Google's variable names.

    Every weight gets `adam_m` / `adam_v` slots when `optimizer_slots`, and an
    int64 `global_step` is saved beside them, as in released checkpoints.
    Returns the checkpoint prefix (the `checkpoint_path` users pass).
    """
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for name, value in weights.items():
            variables.append(tf.compat.v1.Variable(value, name=name))
            if optimizer_slots:
                for slot in ("adam_m", "adam_v"):
                    variables.append(
                        tf.compat.v1.Variable(
                            np.zeros_like(value), name=f"{name}/{slot}"
                        )
                    )
        variables.append(
            tf.compat.v1.Variable(np.int64(1000), name="global_step", dtype=tf.int64)
        )
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(prefix), write_meta_graph=False)
    return str(prefix)


PICKED_LAYERS = [
    "Embedding-Norm",
    "Transformer-0-MultiHeadSelfAttention-Norm",
    "Transformer-0-FeedForward-Norm",
    f"Transformer-{LAYERS - 1}-FeedForward-Norm",
]


def model_fixture(tmp):
    from bert4keras.models import build_transformer_model

    config = bert_config(len(VOCAB))
    weights = random_bert_weights(config, seed=0)
    config_path = tmp / "bert_config.json"
    config_path.write_text(json.dumps(config))
    prefix = write_google_checkpoint(weights, tmp / "bert_model.ckpt")
    rng = np.random.default_rng(1)
    batch, length = 3, 11
    token_ids = rng.integers(5, len(VOCAB), (batch, length)).astype("int32")
    token_ids[:, 0] = 2
    lengths = [11, 7, 4]
    for row, n in enumerate(lengths):
        token_ids[row, n - 1] = 3
        token_ids[row, n:] = 0
    segment_ids = np.zeros_like(token_ids)
    segment_ids[0, 6:] = 1
    segment_ids[1, 4:7] = 1
    outputs = {}
    for model in ("bert", "roberta"):
        bert = build_transformer_model(str(config_path), prefix, model=model)
        outputs[f"hidden_{model}"] = bert.predict(
            [token_ids, segment_ids], verbose=0
        ).astype("float32")
    # Layer names, and the outputs of layers that scripts pick by name.
    from bert4keras.backend import keras

    outputs["layer_names_json"] = np.array(json.dumps([x.name for x in bert.layers]))
    picked = keras.models.Model(
        bert.inputs, [bert.get_layer(name).output for name in PICKED_LAYERS]
    )
    for name, value in zip(
        PICKED_LAYERS, picked.predict([token_ids, segment_ids], verbose=0), strict=True
    ):
        outputs[f"layer:{name}"] = value.astype("float32")
    return {
        "config_json": np.array(json.dumps(config)),
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        **outputs,
        **{f"w:{name}": value for name, value in weights.items()},
    }


def main():
    os.environ.setdefault("TF_KERAS", "1")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tempfile

    import bert4keras

    assert bert4keras.__version__ == "0.11.5", bert4keras.__version__
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        dict_path = tmp / "vocab.txt"
        dict_path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
        cases = tokenizer_cases(str(dict_path))
        np.savez_compressed(
            out / "b4k_bert_tokenizer.npz",
            vocab=np.array(VOCAB),
            cases_json=np.array(json.dumps(cases, ensure_ascii=False)),
        )
        np.savez_compressed(
            out / "b4k_bert_model.npz", vocab=np.array(VOCAB), **model_fixture(tmp)
        )
    print("wrote", out / "b4k_bert_tokenizer.npz", out / "b4k_bert_model.npz")


if __name__ == "__main__":
    main()
