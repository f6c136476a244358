"""Exported taggers (keras_rdkl.ner.serving) give what Keras' `predict` gives.

Small taggers of each head are trained on real CLUENER and WNUT-17 sentences,
exported with their decoding, loaded with onnxruntime / TensorFlow's
`saved_model.load`, and served by examples/serve_tagger.py (NumPy and the
runtime only). Batches mix lengths, hold one sentence, or a sentence longer
than any seen in training. From PyTorch (whose Keras export fixes the shapes)
and from JAX to ONNX, `export_tagger` raises an error that names the command
exporting the saved tagger from TensorFlow.
"""

import importlib
import importlib.util
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rdkl import datasets
from keras_rdkl import ner
from keras_rdkl.ner import serving
from tests.conftest import BACKEND
from tests.conftest import load_example
from tests.conftest import requires_data

pytestmark = [
    requires_data("cluener2020"),
    requires_data("wnut17"),
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow") is None
        or importlib.util.find_spec("onnxruntime") is None,
        reason="serving tests need tensorflow, tf2onnx and onnxruntime (test extra)",
    ),
]
FORMATS = serving.EXPORTS_FROM
CAN_EXPORT = [f for f, backends in FORMATS.items() if BACKEND in backends]
MAX = 2048


def _texts(examples, level, n=24):
    join = "".join if level == "char" else " ".join
    return [join(tokens) for tokens, _ in examples[:n]]


def _train(examples, labels, level, head, encoder, chars=False, epochs=3, **features):
    vocab = ner.Vocabulary.build(
        [t for t, _ in examples], labels=labels, level=level, chars=chars, **features
    )
    examples = ner.index_spans(examples, labels)
    model = ner.build_span_tagger(
        len(vocab),
        len(labels),
        encoder=encoder,
        head=head,
        hidden=16,
        embedding_dim=16,
        head_size=8,
        num_chars=vocab.num_chars,
        char_filters=8,
        char_dim=8,
        num_shapes=vocab.num_shapes,
        num_gazetteer_features=vocab.num_gazetteer_features,
    )
    model.compile(keras.optimizers.Adam(1e-2), ner.tagger_loss(model))
    # One padded length (CLUENER sentences have at most 50 characters): one
    # compiled training step.
    data = ner.SpanBatches(
        examples,
        vocab,
        len(labels),
        batch_size=32,
        pad_to_multiple=64,
        targets=ner.target_kind(model),
    )
    model.fit(data, epochs=epochs, verbose=0)
    return model, vocab


@pytest.fixture(scope="module")
def taggers():
    """name -> (tagger, vocab, texts, threshold): three heads on CLUENER, one on WNUT-17."""
    keras.utils.set_random_seed(0)  # module fixtures run before the per-test seed
    cluener, types = datasets.load_cluener("train")
    dev, _ = datasets.load_cluener("dev")
    wnut, wnut_types = datasets.load_wnut17("train")
    wnut_dev, _ = datasets.load_wnut17("dev")
    out = {}
    for name, head, encoder in (
        ("global_pointer", "global_pointer", "bilstm"),
        ("efficient_global_pointer", "efficient_global_pointer", "transformer"),
        ("crf", "crf", "idcnn"),
    ):
        # A CRF learns to leave "O" later than the span heads pass a threshold.
        epochs = 8 if head == "crf" else 3
        model, vocab = _train(
            cluener[:512], types, "char", head, encoder, epochs=epochs
        )
        out[name] = (model, vocab, _texts(dev, "char"))
    # Word + character, word shapes and a gazetteer: every input a tagger takes.
    places = {
        " ".join(t[s : e + 1]) for t, sp in wnut for k, s, e in sp if k == "location"
    }
    model, vocab = _train(
        wnut[:512],
        wnut_types,
        "word",
        "global_pointer",
        "bilstm",
        True,
        shapes=True,
        gazetteer=ner.Gazetteer({"place": sorted(places), "day": ["monday", "friday"]}),
    )
    out["wnut17"] = (model, vocab, _texts(wnut_dev, "word"))
    return {k: v + (_threshold(*v),) for k, v in out.items()}


def _threshold(model, vocab, texts, spans=40):
    """A threshold that `spans` or more spans of `texts` clear, in a gap between scores.

    A tagger trained this briefly may score no span above 0, and then there
    would be nothing to compare. The threshold sits in the middle of the
    widest gap between consecutive scores from the `spans`-th to the
    `4 * spans`-th best, so float differences between runtimes cannot move a
    span across it. CRF taggers take no threshold (0).
    """
    if ner.find_crf(model) is not None:
        return 0.0
    tokens = [ner.tokenize(text, vocab.level)[0] for text in texts]
    data = ner.SpanBatches(
        [(t, []) for t in tokens],
        vocab,
        1,
        len(texts),
        bucket=False,
        with_targets=False,
    )
    (x,) = data[0]
    logits = np.asarray(model.predict_on_batch(x))
    scores = []
    for row, i in enumerate(data.batches[0]):
        rows, cols = np.triu_indices(len(tokens[i]))
        scores.extend(logits[row][:, rows, cols].ravel())
    best = np.sort(scores)[::-1][spans - 1 : 4 * spans].astype("float64")
    k = int(np.argmax(best[:-1] - best[1:]))
    return float((best[k] + best[k + 1]) / 2)


def _long_text(texts, level):
    """Longer than any sentence in training (CLUENER: at most 50 characters)."""
    return ("" if level == "char" else " ").join(texts[:3])


def _check_served(folder, model, vocab, texts, threshold):
    server = load_example("serve_tagger").Tagger(folder)
    long = _long_text(texts, vocab.level)
    found = 0
    for batch in (texts, texts[:1], [long] + texts[:3]):
        expected = ner.predict_entities(
            model, vocab, batch, max_length=None, threshold=threshold
        )
        found += sum(map(len, expected))
        got = server.entities(batch)
        assert [
            [(e["type"], e["start"], e["end"], e["text"]) for e in s] for s in got
        ] == [
            [(e["type"], e["start"], e["end"], e["text"]) for e in s] for s in expected
        ]
        for s, t in zip(got, expected, strict=True):
            np.testing.assert_allclose(
                [e["score"] for e in s], [e["score"] for e in t], atol=2e-4
            )
    assert found, "the trained tagger finds entities to compare"
    return server


@pytest.mark.parametrize(
    "name", ["global_pointer", "efficient_global_pointer", "crf", "wnut17"]
)
@pytest.mark.parametrize("fmt", CAN_EXPORT)
def test_exported_tagger_serves_what_predict_gives(taggers, name, fmt, tmp_path):
    model, vocab, texts, threshold = taggers[name]
    # A tagger trained this briefly scores many weak spans above 0: the list
    # is long enough for all of them (the cap is tested on its own below).
    path = serving.export_tagger(
        tmp_path, model, vocab, format=fmt, max_spans=MAX, threshold=threshold
    )
    assert path.exists() and (tmp_path / serving.SERVING_FILE).is_file()
    server = _check_served(tmp_path, model, vocab, texts, threshold)
    # The raw outputs equal the serving model's `predict` (scores to float
    # tolerance; the span lists and tag paths exactly).
    feed = server._batch([ner.tokenize(t, vocab.level)[0] for t in texts])
    got = server._run(feed)
    if server.settings["head"] == "crf_emissions":
        expected = {"emissions": model.predict(feed["token_ids"], verbose=0)}
    else:
        inputs = feed if len(feed) > 1 else feed["token_ids"]
        serving_model = serving.build_serving_model(model, MAX, threshold)
        expected = serving_model.predict(inputs, verbose=0)
        assert expected.get("count", np.zeros(1)).max() < MAX
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[key], value, rtol=1e-4, atol=1e-4)
        else:
            np.testing.assert_array_equal(got[key], value)


def test_top_spans_equal_decode_spans_and_keep_the_best():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 2, 7, 7)).astype("float32")
    mask = np.ones((3, 7), bool)
    mask[1, 4:] = False
    mask[2, :] = False  # an all-padding row
    expected = keras_rdkl_decode(logits, mask)
    out = {
        k: keras.ops.convert_to_numpy(v)
        for k, v in serving.TopSpans(max_spans=60)(logits, mask).items()
    }
    for i in range(3):
        n = out["count"][i]
        got = sorted(
            zip(
                out["types"][i][:n],
                out["starts"][i][:n],
                out["ends"][i][:n],
                strict=True,
            )
        )
        assert got == sorted(s[:3] for s in expected[i])
        assert (out["types"][i][n:] == -1).all() and (out["scores"][i][n:] == 0).all()
        assert (np.diff(out["scores"][i][:n]) <= 0).all()  # best first
    # A cap below the number of spans keeps the best ones.
    capped = serving.TopSpans(max_spans=3)(logits, mask)
    best = sorted((s[3] for s in expected[0]), reverse=True)[:3]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(capped["scores"])[0], best, rtol=1e-6
    )
    assert keras.ops.convert_to_numpy(capped["count"]).tolist() == [3, 3, 0]


def keras_rdkl_decode(logits, mask):
    from keras_rdkl.spans import decode_spans

    return decode_spans(logits, threshold=0.0, mask=mask)


def _untrained():
    """A small tagger and vocabulary, for the checks that need no training."""
    vocab = ner.Vocabulary.build([list("北京大学")], labels=["ORG"], level="char")
    return ner.build_span_tagger(len(vocab), 1, hidden=8, head_size=4), vocab


def test_bad_arguments_name_themselves(tmp_path):
    model, vocab = _untrained()
    with pytest.raises(ValueError, match="format"):
        serving.export_tagger(tmp_path, model, vocab, format="tflite")
    with pytest.raises(ValueError, match="Select ops"):
        serving.export_tagger(tmp_path, model, vocab, format="litert")
    with pytest.raises(ValueError, match="max_spans"):
        serving.TopSpans(max_spans=0)
    with pytest.raises(ValueError, match="functional"):

        class Sub(keras.Model):
            def call(self, x):
                return x

        serving.build_serving_model(Sub())
    if CAN_EXPORT:
        with pytest.raises(ValueError, match="max_length"):  # sub-word taggers only
            serving.export_tagger(tmp_path, model, vocab, CAN_EXPORT[0], max_length=8)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_backend_that_cannot_export_says_how(fmt, tmp_path):
    if BACKEND in FORMATS[fmt]:
        pytest.skip(f"{BACKEND} exports {fmt}")
    model, vocab = _untrained()
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow python -m") as err:
        serving.export_tagger(tmp_path, model, vocab, format=fmt)
    # The command it names runs: the module exists and has a command line.
    module = re.search(r"python -m ([\w.]+)", str(err.value)).group(1)
    assert hasattr(importlib.import_module(module), "main")


@requires_data("cluener2020")
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_tagger_of_any_backend_is_served_through_tensorflow(fmt, tmp_path):
    """What the error above tells a PyTorch or JAX user to do: save the tagger,
    export it from TensorFlow in another process, serve it. The entities are
    this backend's `predict_entities`."""
    if BACKEND in FORMATS[fmt]:
        pytest.skip(f"{BACKEND} exports {fmt} itself")
    if not all(
        importlib.util.find_spec(m) for m in ("tensorflow", "tf2onnx", "onnxruntime")
    ):
        pytest.skip("exporting needs tensorflow, tf2onnx and onnxruntime")
    train, types = datasets.load_cluener("train")
    dev, _ = datasets.load_cluener("dev")
    vocab = ner.Vocabulary.build(
        [t for t, _ in train[:512]], labels=types, level="char", bigrams=True
    )
    model = ner.build_span_tagger(
        len(vocab),
        len(types),
        encoder="idcnn",
        hidden=16,
        head_size=8,
        num_bigrams=vocab.num_bigrams,
    )
    texts = _texts(dev, "char")
    threshold = _threshold(model, vocab, texts)  # untrained: a few spans clear it
    ner.save_tagger(tmp_path / "saved", model, vocab)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-m", "keras_rdkl.ner.serving", str(tmp_path / "saved")]
        + ["--format", fmt, "--max-spans", str(MAX), "--threshold", repr(threshold)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _check_served(tmp_path / "saved" / f"serving-{fmt}", model, vocab, texts, threshold)


@requires_data("wnut17")
def test_server_features_equal_the_package_features():
    """`serve_tagger.py`'s copies of the word shapes and gazetteer marks."""
    server = load_example("serve_tagger")
    dev, _ = datasets.load_wnut17("dev")
    tokens = [t for words, _ in dev for t in words]
    tokens += ["", "@", "#", "@bob", "#tbt", "www.x.org", "A4", "É", "ǅ", "ß", "١٢"]
    assert [server.word_shape(t) for t in tokens] == [ner.word_shape(t) for t in tokens]
    lists = {"place": ["New York", "York", "Los Angeles"], "day": ["monday"]}
    for lowercase in (True, False):
        gazetteer = ner.Gazetteer(lists, lowercase=lowercase)
        copy = server.Gazetteer(gazetteer.get_config())
        for words, _ in dev[:200] + [(["in", "new", "York", "on", "Monday"], [])]:
            np.testing.assert_array_equal(
                copy.features(words), gazetteer.features(words)
            )
