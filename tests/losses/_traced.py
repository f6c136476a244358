"""Run a function on traced inputs, as compiled code sees them, on each backend.

`traced(fn)(*arrays)` calls `fn` under `jax.jit`, `tf.function` or
`torch.compile(backend="eager")` (TorchDynamo tracing, no code generation),
so the package's value checks cannot read the inputs and the in-graph
behaviour is what runs. Returns NumPy.
"""

import keras
import numpy as np
from keras import ops


def traced(fn):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        compiled = jax.jit(fn)
    elif backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(fn, jit_compile=False)
    else:
        import torch

        torch._dynamo.reset()
        compiled = torch.compile(fn, backend="eager", fullgraph=False)

    def run(*arrays):
        tensors = [ops.convert_to_tensor(a) for a in arrays]
        return ops.convert_to_numpy(compiled(*tensors))

    return run


def as_tensor(x):
    """An eager backend tensor (a concrete input that is not NumPy)."""
    return ops.convert_to_tensor(np.asarray(x))
