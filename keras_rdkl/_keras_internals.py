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
- `Trainer._compile_metrics`: whether `compile` was given metrics.
  RDropModel splits its doubled output for compiled metrics only when there
  are any (a split costs a kernel and its dispatch per training step).
- `Functional` / `Sequential._functional`, `Layer._assert_input_compatibility`
  and torch's module hook registries: on PyTorch, RDropModel's doubled pass
  runs a plain functional model's graph (`model.call`) without a second
  `Layer.__call__` (about 0.1 ms of Python per step), only where that call
  would add nothing: see `graph_call`.
- `Mean.total` / `Mean.count`: the state of `keras.metrics.Mean`, which
  RDropModel's `kl` metric adds to in place on PyTorch, and
  `backend.in_stateless_scope`: inside a `keras.StatelessScope` a variable's
  value is the scope's, so nothing is added in place there.
- `LossFunctionWrapper._fn_kwargs` and `CompileLoss._user_loss_weights`: on
  PyTorch, RDropModel fuses a compiled `SparseCategoricalCrossentropy` /
  `CategoricalCrossentropy` into its divergence node only when the loss is
  configured as the node computes it (logits, last axis, no ignored class or
  smoothing; `SparseCategoricalCrossentropy.get_config` leaves out `axis`)
  and `compile` was given no loss weights.
"""


def get_keras_mask(x):
    """The Keras mask attached to tensor `x`, or None."""
    from keras.src.backend import get_keras_mask as _get

    return _get(x)


def has_compiled_metrics(model):
    """Whether `model.compile` was given metrics (True when unknown)."""
    return getattr(model, "_compile_metrics", True) is not None


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


_GRAPH_CLASSES = []


def _graph_classes():
    """`(Functional, Sequential, torch.nn.modules.module)`, imported once."""
    if not _GRAPH_CLASSES:
        import torch.nn.modules.module as torch_module
        from keras.src.models.functional import Functional
        from keras.src.models.sequential import Sequential

        _GRAPH_CLASSES.extend((Functional, Sequential, torch_module))
    return _GRAPH_CLASSES


def graph_call(model, wrapper):
    """`model.call` where it computes exactly what `model(...)` would, else None.

    Used on PyTorch only, from inside `wrapper`'s own `Layer.__call__` (which
    has already converted the inputs and set the training context). That
    holds for a Keras functional model (or a Sequential model built on one)
    whose `call` is Keras' own, with the wrapper's dtype policy (so no
    different input conversion or autocast), no activity regularizer of its
    own, and no torch hooks (which `Layer.__call__` would run). Inputs are
    still checked against the model's input spec, as `model(...)` would.
    """
    functional, sequential, torch_module = _graph_classes()
    kind = type(model)
    if kind.call is sequential.call and isinstance(model, sequential):
        plain = model._functional is not None
    else:
        plain = kind.call is functional.call and isinstance(model, functional)
    if (
        not plain
        or model.activity_regularizer is not None
        or model.dtype_policy.name != wrapper.dtype_policy.name
        or model._forward_hooks
        or model._forward_pre_hooks
        or model._backward_hooks
        or model._backward_pre_hooks
        or torch_module._global_forward_hooks
        or torch_module._global_forward_pre_hooks
        or torch_module._global_backward_hooks
        or torch_module._global_backward_pre_hooks
    ):
        return None

    def call(inputs, training):
        model._assert_input_compatibility(inputs)
        return model.call(inputs, training=training)

    return call


def mean_state(metric):
    """`(total, count)`: the variables of a `keras.metrics.Mean`."""
    return metric.total, metric.count


def in_stateless_scope():
    """Whether a `keras.StatelessScope` is active."""
    from keras.src.backend import in_stateless_scope as _in

    return _in()


def loss_function_kwargs(loss):
    """The keyword arguments a `keras.losses.LossFunctionWrapper` passes to
    its function (`axis`, which `SparseCategoricalCrossentropy.get_config`
    leaves out, included); {} for other losses."""
    return dict(getattr(loss, "_fn_kwargs", None) or {})


def compiled_loss_weights(model):
    """The `loss_weights` given to `model.compile` (None when not given)."""
    compiled = getattr(model, "_compile_loss", None)
    return None if compiled is None else compiled._user_loss_weights
