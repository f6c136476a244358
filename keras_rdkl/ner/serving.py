"""A trained tagger for a server: entities decoded inside the graph, exported with Keras' `model.export`.

`build_serving_model(tagger)` adds the decoding to the tagger's graph, so the
model's outputs are entities rather than score grids:

- a GlobalPointer / EfficientGlobalPointer tagger gives, per sentence, the
  `max_spans` best spans above `threshold` as `types`, `starts`, `ends`
  (int32 `[batch, max_spans]`, `-1` past the last span; `end` inclusive),
  `scores` (float32, 0 past the last span) and `count` (int32 `[batch]`),
  best score first;
- a CRF tagger gives its constrained Viterbi path, `tags` (int32 `[batch,
  length]`, BIO ids as `ner.tagging` numbers them, 0 at padding) and
  `tag_scores` (float32, the emission of each chosen tag; a span's score is
  their sum over the span).

`export_tagger(directory, tagger, vocab, format=...)` writes that model with
`model.export` (`"onnx"` or `"tf_saved_model"`) and, beside it,
`serving.json`: the vocabulary, the type names and the input and output
names, everything a server needs to turn raw text into entities without
keras-rdkl (`examples/serve_tagger.py` does it with onnxruntime or
TensorFlow and NumPy only). A CRF tagger's ONNX file gives the emissions
(tf2onnx cannot convert the Viterbi loop) and `serving.json` its
transitions and constraints, which the server decodes with NumPy.
A tagger on a pretrained backbone is exported with its `SubwordTokenizer`
(the Hugging Face `tokenizer.json`, or the SentencePiece model, saved
beside the artifact): the server splits each word into pieces with the
`tokenizers` (or `sentencepiece`) library and maps the pieces' spans back to
words. `export_model(model, path, format)` exports any serving model the
same way, without the folder.

Which backend exports which format (Keras 3.15, checked by the tests):
`"tf_saved_model"` from TensorFlow and JAX; `"onnx"` from TensorFlow. The
PyTorch export of Keras fixes the batch size and length, and JAX's ONNX
converter (jax2onnx) cannot convert the BiLSTM's reversed scan: from those
backends the export raises a `ValueError` naming the command that exports
the same saved tagger from TensorFlow (`python -m keras_rdkl.ner.serving
FOLDER --format onnx`). `"litert"` is refused with its reason (see
docs/serving.md).
"""

import json
import pathlib

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import _kernels
from keras_rdkl.layers.crf import ConditionalRandomField
from keras_rdkl.masking import MASK_THRESHOLD
from keras_rdkl.ner.builder import find_crf
from keras_rdkl.ner.data import WORD_SHAPES
from keras_rdkl.ner.data import Vocabulary
from keras_rdkl.ner.pretrained import AddSpecialTokens
from keras_rdkl.ner.subwords import HF_TOKENIZER_FILE
from keras_rdkl.ner.subwords import SPM_FILE
from keras_rdkl.ner.subwords import SubwordTokenizer

__all__ = [
    "TopSpans",
    "ViterbiTags",
    "build_serving_model",
    "export_model",
    "export_tagger",
]

FORMATS = {"onnx": "model.onnx", "tf_saved_model": "saved_model"}
# The backends whose Keras export keeps the batch size and length dynamic
# and converts every head and encoder of the package (see the module doc).
EXPORTS_FROM = {"onnx": ("tensorflow",), "tf_saved_model": ("tensorflow", "jax")}
SERVING_FILE = "serving.json"
TOKENIZER_FOLDER = "tokenizer"
SPAN_OUTPUTS = ("types", "starts", "ends", "scores", "count")
CRF_OUTPUTS = ("tags", "tag_scores")
# Below every kept span's score (kept scores are above MASK_THRESHOLD).
_NOT_KEPT = 1.0e4 * MASK_THRESHOLD


@keras.saving.register_keras_serializable(package="keras_rdkl")
class TopSpans(keras.layers.Layer):
    """The best spans of GlobalPointer logits, in the graph: a fixed-size list per sentence.

    A span `(type, start, end)` is kept when its logit is above `threshold`
    (and above `keras_rdkl.MASK_THRESHOLD`), `start <= end` and both ends are
    tokens under `mask`: the spans `keras_rdkl.spans.decode_spans` returns,
    here the `max_spans` best of them, best first.

    Args:
        max_spans: spans returned per sentence (integer >= 1); a sentence
            with more spans above the threshold keeps its best `max_spans`.
        threshold: the decision threshold (0 for ZLPR-trained scores).

    Call arguments:
        logits: `[batch, types, L, L]`.
        mask: `[batch, L]`, true / 1 at tokens.

    Returns:
        A dict of `types`, `starts`, `ends` (int32 `[batch, max_spans]`, -1
        past the last span), `scores` (float32, 0 past the last span) and
        `count` (int32 `[batch]`).

    Example:

    >>> import numpy as np
    >>> logits = np.full((1, 1, 3, 3), -5.0, "float32")
    >>> logits[0, 0, 0, 1], logits[0, 0, 2, 2] = 2.0, 3.0
    >>> out = TopSpans(max_spans=3)(logits, np.ones((1, 3)))
    >>> [ops.convert_to_numpy(out[k]).tolist() for k in ("starts", "ends", "count")]
    [[[2, 0, -1]], [[2, 1, -1]], [2]]
    """

    def __init__(self, max_spans=64, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_spans = checks.check_int(max_spans, "max_spans", minimum=1)
        self.threshold = checks.check_threshold(threshold)

    def call(self, logits, mask):
        logits = ops.cast(logits, "float32")
        mask = ops.cast(mask, "bool")
        shape = ops.shape(logits)
        length = shape[-1]
        pairs = ops.logical_and(mask[:, None, :, None], mask[:, None, None, :])
        upper = ops.triu(ops.ones_like(logits[:1, :1], dtype="int32")) > 0
        keep = ops.logical_and(pairs, upper)
        keep = ops.logical_and(keep, logits > max(self.threshold, MASK_THRESHOLD))
        # Cells not kept get a finite score below every kept one (infinities
        # do not survive every converter); padding the list with it lets
        # `top_k` take `max_spans` from a grid with fewer cells.
        lowest = ops.full_like(logits, _NOT_KEPT)
        flat = ops.reshape(ops.where(keep, logits, lowest), (shape[0], -1))
        pad = ops.full_like(flat[:, :1], _NOT_KEPT)
        flat = ops.concatenate([flat] + [pad] * self.max_spans, axis=1)
        scores, index = _kernels.sorted_top_k(flat, self.max_spans)
        index = ops.cast(index, "int32")
        found = scores > _NOT_KEPT
        cells = ops.cast(length * length, "int32")
        length = ops.cast(length, "int32")
        within = index % cells
        none = ops.full_like(index, -1)
        return {
            "types": ops.where(found, index // cells, none),
            "starts": ops.where(found, within // length, none),
            "ends": ops.where(found, within % length, none),
            "scores": ops.where(found, scores, ops.zeros_like(scores)),
            "count": ops.sum(ops.cast(found, "int32"), axis=-1),
        }

    def compute_output_spec(self, logits, mask):
        shape = (logits.shape[0], self.max_spans)
        spec = {k: keras.KerasTensor(shape, "int32") for k in SPAN_OUTPUTS[:3]}
        spec["scores"] = keras.KerasTensor(shape, "float32")
        spec["count"] = keras.KerasTensor(shape[:1], "int32")
        return spec

    def get_config(self):
        config = super().get_config()
        config.update({"max_spans": self.max_spans, "threshold": self.threshold})
        return config


class ViterbiTags(keras.layers.Layer):
    """A CRF tagger's constrained Viterbi path, in the graph.

    Holds the tagger's `ConditionalRandomField` (its transitions and
    constraints) and decodes its emissions with `layer.decode`. Built by
    `build_serving_model` for export; it is not saved on its own.

    Call arguments:
        emissions: `[batch, length, num_tags]`, the CRF layer's output.
        mask: `[batch, length]`, true / 1 at tokens.

    Returns:
        A dict of `tags` (int32 `[batch, length]`, 0 at padding) and
        `tag_scores` (float32 `[batch, length]`: the emission of each chosen
        tag, 0 at padding).
    """

    def __init__(self, crf, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(crf, ConditionalRandomField):
            raise ValueError(
                "`crf` must be a keras_rdkl ConditionalRandomField layer. "
                f"Received: crf={type(crf).__name__}"
            )
        self.crf = crf

    def call(self, emissions, mask):
        mask = ops.cast(mask, "bool")
        tags, _ = self.crf.decode(emissions, mask=mask)
        tags = ops.cast(tags, "int32")
        picked = ops.take_along_axis(
            ops.cast(emissions, "float32"), tags[..., None], axis=-1
        )[..., 0]
        return {
            "tags": ops.where(mask, tags, ops.zeros_like(tags)),
            "tag_scores": ops.where(mask, picked, ops.zeros_like(picked)),
        }

    def compute_output_spec(self, emissions, mask):
        shape = emissions.shape[:2]
        return {
            "tags": keras.KerasTensor(shape, "int32"),
            "tag_scores": keras.KerasTensor(shape, "float32"),
        }


def _padding_mask(inputs):
    if isinstance(inputs, dict):
        if "padding_mask" in inputs:  # a pretrained backbone's inputs
            return inputs["padding_mask"]
        inputs = inputs["token_ids"]
    return ops.not_equal(inputs, 0)


def _tagger_inputs(tagger):
    inputs = tagger.input
    if isinstance(inputs, dict) and "token_ids" in inputs:
        return inputs
    if isinstance(inputs, (list, tuple, dict)):
        raise ValueError(
            "`tagger` must take `token_ids` (one input, or a dict of inputs "
            "holding `token_ids`), as the package's taggers do. Received inputs: "
            f"{keras.tree.map_structure(lambda t: t.name, inputs)}"
        )
    return inputs


def _functional(tagger):
    inner = getattr(tagger, "model", None)
    if isinstance(tagger, keras.Model) and isinstance(inner, keras.Model):
        tagger = inner  # a training wrapper (RDropModel, AdversarialModel)
    try:
        functional = isinstance(tagger, keras.Model) and tagger.output is not None
    except (AttributeError, ValueError):
        functional = False
    if not functional:
        raise ValueError(
            "`tagger` must be a functional Keras model (the package's taggers "
            f"are). Received: {type(tagger).__name__}"
        )
    return tagger


def build_serving_model(tagger, max_spans=64, threshold=0.0):
    """The tagger with its decoding in the graph: entities out, not score grids.

    Args:
        tagger: a functional span tagger of the package (`build_span_tagger`,
            `build_bert_tagger`, `build_pretrained_tagger`, reloaded or the
            inner model of a training wrapper): GlobalPointer,
            EfficientGlobalPointer or CRF head. Its weights are shared, not
            copied.
        max_spans: spans per sentence for a span head (see `TopSpans`).
        threshold: a span head's decision threshold (0 for ZLPR).

    Returns:
        A `keras.Model` with the tagger's inputs and a dict of outputs:
        `types`, `starts`, `ends`, `scores`, `count` for a span head (see
        `TopSpans`), or `tags`, `tag_scores` for a CRF head (see
        `ViterbiTags`).

    Example:

    >>> import numpy as np
    >>> from keras_rdkl.ner.builder import build_span_tagger
    >>> tagger = build_span_tagger(20, 2, hidden=8, head_size=4)
    >>> serving = build_serving_model(tagger, max_spans=5)
    >>> out = serving.predict(np.array([[3, 4, 5, 0]]), verbose=0)
    >>> sorted(out), out["starts"].shape
    (['count', 'ends', 'scores', 'starts', 'types'], (1, 5))
    """
    tagger = _functional(tagger)
    inputs, outputs = _tagger_inputs(tagger), tagger.output
    mask = _padding_mask(inputs)
    crf = find_crf(tagger)
    if crf is None:
        decoded = TopSpans(max_spans, threshold, name="top_spans")(outputs, mask)
    else:
        decoded = ViterbiTags(crf, name="viterbi_tags")(outputs, mask)
    return keras.Model(inputs, decoded, name=f"{tagger.name}_serving")


def _check_export(fmt):
    if fmt == "litert":
        raise ValueError(
            "format='litert' is not supported: Keras exports the taggers to LiteRT "
            "only with TensorFlow Select ops (FlexStridedSlice, and "
            "FlexTensorListReserve for the BiLSTM and Viterbi loops), which the "
            "ai-edge-litert 2.3 and TensorFlow 2.21 interpreters tested here cannot "
            "run (docs/serving.md). Use 'onnx' or 'tf_saved_model'."
        )
    if fmt not in FORMATS:
        raise ValueError(
            f"`format` must be one of {sorted(FORMATS)}. Received: format={fmt!r}"
        )
    backend = keras.backend.backend()
    if backend not in EXPORTS_FROM[fmt]:
        raise ValueError(
            f"Exporting a tagger to {fmt!r} from the {backend!r} backend is not "
            f"supported (Keras exports it with a dynamic batch size and length, "
            f"for every head and encoder, from {' and '.join(EXPORTS_FROM[fmt])} "
            "only; see docs/serving.md). A tagger saved with "
            "`keras_rdkl.ner.save_tagger` loads on any backend: run "
            f"`KERAS_BACKEND=tensorflow python -m keras_rdkl.ner.serving <folder> "
            f"--format {fmt}`."
        )


def export_tagger(
    directory,
    tagger,
    vocab,
    format="onnx",
    max_spans=64,
    threshold=0.0,
    max_chars=16,
    max_length=None,
):
    """Exports a tagger with in-graph decoding, and what a server needs beside it.

    Writes into `directory` (made if missing) the serving model
    (`build_serving_model`) as `model.onnx` (`format="onnx"`) or
    `saved_model/` (`"tf_saved_model"`), with a dynamic batch size and
    sentence length, and `serving.json`: the format, the head (`"spans"` or
    `"crf"`), the input and output names, `max_chars`, `threshold`,
    `max_spans`, the type names and the vocabulary (`Vocabulary.get_config`).
    A tagger on a pretrained backbone has its `SubwordTokenizer` saved in
    `directory/tokenizer/` (`SubwordTokenizer.save`) instead of a
    vocabulary, and `serving.json` says how to use it and the longest
    window (`max_length`).

    `examples/serve_tagger.py` reads the folder and turns raw text into
    entities with character offsets using onnxruntime (or TensorFlow) and
    NumPy only (and the `tokenizers` or `sentencepiece` library for sub-word
    pieces), giving the entities `predict_entities` gives (the whole
    sentence in one window), or `predict_subword_entities` with the same
    `max_length`.

    Args:
        directory: the output folder.
        tagger: a span tagger of the package (or its training wrapper).
        vocab: its `Vocabulary`, or its `SubwordTokenizer` (a tagger on a
            pretrained backbone), with `labels` (the type names). Every
            input the package's taggers take is served without keras-rdkl:
            tokens, characters, bigrams, word shapes and gazetteer marks
            (the gazetteer's lists are written into `serving.json`), or
            sub-word pieces.
        format: `"onnx"` (from TensorFlow) or `"tf_saved_model"` (from
            TensorFlow or JAX).
        max_spans, threshold: as in `build_serving_model`.
        max_chars: characters per word, for word + character models (as in
            training).
        max_length: sub-word taggers only: the longest window the server
            gives the model, special tokens included, as
            `predict_subword_entities`' `max_length` (default: the
            backbone's position table).

    Returns:
        The path of the artifact written.
    """
    _check_export(format)
    subwords = isinstance(vocab, SubwordTokenizer)
    if not (subwords or isinstance(vocab, Vocabulary)):
        raise ValueError(
            "`vocab` must be the tagger's keras_rdkl.ner.Vocabulary, or its "
            "keras_rdkl.ner.SubwordTokenizer for a tagger on a pretrained "
            f"backbone. Received: vocab={type(vocab).__name__}"
        )
    if vocab.labels is None:
        raise ValueError(
            f"`vocab.labels` is None: the {type(vocab).__name__} must carry the "
            "type names."
        )
    if subwords:
        longest = _backbone_length(_functional(tagger))
        if longest is None:
            raise ValueError(
                "`vocab` is a SubwordTokenizer but `tagger` has no pretrained "
                "backbone (no layer with a `max_sequence_length`); pass the "
                "tagger's Vocabulary."
            )
        if max_length is None:
            max_length = longest
        max_length = checks.check_int(max_length, "max_length", minimum=3)
        if max_length > longest:
            raise ValueError(
                f"`max_length` must be at most the backbone's {longest} positions. "
                f"Received: max_length={max_length}"
            )
    elif max_length is not None:
        raise ValueError(
            "`max_length` applies to taggers on a pretrained backbone (a "
            f"SubwordTokenizer). Received: max_length={max_length!r}"
        )
    serving = build_serving_model(tagger, max_spans=max_spans, threshold=threshold)
    crf = find_crf(serving)
    settings = {}
    if crf is not None and format == "onnx":
        # tf2onnx cannot convert Keras' TensorFlow loops (the Viterbi scan):
        # the ONNX file gives the emissions, and the server decodes them with
        # the transitions and constraints written here.
        tagger = _functional(tagger)
        serving = keras.Model(
            _tagger_inputs(tagger), {"emissions": tagger.output}, name=serving.name
        )
        settings = _crf_settings(crf)
    max_chars = checks.check_int(max_chars, "max_chars", minimum=1)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FORMATS[format]
    names = [t.name for t in keras.tree.flatten(serving.inputs)]
    export_model(serving, path, format, max_chars=max_chars)
    head = "spans" if crf is None else ("crf_emissions" if settings else "crf")
    outputs = {
        "spans": SPAN_OUTPUTS,
        "crf": CRF_OUTPUTS,
        "crf_emissions": ("emissions",),
    }
    if subwords:
        vocab.save(directory / TOKENIZER_FOLDER)
        text = {
            "tokenizer": {
                **vocab.get_config(),
                "folder": TOKENIZER_FOLDER,
                "file": HF_TOKENIZER_FILE
                if vocab.backend == "tokenizers"
                else SPM_FILE,
                "byte_level": vocab.byte_level,
                "pad_id": vocab.pad_id,
            },
            "max_length": max_length,
        }
    else:
        text = {"vocabulary": vocab.get_config(), "word_shapes": list(WORD_SHAPES)}
    settings = {
        "format": format,
        "artifact": path.name,
        "head": head,
        "inputs": names,
        "outputs": list(outputs[head]),
        **settings,
        "max_spans": max_spans,
        "threshold": float(threshold),
        "max_chars": max_chars,
        "labels": list(vocab.labels),
        **text,
    }
    (directory / SERVING_FILE).write_text(
        json.dumps(settings, ensure_ascii=False), encoding="utf-8"
    )
    return path


def _crf_settings(crf):
    """What a NumPy Viterbi needs: the effective transitions and the constraints."""
    import numpy as np

    num_tags = crf.transitions.shape[0]

    def allowed(tags):
        if tags is None:
            return [True] * num_tags
        tags = np.asarray(tags).reshape(-1)
        if tags.dtype == bool and tags.size == num_tags:
            return tags.tolist()
        vector = np.zeros(num_tags, bool)
        vector[tags.astype(int)] = True
        return vector.tolist()

    permitted = crf.allowed_transitions
    return {
        "transitions": keras.ops.convert_to_numpy(crf.transitions).tolist(),
        "start_tags": allowed(crf.start_tags),
        "end_tags": allowed(crf.end_tags),
        "allowed_transitions": (
            np.ones((num_tags, num_tags), bool)
            if permitted is None
            else np.asarray(permitted, bool)
        ).tolist(),
    }


def export_model(model, path, format="onnx", max_chars=16):
    """Exports a serving model (`build_serving_model`) with `model.export`, as `export_tagger` does.

    For a serving model that `export_tagger` does not write a server's folder
    for (a tagger on a pretrained backbone): the same checks of backend and
    format, the same conversions (see docs/serving.md), and on JAX one
    symbolic batch and length shared by every input, bounded by a pretrained
    backbone's position table.

    Args:
        model: the serving model.
        path: the artifact's path (`.onnx` file or SavedModel folder).
        format: `"onnx"` (from TensorFlow) or `"tf_saved_model"` (from
            TensorFlow or JAX).
        max_chars: the width of a `char_ids` input, if the model has one.
    """
    _check_export(format)
    names = [t.name for t in keras.tree.flatten(model.inputs)]
    # Keras' exporters want a model that has been called (its input
    # signature); one short batch does it.
    sample = {n: _sample_input(model, n, max_chars) for n in names}
    model(sample if len(names) > 1 else sample[names[0]])
    if format == "onnx":
        _convert_erfc()
    model.export(str(path), format=format, verbose=False, **_export_options(model))


def _sample_input(model, name, max_chars):
    import numpy as np

    spec = {t.name: t for t in keras.tree.flatten(model.inputs)}[name]
    shape = [2, 3] + [max_chars if d is None else d for d in spec.shape[2:]]
    return np.ones(shape, spec.dtype)


def _export_options(model):
    """jax2tf's shapes on JAX: every input shares the batch and the length.

    Keras' JAX exporter names each unknown dimension apart, so a word +
    character tagger's `token_ids` `(batch, a)` and `char_ids` `(batch, b,
    16)` could not be concatenated.
    """
    if keras.backend.backend() != "jax":
        return {}

    def shape(tensor):
        dims = ["batch", "length"] + [str(d) for d in tensor.shape[2:]]
        return f"({', '.join(dims)})"

    # A pretrained backbone's position table bounds the length (two places
    # go to the special tokens that `AddSpecialTokens` adds).
    longest = _backbone_length(model)
    constraints = []
    if longest is not None:
        special = any(isinstance(x, AddSpecialTokens) for x in model.layers)
        constraints.append(f"length <= {longest - 2 * special}")
    return {
        "jax2tf_kwargs": {
            "polymorphic_shapes": [keras.tree.map_structure(shape, model.input)],
            "polymorphic_constraints": constraints,
            # A server needs no gradient (and jax2tf converts the gradient
            # without the constraints).
            "with_gradient": False,
        }
    }


def _backbone_length(model):
    """The position table of a pretrained backbone among `model.layers`, or None."""
    for layer in model.layers:
        longest = getattr(layer, "max_sequence_length", None)
        if isinstance(longest, int):
            return longest
    return None


def _convert_erfc():
    """Teaches tf2onnx TensorFlow's `Erfc` (in Keras' exact GELU) as `1 - Erf`.

    ONNX has `Erf` but no `Erfc`, and tf2onnx 1.17 converts `Erfc` to an
    operator onnxruntime refuses, so a Transformer or BERT tagger's ONNX
    file would not load. Registering is idempotent.
    """
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 (registered by the decorator)
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            node.type = "Erf"
            out = node.output[0]
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name("erfc_one"), np.array(1, dtype))
            ctx.insert_new_node_on_output(
                "Sub", out, inputs=[one.output[0], out], name=utils.make_name(node.name)
            )


def main(argv=None):
    """`python -m keras_rdkl.ner.serving FOLDER --format onnx`: exports a saved tagger."""
    import argparse

    from keras_rdkl.ner.saving import load_tagger

    p = argparse.ArgumentParser(
        description="Export a tagger written by keras_rdkl.ner.save_tagger (the NER "
        "example's --output-dir) with its decoding, for serving without keras-rdkl. "
        "ONNX exports from KERAS_BACKEND=tensorflow; a SavedModel from tensorflow "
        "or jax."
    )
    p.add_argument("folder", help="the saved tagger's folder")
    p.add_argument("--format", default="onnx", choices=sorted(FORMATS))
    p.add_argument("--output", help="output folder (default: FOLDER/serving-FORMAT)")
    p.add_argument("--max-spans", type=int, default=64)
    p.add_argument("--threshold", type=float, default=0.0)
    p.add_argument("--max-chars", type=int, default=16)
    p.add_argument(
        "--max-length",
        type=int,
        help="pretrained-backbone taggers: the longest window, special tokens "
        "included (default: the backbone's position table)",
    )
    args = p.parse_args(argv)
    _check_export(args.format)
    model, vocab = load_tagger(args.folder)
    output = args.output or str(pathlib.Path(args.folder) / f"serving-{args.format}")
    path = export_tagger(
        output,
        model,
        vocab,
        format=args.format,
        max_spans=args.max_spans,
        threshold=args.threshold,
        max_chars=args.max_chars,
        max_length=args.max_length,
    )
    print(f"wrote {path} and {pathlib.Path(output) / SERVING_FILE}")


if __name__ == "__main__":
    main()
