"""Backend-neutral gradient helper for tests.

`grad(fn, x)` returns d(sum fn(x))/dx as a NumPy array on whichever backend
Keras runs (tf.GradientTape, jax.grad or torch.autograd). `fn` takes one
backend tensor and returns a tensor (any shape; it is summed).
"""

import keras
import numpy as np


def grad(fn, x, dtype="float32"):
    """d(sum fn(x)) / dx as a NumPy array, computed by the active backend."""
    backend = keras.backend.backend()
    x = np.asarray(x, dtype=dtype)
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(x)))
    if backend == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        torch.sum(fn(v)).backward()
        return v.grad.detach().cpu().numpy()
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(v)
            out = tf.reduce_sum(fn(v))
        return tape.gradient(out, v).numpy()
    raise ValueError(
        f"`grad` supports the backends 'tensorflow', 'jax' and 'torch'. Received: {backend}"
    )
