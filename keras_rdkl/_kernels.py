"""Backend-specific numerics behind backend-neutral functions: the one seam.

Everything in keras_rdkl is written once in `keras.ops`, except the few
numerics that a backend runs measurably faster in a form of its own
(bench/, BENCHMARKS.md says which and by how much). Those are functions of
this module: each takes and returns backend tensors, computes the same value
on every backend, and picks its form here. Losses, layers and models call
them without branching on `keras.backend.backend()`
(tests/test_backend_seam.py checks that no other module does). The PyTorch
forms live in `keras_rdkl/_torch_kernels.py`, imported only from here.

No function here reads a tensor's values back to the host: the choice of
form depends on the backend, dtypes and static shapes only.
"""

import keras


def _on_torch():
    return keras.backend.backend() == "torch"


# ---- ZLPR and the divergences (keras_rdkl/losses) ----------------------------


# ---- CRF (keras_rdkl/losses/crf.py, keras_rdkl/viterbi.py) -------------------
