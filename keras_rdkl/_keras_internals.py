"""Every private Keras API keras-rdkl relies on, in one place.

Public Keras API is used wherever it exists; what remains is wrapped here so
that a Keras change breaks one module, caught by
tests/test_keras_internals.py. Each function imports what it needs when it is
called, so a change in Keras fails the feature that needs it, not
`import keras_rdkl`.

What is used and why:

- `keras.src.backend.get_keras_mask` / `set_keras_mask`: a Keras mask travels
  as an attribute of the tensor (`Embedding(mask_zero=True)` and the layers
  after it). RDropModel splits the doubled output into two halves and must
  carry the mask over to each half so that the compiled loss still skips
  padding; the gamma losses attach the mask of their per-position loss.
  Keras has no public accessor for it.
- `Layer._flatten_layers`: every sublayer of a model, including layers
  nested in custom (non-Model) layers, which the public `Model.layers` does
  not reach. RDropModel uses it only to warn when no layer is stochastic.
- `Trainer.metrics` collects metrics assigned as attributes of the model
  (Keras' public tracking for subclass authors). GammaScheduler attaches its
  gamma state this way because on JAX a compiled step only sees variables
  that belong to the model's state.
- keras-hub's `TransformerEncoder._feedforward_intermediate_dense`: the
  compat BERT sets its activation to bert4keras' erf GELU.
"""


def get_keras_mask(x):
    """The Keras mask attached to tensor `x`, or None."""
    from keras.src.backend import get_keras_mask as _get

    return _get(x)


def set_keras_mask(x, mask):
    """Attaches a Keras mask to tensor `x` (losses then skip masked entries)."""
    from keras.src.backend import set_keras_mask as _set

    _set(x, mask)


def flatten_layers(layer):
    """`layer` and all its sublayers, recursively (custom layers included)."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


# Attribute name under which GammaScheduler tracks its state on a model.
GAMMA_STATE_ATTR = "_keras_rdkl_gamma_state"


def attach_metric(model, metric):
    """Tracks `metric` on `model` so its variables join the train-step state.

    Keras collects the metrics assigned as attributes of a model into
    `model.metrics`; on JAX, `metrics_variables` are part of the state that
    the compiled step reads, so a variable held by such a metric can change
    between steps without retracing.
    """
    setattr(model, GAMMA_STATE_ATTR, metric)
    if not any(m is metric for m in model.metrics):
        raise RuntimeError(
            "keras-rdkl could not attach its gamma state to the model's metrics; "
            "this Keras version tracks model attributes differently."
        )


def set_feedforward_activation(encoder, activation):
    """Sets the activation of a built keras-hub `TransformerEncoder`'s first
    feedforward dense layer (its constructor's `activation`).

    keras-hub's `BertBackbone` fixes the tanh-approximated GELU; bert4keras
    and Hugging Face compute BERT's "gelu" with erf. The dense layer reads
    its `activation` attribute on each call, so setting it after the build
    changes the forward pass.
    """
    dense = getattr(encoder, "_feedforward_intermediate_dense", None)
    if dense is None:
        raise RuntimeError(
            "keras-rdkl could not find the feedforward layer of keras-hub's "
            "TransformerEncoder; this keras-hub version builds it differently."
        )
    encoder.activation = activation
    dense.activation = activation
