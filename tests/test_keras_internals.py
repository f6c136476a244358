"""Every private Keras API in keras_rdkl/_keras_internals.py still does what we rely on.

If one of these fails after a Keras upgrade, the message names the private API
that changed; fix keras_rdkl/_keras_internals.py (and only it).
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl import _keras_internals as internals


def test_keras_mask_travels_as_a_tensor_attribute():
    inputs = np.array([[3, 5, 0, 0], [2, 0, 0, 0]])
    out = keras.layers.Embedding(10, 2, mask_zero=True)(inputs)
    mask = internals.get_keras_mask(out)
    assert mask is not None, "keras.src.backend.get_keras_mask no longer reads the mask"
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), inputs != 0)


def test_set_keras_mask_is_honoured_by_loss_reduction():
    y_true = np.zeros((2, 3), "float32")
    y_pred = ops.convert_to_tensor(
        np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "float32")
    )
    mask = ops.convert_to_tensor(np.array([[True, True, False], [True, False, False]]))
    internals.set_keras_mask(y_pred, mask)
    assert internals.get_keras_mask(y_pred) is not None

    class Identity(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred

    got = Identity()(y_true, y_pred)
    expected = (1.0 + 2.0 + 4.0) / 3.0  # mean over the unmasked positions
    np.testing.assert_allclose(
        ops.convert_to_numpy(got),
        expected,
        rtol=1e-6,
        err_msg="Keras losses no longer read a mask set by keras.src.backend.set_keras_mask",
    )


def test_flatten_layers_reaches_layers_nested_in_custom_layers():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(4)
            self.drop = keras.layers.Dropout(0.1)

        def call(self, x, training=None):
            return self.drop(self.dense(x), training=training)

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Block()(inputs)))
    found = internals.flatten_layers(model)
    assert model in found
    assert any(isinstance(layer, keras.layers.Dropout) for layer in found), (
        "Layer._flatten_layers no longer yields nested sublayers"
    )
    # The public Model.layers does not reach it: that is why we need the private one.
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_attach_metric_joins_the_model_state():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    metric = keras.metrics.Mean(name="tracked")
    internals.attach_metric(model, metric)
    assert any(m is metric for m in model.metrics)
    variables = {id(v) for v in model.metrics_variables}
    assert all(id(v) in variables for v in metric.variables)


def test_callback_model_property_syncs_training_state():
    """Reading `Callback.model` mid-epoch shows the weights after the last step.

    On JAX the trainer holds the state outside the variables during an epoch
    and `Callback.model` writes it back; GammaScheduler relies on that sync
    before it assigns gamma.
    """
    x = np.ones((4, 3), "float32")
    y = np.zeros((4, 2), "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    start = ops.convert_to_numpy(model.layers[0].kernel).copy()
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(ops.convert_to_numpy(self.model.layers[0].kernel).copy())

    model.fit(
        x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[Probe()]
    )
    np.testing.assert_array_equal(seen[0], start)
    assert not np.array_equal(seen[1], start), (
        "Callback.model no longer syncs the trainer's state mid-epoch"
    )


def test_set_feedforward_activation_changes_keras_hub_encoder_output():
    """keras-hub's private `_feedforward_intermediate_dense` is where BERT's GELU lives."""

    keras_hub = pytest.importorskip(
        "keras_hub", reason="keras-hub (hub extra) not installed"
    )
    encoder = keras_hub.layers.TransformerEncoder(
        intermediate_dim=8, num_heads=2, activation="relu", dropout=0.0
    )
    x = np.random.default_rng(0).normal(size=(1, 3, 4)).astype("float32")
    before = ops.convert_to_numpy(encoder(x))
    internals.set_feedforward_activation(encoder, keras.activations.linear)
    after = ops.convert_to_numpy(encoder(x))
    assert not np.allclose(before, after), (
        "setting keras-hub TransformerEncoder._feedforward_intermediate_dense.activation "
        "no longer changes its output"
    )
