"""The gradient of a function with respect to a tensor, on every backend
(and the backend's own random state).

Adversarial training needs the gradient of the loss with respect to a
perturbation of the token embeddings, inside a training step whose own
gradient (with respect to the weights) Keras takes afterwards. `keras.ops`
has no gradient function, so this module holds the one backend-specific
piece: `value_and_grad`. Everything else in keras_rdkl.models.adversarial is
`keras.ops`. Like keras_rdkl/_kernels.py it is part of the backend seam
(tests/test_backend_seam.py).

The returned gradient is a constant for the enclosing step (no second-order
terms): TensorFlow's inner tape and PyTorch's `autograd.grad` (without
`create_graph`) record no graph for it, and JAX's is cut with
`stop_gradient`. A loss computed inside `fn` can be the enclosing step's
loss when `weights` (the step's trainable weights) are given: the one
backward then takes the gradient with respect to them too, and the returned
value hands it on, so the step does not run the backward of `fn`'s graph a
second time (eager PyTorch would; TensorFlow too, whose graph optimizer does
not merge the two backward loops of a recurrent layer). JAX ignores
`weights`: XLA sees the whole step, and the value stays differentiable. On
PyTorch the backward frees `fn`'s graph (a retained graph cannot run under
`torch.compile`, whose backward may take over the forward's buffers).

`random_state` / `set_random_state` let several passes of one step draw the
same dropout masks: Keras' PyTorch dropout draws from PyTorch's global
generator for layers built without a seed (its fast path), not from the
layer's `SeedGenerator` state, so that generator is rewound too.
"""

import functools

import keras


def value_and_grad(fn, x, state=(), weights=()):
    """`(value, aux), grad`: `fn(x)` and the gradient of its value at `x`.

    Args:
        fn: A function of one tensor returning `(value, aux)`, `value` a
            scalar and `aux` any structure of tensors (or None).
        x: The floating-point tensor to differentiate at.
        state: The Keras variables `fn` may read or assign (a model's
            `variables`: weights, BatchNormalization statistics, dropout
            seeds). On JAX, values assigned inside a transformation must leave
            it as outputs: `fn` runs in a `keras.StatelessScope` over them and
            their new values are assigned after it.
        weights: Keras variables the enclosing step differentiates `value`
            by (its trainable weights). On PyTorch and TensorFlow their
            gradient is taken in the same backward as `x`'s, and the
            returned value's backward hands it on, scaled by the upstream
            gradient: the enclosing step's backward does not go through
            `fn`'s graph again, and `aux` is not differentiated through.
            JAX ignores it.

    Returns:
        `(value, aux)` as `fn` returns them and `d value / d x`, shaped and
        typed as `x` (zeros where `value` does not depend on `x`).
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        state = list(state)

        def stateless(x):
            mapping = [(v, v.value) for v in state]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                value, aux = fn(x)
            return value, (aux, [scope.get_current_value(v) for v in state])

        (value, (aux, new)), grad = jax.value_and_grad(stateless, has_aux=True)(x)
        for variable, new_value in zip(state, new, strict=True):
            if variable.trainable:
                continue
            variable.assign(new_value)
        return (value, aux), jax.lax.stop_gradient(grad)
    if backend == "tensorflow":
        import tensorflow as tf

        params = [w.value for w in weights if w.trainable]
        with tf.GradientTape() as tape:
            tape.watch(x)
            value, aux = fn(x)
        grads = tape.gradient(value, [x, *params])
        grad = tf.zeros_like(x) if grads[0] is None else grads[0]
        if params:
            value = _tf_reused(value, params, grads[1:])
        return (value, aux), grad
    if backend == "torch":
        import torch

        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            value, aux = fn(x)
        if not value.requires_grad:
            return (value, aux), torch.zeros_like(x)
        params = [w.value for w in weights if w.value.requires_grad]
        grads = torch.autograd.grad(value, [x, *params], allow_unused=True)
        grad = torch.zeros_like(x) if grads[0] is None else grads[0]
        if params:
            value = _torch_reused(value, params, grads[1:])
        return (value, aux), grad
    raise ValueError(
        "Adversarial training supports the TensorFlow, JAX and PyTorch backends. "
        f"Received: backend={backend!r}"
    )


def _tf_reused(value, params, grads):
    """`value` (gradient stopped) whose gradient gives `params` the gradients `grads`."""
    import tensorflow as tf

    def scaled(g, upstream):
        if isinstance(g, tf.IndexedSlices):  # an embedding table's rows
            return tf.IndexedSlices(g.values * upstream, g.indices, g.dense_shape)
        return None if g is None else g * upstream

    @tf.custom_gradient
    def reused(*tensors):
        def backward(upstream):
            return [scaled(g, upstream) for g in grads]

        return tf.identity(tf.stop_gradient(value)), backward

    return reused(*[tf.convert_to_tensor(p) for p in params])


def _torch_reused(value, params, grads):
    """`value` (detached) whose backward gives `params` the gradients `grads`."""
    return _torch_reused_function().apply(value.detach(), tuple(grads), *params)


@functools.cache
def _torch_reused_function():
    # One class for the process (torch.compile sees the same function each step).
    import torch

    class Reused(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value, grads, *params):
            ctx.grads = grads
            return value.clone()

        @staticmethod
        def backward(ctx, upstream):
            scaled = (None if g is None else g * upstream for g in ctx.grads)
            return None, None, *scaled

    return Reused


def random_state():
    """The backend's own random-generator state that Keras dropout may draw
    from (PyTorch's CPU and CUDA generators), or None."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return torch.get_rng_state(), cuda


def set_random_state(state):
    """Restores what `random_state` returned."""
    if state is None:
        return
    import torch

    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
