"""bert4keras' `build_transformer_model` for Google-format BERT checkpoints.

keras-hub's `BertBackbone` (with bert4keras' erf GELU) loads the weights: from
a TensorFlow checkpoint with Google's variable names (read with TensorFlow's
checkpoint reader) or from a Keras weights file that `convert_checkpoint`
writes once, which every backend loads without TensorFlow. The model handed to
the script computes the same BERT out of Keras layers named as bert4keras
names them (`Embedding-Token`, `Transformer-%d-FeedForward-Norm`, ...), so
that scripts can pick a layer by name, behind bert4keras' inputs,
`[token_ids, segment_ids]`, padding where the token id is 0, and output, the
last hidden states.
"""

import json
import os

import keras
import numpy as np
from keras import ops

from keras_rdkl import _keras_internals
from keras_rdkl.compat import _backend
from keras_rdkl.compat._backend import gelu_tanh

_MODELS = ("bert", "roberta")
_GELU = ("erf", "tanh")
_WEIGHTS_SUFFIX = ".weights.h5"
_REQUIRED_CONFIG = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
)


def _import_keras_hub():
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(
            "build_transformer_model builds on keras-hub's BertBackbone: install "
            "it with `pip install 'keras-rdkl[hub]'` (keras-hub declares "
            "tensorflow-text, which pulls full TensorFlow; to avoid that, "
            "`pip install --no-deps keras-hub` then `pip install tokenizers "
            "regex rich kagglehub sentencepiece absl-py packaging`)."
        ) from error
    return keras_hub


# Registered as "keras_rdkl.compat>PaddingMask": "keras_rdkl>PaddingMask" is
# `keras_rdkl.ner.PaddingMask` (a bool mask). Files saved before the two had
# their own names carry "keras_rdkl>PaddingMask" for this layer too; the NER
# class' `from_config` hands a layer named "Padding-Mask" (the name
# `build_transformer_model` gives it) to this class.
@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class PaddingMask(keras.layers.Layer):
    """1 where `token_ids` is not 0 (padding), as int32, for keras-hub's BERT."""

    def call(self, token_ids):
        return ops.cast(ops.not_equal(token_ids, 0), "int32")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_rdkl")
class AttachPaddingMask(keras.layers.Layer):
    """Passes `hidden` through with the Keras mask `token_ids != 0`.

    Layers after the model that take a mask (GlobalPointer, CRF, pooling)
    then skip padding, as after bert4keras' BERT.
    """

    def call(self, inputs):
        return inputs[0]

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs[1], 0)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


_BACKBONE_CLASS = []


def _backbone_class():
    """keras-hub's BertBackbone with a choice of GELU, defined on first use."""
    if _BACKBONE_CLASS:
        return _BACKBONE_CLASS[0]
    keras_hub = _import_keras_hub()

    @keras.saving.register_keras_serializable(package="keras_rdkl")
    class Bert4KerasBackbone(keras_hub.models.BertBackbone):
        """`BertBackbone` whose feedforward GELU is erf (bert4keras) or tanh."""

        def __init__(self, *args, gelu="erf", **kwargs):
            super().__init__(*args, **kwargs)
            self.gelu = gelu
            # The model returns the sequence output; an unused trainable
            # pooler would only draw "no gradient" warnings.
            self.pooled_dense.trainable = False
            if gelu == "erf":
                for layer in self.transformer_layers:
                    _keras_internals.set_feedforward_activation(layer, _gelu_erf)

        def get_config(self):
            return {**super().get_config(), "gelu": self.gelu}

    _BACKBONE_CLASS.append(Bert4KerasBackbone)
    return Bert4KerasBackbone


class _LazyBackbone:
    """Stands in for `Bert4KerasBackbone` until keras-hub is imported.

    The real class subclasses keras-hub's `BertBackbone`, so it can only be
    defined after importing keras-hub (seconds). Registered under its name,
    this lets `keras.saving.load_model` rebuild a saved model in a fresh
    process: Keras calls `from_config`, which defines the real class.
    """

    @classmethod
    def from_config(cls, config):
        return _backbone_class().from_config(config)


keras.saving.get_custom_objects().setdefault(
    "keras_rdkl>Bert4KerasBackbone", _LazyBackbone
)


def _gelu_erf(x):
    return keras.activations.gelu(x, approximate=False)


def _read_config(config_path):
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(
            "`config_path` must be a readable bert_config.json. Received: "
            f"config_path={config_path!r} ({error})"
        ) from error
    missing = [k for k in _REQUIRED_CONFIG if k not in config]
    if missing:
        raise ValueError(f"The BERT config {config_path!r} lacks {', '.join(missing)}.")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ValueError(
            f"hidden_size={config['hidden_size']} in {config_path!r} is not a "
            f"multiple of num_attention_heads={config['num_attention_heads']}."
        )
    act = config.get("hidden_act", "gelu")
    if act not in ("gelu", "gelu_erf", "gelu_tanh", "gelu_new"):
        raise ValueError(
            f"hidden_act={act!r} in {config_path!r}: only GELU BERTs are "
            "supported ('gelu', 'gelu_erf', 'gelu_tanh', 'gelu_new')."
        )
    return config


def _google_names(config):
    """`{google_name: (expected_shape, backbone_path, keras_shape)}`."""
    h = config["hidden_size"]
    heads = config["num_attention_heads"]
    head = h // heads
    inter = config["intermediate_size"]
    table = {
        "bert/embeddings/word_embeddings": (
            (config["vocab_size"], h),
            "token_embedding/embeddings",
        ),
        "bert/embeddings/position_embeddings": (
            (config["max_position_embeddings"], h),
            "position_embedding/embeddings",
        ),
        "bert/embeddings/token_type_embeddings": (
            (config.get("type_vocab_size", 2), h),
            "segment_embedding/embeddings",
        ),
        "bert/embeddings/LayerNorm/gamma": ((h,), "embeddings_layer_norm/gamma"),
        "bert/embeddings/LayerNorm/beta": ((h,), "embeddings_layer_norm/beta"),
    }
    names = {g: (shape, path, shape) for g, (shape, path) in table.items()}
    for i in range(config["num_hidden_layers"]):
        g, k = f"bert/encoder/layer_{i}", f"transformer_layer_{i}"
        attn = f"{k}/self_attention_layer"
        for part in ("query", "key", "value"):
            names[f"{g}/attention/self/{part}/kernel"] = (
                (h, h),
                f"{attn}/{part}/kernel",
                (h, heads, head),
            )
            names[f"{g}/attention/self/{part}/bias"] = (
                (h,),
                f"{attn}/{part}/bias",
                (heads, head),
            )
        names[f"{g}/attention/output/dense/kernel"] = (
            (h, h),
            f"{attn}/attention_output/kernel",
            (heads, head, h),
        )
        for src, dst, shape in (
            ("attention/output/dense/bias", f"{attn}/attention_output/bias", (h,)),
            (
                "attention/output/LayerNorm/gamma",
                f"{k}/self_attention_layer_norm/gamma",
                (h,),
            ),
            (
                "attention/output/LayerNorm/beta",
                f"{k}/self_attention_layer_norm/beta",
                (h,),
            ),
            (
                "intermediate/dense/kernel",
                f"{k}/feedforward_intermediate_dense/kernel",
                (h, inter),
            ),
            (
                "intermediate/dense/bias",
                f"{k}/feedforward_intermediate_dense/bias",
                (inter,),
            ),
            ("output/dense/kernel", f"{k}/feedforward_output_dense/kernel", (inter, h)),
            ("output/dense/bias", f"{k}/feedforward_output_dense/bias", (h,)),
            ("output/LayerNorm/gamma", f"{k}/feedforward_layer_norm/gamma", (h,)),
            ("output/LayerNorm/beta", f"{k}/feedforward_layer_norm/beta", (h,)),
        ):
            names[f"{g}/{src}"] = (shape, dst, shape)
    return names


# Loaded when present (a model without them keeps its initial pooler).
_OPTIONAL = {
    "bert/pooler/dense/kernel": "pooled_dense/kernel",
    "bert/pooler/dense/bias": "pooled_dense/bias",
}


def _read_checkpoint(checkpoint_path, config, keep_tokens=None):
    """Reads and checks the backbone's arrays from a Google BERT checkpoint."""
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            "Reading a TensorFlow checkpoint needs TensorFlow's checkpoint "
            "reader: `pip install tensorflow-cpu`. To use the checkpoint where "
            "TensorFlow is not installed (JAX, PyTorch), convert it once where "
            "it is: convert_checkpoint(config_path, checkpoint_path, "
            "'bert.weights.h5'), then build_transformer_model(config_path, "
            "weights_path='bert.weights.h5')."
        ) from error
    try:
        reader = tf.train.load_checkpoint(os.fspath(checkpoint_path))
    except Exception as error:  # TF raises several types for a bad path.
        raise ValueError(
            "`checkpoint_path` must be a TensorFlow checkpoint (the prefix, "
            "e.g. .../bert_model.ckpt, or its folder). Received: "
            f"checkpoint_path={checkpoint_path!r} ({type(error).__name__}: {error})"
        ) from error
    found = reader.get_variable_to_shape_map()
    expected = _google_names(config)
    vocab = config["vocab_size"]
    problems = []
    arrays = {}
    for name, (shape, path, keras_shape) in expected.items():
        if name not in found:
            problems.append(f"{name}: missing (expected shape {shape})")
            continue
        got = tuple(found[name])
        if got != tuple(shape):
            problems.append(f"{name}: expected shape {tuple(shape)}, got {got}")
            continue
        value = np.asarray(reader.get_tensor(name), dtype="float32")
        if name == "bert/embeddings/word_embeddings" and keep_tokens is not None:
            value = value[keep_tokens]
        arrays[path] = value.reshape((-1, *keras_shape[1:]))
    if problems:
        raise ValueError(
            f"The checkpoint {checkpoint_path!r} does not match the BERT config "
            f"({config['num_hidden_layers']} layers, hidden size "
            f"{config['hidden_size']}, vocabulary {vocab}):\n  " + "\n  ".join(problems)
        )
    h = config["hidden_size"]
    pooler_shapes = {"pooled_dense/kernel": (h, h), "pooled_dense/bias": (h,)}
    for name, path in _OPTIONAL.items():
        if name in found and tuple(found[name]) == pooler_shapes[path]:
            arrays[path] = np.asarray(reader.get_tensor(name), dtype="float32")
    return arrays


def _check_keep_tokens(keep_tokens, config):
    if keep_tokens is None:
        return None
    ids = np.asarray(keep_tokens)
    vocab = config["vocab_size"]
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            "`keep_tokens` must be a non-empty list of token ids. "
            f"Received: keep_tokens={keep_tokens!r}"
        )
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(
            f"`keep_tokens` ids must lie in [0, {vocab}) (the checkpoint's "
            f"vocabulary). Received ids from {ids.min()} to {ids.max()}."
        )
    return ids


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position (bert4keras' `merge_mode="add"`).

    Args:
        input_dim: the number of positions (`max_position_embeddings`).
        output_dim: the embedding size.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `[batch, length, output_dim]` with `length <= input_dim`.
    """

    def __init__(self, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="embeddings",
        )

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        return inputs + ops.cast(self.embeddings[None, :length], inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
        }


def _named_bert(backbone, config, gelu, dropout_rate, name):
    """keras-hub's BERT laid out as bert4keras lays out its layers, by name.

    Scripts reach into bert4keras models by layer name
    (`model.get_layer("Transformer-%d-FeedForward-Norm" % (n - 1)).output`),
    which a nested keras-hub backbone cannot offer. The weights come from
    `backbone` (keras-hub loads and holds them); this graph makes the same
    computation out of Keras layers named as in bert4keras' `BERT`:
    `Embedding-Token`, `Embedding-Segment`, `Embedding-Token-Segment`,
    `Embedding-Position`, `Embedding-Norm`, `Embedding-Dropout`, then for
    each layer `i` `Transformer-i-MultiHeadSelfAttention` and
    `Transformer-i-FeedForward`, each followed by its `-Dropout`, `-Add` and
    `-Norm`.
    """
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    token_ids = keras.Input(shape=(None,), dtype="int32", name="Input-Token")
    segment_ids = keras.Input(shape=(None,), dtype="int32", name="Input-Segment")
    padding_mask = PaddingMask(name="Padding-Mask")(token_ids)
    attention_mask = keras.layers.Reshape((1, -1), name="Attention-Mask")(padding_mask)

    def norm(layer_name):
        return keras.layers.LayerNormalization(epsilon=1e-12, name=layer_name)

    pairs = []  # (new layer, keras-hub layer holding its weights)

    def use(layer, source):
        pairs.append((layer, source))
        return layer

    tokens = use(
        keras.layers.Embedding(
            backbone.token_embedding.input_dim, hidden, name="Embedding-Token"
        ),
        backbone.token_embedding,
    )(token_ids)
    segments = use(
        keras.layers.Embedding(
            backbone.segment_embedding.input_dim, hidden, name="Embedding-Segment"
        ),
        backbone.segment_embedding,
    )(segment_ids)
    x = keras.layers.Add(name="Embedding-Token-Segment")([tokens, segments])
    x = use(
        PositionEmbedding(
            config["max_position_embeddings"], hidden, name="Embedding-Position"
        ),
        backbone.position_embedding,
    )(x)
    x = use(norm("Embedding-Norm"), backbone.embeddings_layer_norm)(x)
    x = keras.layers.Dropout(dropout_rate, name="Embedding-Dropout")(x)
    activation = "gelu" if gelu == "erf" else gelu_tanh  # Keras' "gelu" is erf
    for i, block in enumerate(backbone.transformer_layers):
        attention = f"Transformer-{i}-MultiHeadSelfAttention"
        y = use(
            keras.layers.MultiHeadAttention(
                heads, hidden // heads, dropout=dropout_rate, name=attention
            ),
            block._self_attention_layer,
        )(x, x, attention_mask=attention_mask)
        y = keras.layers.Dropout(dropout_rate, name=f"{attention}-Dropout")(y)
        y = keras.layers.Add(name=f"{attention}-Add")([x, y])
        x = use(norm(f"{attention}-Norm"), block._self_attention_layer_norm)(y)
        feed_forward = f"Transformer-{i}-FeedForward"
        dense_in = use(
            keras.layers.Dense(config["intermediate_size"], activation=activation),
            block._feedforward_intermediate_dense,
        )
        dense_out = use(keras.layers.Dense(hidden), block._feedforward_output_dense)
        y = keras.Sequential([dense_in, dense_out], name=feed_forward)(x)
        y = keras.layers.Dropout(dropout_rate, name=f"{feed_forward}-Dropout")(y)
        y = keras.layers.Add(name=f"{feed_forward}-Add")([x, y])
        x = use(norm(f"{feed_forward}-Norm"), block._feedforward_layer_norm)(y)
    outputs = AttachPaddingMask(name="Output-Mask")([x, token_ids])
    bert = keras.Model([token_ids, segment_ids], outputs, name=name)
    for layer, source in pairs:
        layer.set_weights(source.get_weights())
    return bert


def build_transformer_model(
    config_path,
    checkpoint_path=None,
    model="bert",
    weights_path=None,
    keep_tokens=None,
    gelu=None,
    dropout_rate=None,
    return_keras_model=True,
    name=None,
):
    """bert4keras' `build_transformer_model` for BERT and RoBERTa checkpoints.

    Builds keras-hub's `BertBackbone` from a Google `bert_config.json` and
    loads a Google-format TensorFlow checkpoint (`bert_model.ckpt`: BERT,
    Chinese BERT, RoBERTa-wwm-ext, MacBERT, ...). The model takes
    `[token_ids, segment_ids]` (int, `[batch, length]`; id 0 is padding and
    is not attended to) and returns the last hidden states
    `[batch, length, hidden_size]`, as bert4keras' does, with the Keras
    mask `token_ids != 0` so that mask-aware layers after it (GlobalPointer)
    skip padding.

    The pooler is loaded when present (it does not change the output);
    pre-training heads (`cls/...`), optimizer slots (`adam_m`, `adam_v`) and
    `global_step` are ignored. A variable that is missing or has the wrong
    shape raises a `ValueError` listing each (name, expected, got).

    Reading a TensorFlow checkpoint needs TensorFlow (any Keras backend may
    run the model). Where TensorFlow is missing, convert the checkpoint once
    with `convert_checkpoint` and pass `weights_path`.

    Args:
        config_path: path of `bert_config.json`.
        checkpoint_path: checkpoint prefix (`.../bert_model.ckpt`), a
            `.weights.h5` file from `convert_checkpoint`, or None for random
            weights.
        model: "bert" or "roberta" (the same architecture, as in
            bert4keras).
        weights_path: a `.weights.h5` file from `convert_checkpoint`
            (instead of `checkpoint_path`).
        keep_tokens: ids of the checkpoint's vocabulary to keep, in order
            (bert4keras' simplified vocabularies); the embedding keeps those
            rows.
        gelu: "erf" or "tanh" GELU in the feedforward layers; default from
            the config's `hidden_act` as bert4keras reads it: "gelu" (erf
            unless `set_gelu("tanh")` was called) and "gelu_erf" are erf
            (bert4keras, Hugging Face), "gelu_tanh" and "gelu_new" tanh
            (keras-hub's own BertBackbone, Google's code).
        dropout_rate: dropout of the backbone; default the config's
            `hidden_dropout_prob`.
        return_keras_model: True returns the Keras model; False an object
            whose `model` is that model and whose `initializer` is BERT's
            (what bert4keras scripts use of its builder object).
        name: model name (default `model`).

    Returns:
        A functional `keras.Model` with inputs `[token_ids, segment_ids]`,
        whose layers carry bert4keras' names: `Input-Token`,
        `Input-Segment`, `Embedding-Token`, `Embedding-Segment`,
        `Embedding-Token-Segment`, `Embedding-Position`, `Embedding-Norm`,
        `Embedding-Dropout`, then for each layer `i` from 0
        `Transformer-i-MultiHeadSelfAttention` and `Transformer-i-FeedForward`,
        each followed by `-Dropout`, `-Add` and `-Norm`
        (`model.get_layer("Transformer-%d-FeedForward-Norm" % i).output` is
        layer `i`'s output). Two layers of its own carry the padding mask:
        `Padding-Mask`, `Attention-Mask`; `Output-Mask` attaches it to the
        output.

    Example:

    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> config = dict(vocab_size=30, hidden_size=8, num_hidden_layers=1,
    ...               num_attention_heads=2, intermediate_size=16,
    ...               max_position_embeddings=16, type_vocab_size=2)
    >>> _ = (folder / "bert_config.json").write_text(json.dumps(config))
    >>> bert = build_transformer_model(str(folder / "bert_config.json"))
    >>> ids = np.array([[2, 5, 7, 3, 0]]); segments = np.zeros_like(ids)
    >>> tuple(bert.predict([ids, segments], verbose=0).shape)
    (1, 5, 8)
    """
    if model not in _MODELS:
        raise ValueError(
            f"`model` must be one of {_MODELS} (Google-format BERT checkpoints). "
            f"Received: model={model!r}"
        )
    if gelu is not None and gelu not in _GELU:
        raise ValueError(f"`gelu` must be one of {_GELU}. Received: gelu={gelu!r}")
    if return_keras_model not in (True, False):
        raise ValueError(
            "`return_keras_model` must be True (the Keras model) or False (an "
            "object whose `.model` is that model). Received: "
            f"return_keras_model={return_keras_model!r}"
        )
    if checkpoint_path is not None and os.fspath(checkpoint_path).endswith(
        _WEIGHTS_SUFFIX
    ):
        if weights_path is not None:
            raise ValueError(
                "Pass one of `checkpoint_path` and `weights_path`. Received: "
                f"checkpoint_path={checkpoint_path!r}, weights_path={weights_path!r}"
            )
        checkpoint_path, weights_path = None, checkpoint_path
    if checkpoint_path is not None and weights_path is not None:
        raise ValueError(
            "Pass one of `checkpoint_path` (TensorFlow checkpoint) and "
            f"`weights_path` (Keras weights). Received: checkpoint_path="
            f"{checkpoint_path!r}, weights_path={weights_path!r}"
        )
    if weights_path is not None and not os.fspath(weights_path).endswith(
        _WEIGHTS_SUFFIX
    ):
        raise ValueError(
            f"`weights_path` must be a '{_WEIGHTS_SUFFIX}' file written by "
            f"convert_checkpoint. Received: weights_path={weights_path!r}"
        )
    if dropout_rate is not None and not 0 <= dropout_rate < 1:
        raise ValueError(
            f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate!r}"
        )
    config = _read_config(config_path)
    if gelu is None:
        act = config.get("hidden_act", "gelu")
        tanh = act in ("gelu_tanh", "gelu_new")
        gelu = _backend._GELU["version"] if act == "gelu" else "tanh" if tanh else "erf"
    keep = _check_keep_tokens(keep_tokens, config)
    arrays = None
    if checkpoint_path is not None:
        arrays = _read_checkpoint(checkpoint_path, config, keep)
    vocab_size = config["vocab_size"] if keep is None else len(keep)
    if dropout_rate is None:
        dropout_rate = config.get("hidden_dropout_prob", 0.1)
    backbone = _backbone_class()(
        vocabulary_size=vocab_size,
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        dropout=dropout_rate,
        max_sequence_length=config["max_position_embeddings"],
        num_segments=config.get("type_vocab_size", 2),
        gelu=gelu,
        name=f"{model}_backbone",
    )
    if arrays is not None:
        variables = {v.path: v for v in backbone.weights}
        for path, value in arrays.items():
            if path not in variables:
                raise RuntimeError(
                    f"keras-hub's BertBackbone has no weight {path!r}; this "
                    "keras-hub version names its weights differently."
                )
            variables[path].assign(value)
    bert = _named_bert(backbone, config, gelu, dropout_rate, name=name or model)
    if weights_path is not None:
        if not os.path.exists(weights_path):
            raise ValueError(
                f"`weights_path` does not exist. Received: weights_path={weights_path!r}"
            )
        bert.load_weights(weights_path)
    return bert if return_keras_model else Transformer(bert)


class Transformer:
    """What `build_transformer_model(..., return_keras_model=False)` returns.

    bert4keras then returns its model builder; scripts use its `model` (the
    Keras model) and `initializer` (for the layers they add on top).

    Attributes:
        model: the Keras model.
        initializer: BERT's weight initializer, a truncated normal of
            standard deviation 0.02.
        inputs, outputs: those of `model`.
    """

    def __init__(self, model):
        self.model = model
        self.initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.inputs = model.inputs
        self.outputs = model.outputs


def convert_checkpoint(config_path, checkpoint_path, output_path, keep_tokens=None):
    """Converts a Google BERT checkpoint once into a Keras weights file.

    Needs TensorFlow (its checkpoint reader); the file it writes loads on
    every backend without TensorFlow through
    `build_transformer_model(config_path, weights_path=output_path)` (with
    the same `keep_tokens`).

    Args:
        config_path: path of `bert_config.json`.
        checkpoint_path: checkpoint prefix (`.../bert_model.ckpt`).
        output_path: file to write, ending in `.weights.h5`.
        keep_tokens: as in `build_transformer_model`.

    Returns:
        `output_path`.
    """
    if not os.fspath(output_path).endswith(_WEIGHTS_SUFFIX):
        raise ValueError(
            f"`output_path` must end in '{_WEIGHTS_SUFFIX}'. "
            f"Received: output_path={output_path!r}"
        )
    if checkpoint_path is None:
        raise ValueError("`checkpoint_path` is required. Received: None")
    bert = build_transformer_model(
        config_path, checkpoint_path, keep_tokens=keep_tokens
    )
    bert.save_weights(output_path)
    return output_path


def _find_one(folder, patterns, what):
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"`bert_dir` holds several {what} files ({', '.join(f.name for f in found)}); "
                f"pass the paths to build_transformer_model and Tokenizer instead. "
                f"Received: bert_dir={str(folder)!r}"
            )
    return None


def load_bert_dir(bert_dir, model="bert", do_lower_case=True, **kwargs):
    """Tokenizer and model from an unpacked Google-format BERT folder.

    The folder is what Google and most Chinese BERT releases unpack to:
    `bert_config.json` (or one `*config*.json`), `vocab.txt` and a
    TensorFlow checkpoint `*.ckpt.index` / `*.ckpt.data-*`, or, in its place,
    a `*.weights.h5` from `convert_checkpoint` (used when TensorFlow cannot
    be imported, or when there is no TensorFlow checkpoint).

    Args:
        bert_dir: the folder.
        model: "bert" or "roberta".
        do_lower_case: passed to `Tokenizer` (True for Chinese and uncased
            models, False for cased ones).
        **kwargs: passed to `build_transformer_model` (`keep_tokens`,
            `dropout_rate`, `gelu`, `name`).

    Returns:
        `(tokenizer, bert)`: a `Tokenizer` and the model of
        `build_transformer_model`.
    """
    import importlib.util
    import pathlib

    from keras_rdkl.compat._tokenizer import Tokenizer

    folder = pathlib.Path(bert_dir)
    if not folder.is_dir():
        raise ValueError(
            f"`bert_dir` must be a folder. Received: bert_dir={bert_dir!r}"
        )
    config = _find_one(folder, ["bert_config.json", "*config*.json"], "config")
    vocab = _find_one(folder, ["vocab.txt"], "vocab")
    index = _find_one(folder, ["*.ckpt.index", "*.index"], "checkpoint")
    weights = _find_one(folder, ["*" + _WEIGHTS_SUFFIX], "weights")
    if config is None or vocab is None or (index is None and weights is None):
        raise ValueError(
            "`bert_dir` must hold bert_config.json, vocab.txt and a TensorFlow "
            "checkpoint (*.ckpt.index + data) or a .weights.h5 from "
            f"convert_checkpoint. Received: bert_dir={bert_dir!r} with "
            f"{sorted(p.name for p in folder.iterdir())}"
        )
    has_tf = importlib.util.find_spec("tensorflow") is not None
    if index is not None and (has_tf or weights is None):
        checkpoint = str(index)[: -len(".index")]
    else:
        checkpoint = str(weights)
    tokenizer = Tokenizer(str(vocab), do_lower_case=do_lower_case)
    bert = build_transformer_model(str(config), checkpoint, model=model, **kwargs)
    return tokenizer, bert
