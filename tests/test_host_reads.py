"""No keras_rdkl code reads tensor values back to the host inside a training step.

On PyTorch `fit` runs eagerly, so any `.item()`, `bool(tensor)`, `.tolist()`
or NumPy conversion in a loss, layer, metric or wrapper would run on every
step (and stall a GPU's queue). This test counts the reads made while a
keras_rdkl frame is on the stack, between `on_train_batch_begin` and
`on_train_batch_end`, for the package's main training set-ups (R-Drop, FGM, PGD and VAT wrappers
included). TensorFlow and
JAX compile the step (`tf.function`, `jax.jit`), where a value cannot be read
at all; there a read fails the trace, which the rest of the suite would show.
"""

import os
import sys

import keras
import numpy as np
import pytest

import keras_rdkl
from keras_rdkl import ner
from keras_rdkl.losses import MultilabelCategoricalCrossentropy
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "torch",
    reason="counts PyTorch tensor reads; TensorFlow and JAX steps are compiled "
    "and cannot read values",
)

PACKAGE = os.path.dirname(keras_rdkl.__file__) + os.sep
READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")


# Frames of the libraries a read passes through on its way from the code that
# asked for it: torch itself and Keras' backend functions (`keras.ops`).
_THROUGH = (
    os.sep + "torch" + os.sep,
    os.sep + os.path.join("keras", "src", "backend"),
    os.sep + os.path.join("keras", "src", "ops"),
    os.sep + os.path.join("keras", "src", "utils"),
)


def _caller(frame):
    """The first frame outside torch and Keras' backend: who made the read.

    A read by Keras' own trainer (Keras 3.12 reads metric results inside its
    PyTorch step) is Keras', even with a keras_rdkl method further up the
    stack; `keras.ops.convert_to_numpy` called from keras_rdkl is keras_rdkl's.
    """
    while frame is not None and any(p in frame.f_code.co_filename for p in _THROUGH):
        frame = frame.f_back
    return frame


class HostReads(keras.callbacks.Callback):
    """Records each host read made from keras_rdkl code during a training step."""

    def __init__(self, monkeypatch):
        super().__init__()
        import torch

        self.in_step = False
        self.reads = []
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, self._recording(name))

    def _recording(self, name):
        import torch

        original = getattr(torch.Tensor, name)

        def read(tensor, *args, **kwargs):
            if self.in_step:
                caller = _caller(sys._getframe(1))
                if caller is not None and caller.f_code.co_filename.startswith(PACKAGE):
                    where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
                    self.reads.append(f"Tensor.{name} from {where}")
            return original(tensor, *args, **kwargs)

        return read

    def on_train_batch_begin(self, batch, logs=None):
        self.in_step = True

    def on_train_batch_end(self, batch, logs=None):
        self.in_step = False


def _tokens(rng, n=16, length=12):
    x = rng.integers(2, 50, size=(n, length))
    x[::3, 9:] = 0  # padding in every third sentence
    return x.astype("int32")


def _fit(model, x, y, monkeypatch, epochs=2):
    counter = HostReads(monkeypatch)
    history = model.fit(
        x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[counter]
    )
    assert all(np.isfinite(v).all() for v in history.history.values())
    return counter.reads


def test_global_pointer_tagger_with_rdrop(monkeypatch):
    rng = np.random.default_rng(0)
    x = _tokens(rng)
    y = np.zeros((16, 3, 12, 12), "float32")
    y[np.arange(16), rng.integers(0, 3, 16), 1, 2] = 1.0
    tagger = ner.build_span_tagger(50, 3, encoder="idcnn", hidden=16, head_size=8)
    model = keras_rdkl.RDropModel(tagger, alpha=1.0)
    model.compile(
        "adam",
        ner.tagger_loss(tagger),
        metrics=[keras_rdkl.metrics.SpanF1(name="f1")],
    )
    assert _fit(model, x, y, monkeypatch) == []


@pytest.mark.parametrize("method", ["fgm", "pgd", "vat"])
def test_global_pointer_tagger_with_adversarial_training(method, monkeypatch):
    rng = np.random.default_rng(3)
    x = _tokens(rng)
    y = np.zeros((16, 3, 12, 12), "float32")
    y[np.arange(16), rng.integers(0, 3, 16), 1, 2] = 1.0
    tagger = ner.build_span_tagger(50, 3, encoder="idcnn", hidden=16, head_size=8)
    model = keras_rdkl.AdversarialModel(
        tagger, method=method, epsilon=0.5, steps=2, seed=0
    )
    model.compile(
        "adam",
        ner.tagger_loss(tagger),
        metrics=[keras_rdkl.metrics.SpanF1(name="f1")],
    )
    # Rows of sample weight 0 feed VAT's term only (semi-supervised).
    sample_weight = np.where(np.arange(16) % 4 == 0, 0.0, 1.0).astype("float32")
    counter = HostReads(monkeypatch)
    history = model.fit(
        x,
        y,
        sample_weight=sample_weight,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[counter],
    )
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert counter.reads == []


def test_crf_tagger(monkeypatch):
    rng = np.random.default_rng(1)
    x = _tokens(rng)
    y = rng.integers(0, 7, size=(16, 12)).astype("int32")
    tagger = ner.build_span_tagger(50, 3, encoder="idcnn", head="crf", hidden=16)
    tagger.compile("adam", ner.tagger_loss(tagger))
    assert _fit(tagger, x, y, monkeypatch) == []


def test_multilabel_classifier_with_rdrop(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 10)).astype("float32")
    y = (rng.random((16, 6)) < 0.3).astype("float32")
    inputs = keras.Input((10,))
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(16, activation="relu")(inputs))
    model = keras_rdkl.RDropModel(keras.Model(inputs, keras.layers.Dense(6)(h)))
    model.compile("adam", MultilabelCategoricalCrossentropy())
    assert _fit(model, x, y, monkeypatch) == []


def test_the_counter_sees_a_read():
    """The check above can fail: a loss that reads a value is caught."""

    def reading_loss(y_true, y_pred):
        keras.ops.convert_to_numpy(y_pred)  # a host read
        return keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile("sgd", reading_loss)
    with pytest.MonkeyPatch.context() as monkeypatch:
        counter = HostReads(monkeypatch)
        # Attributed to keras_rdkl only when a keras_rdkl frame is on the stack:
        # here the loss function of this test file calls keras.ops directly.
        model.fit(np.ones((4, 4)), np.zeros((4, 3)), verbose=0, callbacks=[counter])
    assert counter.reads == []
    with pytest.MonkeyPatch.context() as monkeypatch:
        counter = HostReads(monkeypatch)
        counter.in_step = True
        keras_rdkl.spans.decode_spans(np.zeros((1, 1, 3, 3), "float32") - 1)
        import torch

        keras_rdkl.spans.decode_spans(torch.zeros((1, 1, 3, 3)) - 1)
    assert counter.reads, "decode_spans on a torch tensor reads it back"
