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


def time_loop(body, init, length):
    """`body(t, carry)` for t = 0 .. length-1, differentiable on every backend.

    JAX needs a static trip count to differentiate (`fori_loop` becomes a
    scan); TensorFlow under XLA needs `maximum_iterations` to differentiate a
    loop whose length is only known at run time.
    """
    if keras.backend.backend() == "tensorflow":
        from keras import ops

        _, out = ops.while_loop(
            lambda t, carry: t < length,
            lambda t, carry: (t + 1, body(t, carry)),
            (ops.convert_to_tensor(0, "int32"), init),
            maximum_iterations=length,
        )
        return out
    from keras import ops

    return ops.fori_loop(0, length, body, init)


def crf_auto_method(length, num_tags):
    """The form of the CRF forward algorithm that `method="auto"` runs.

    Rule: the parallel form only where it was measured faster for this
    backend, tag count and length; the sequential form everywhere else,
    including an unknown (dynamic) length, which the parallel form cannot
    run. bench/crf.py measured batch 32, 9 and 21 tags, L = 16 to 256 on
    CPU (BENCHMARKS.md, "CRF loss and Viterbi"): the sequential form won at
    every point on every backend (XLA loops on TensorFlow and JAX, the
    kernel of `_torch_kernels` on PyTorch), by 2.8x at the least and by 6x
    or more at 21 tags. So today the rule is: sequential for every
    `(length, num_tags)`. The parallel form does `num_tags` times more
    arithmetic in log2(L) levels; it can pay only where the per-step cost
    dominates (an accelerator, few tags, long sequences), which has not been
    measured: add such a point here, with its row in BENCHMARKS.md.

    Args:
        length: static sequence length, or None.
        num_tags: static tag count, or None.

    Returns:
        `"sequential"` or `"parallel"`.
    """
    del length, num_tags  # no measured size favours the parallel form
    return "sequential"


def crf_log_norm_sequential(e, a, valid, ops_form):
    """`log Z [B]` by the sequential forward algorithm.

    Inputs as `keras_rdkl.losses.crf.prepare_emissions` returns them. PyTorch
    runs `_torch_kernels.crf_log_norm` (a few calls per step and a
    hand-written backward); the other backends run `ops_form(e, a, valid)`,
    the `keras.ops` loop that XLA compiles.
    """
    if _on_torch():
        from keras_rdkl import _torch_kernels

        return _torch_kernels.crf_log_norm(e, a, valid)
    return ops_form(e, a, valid)


def crf_viterbi(e, a, valid, start_penalty, end_penalty, ops_form):
    """Best CRF paths `int32 [B, L]` and their scores `[B]` (Viterbi).

    Inputs as `prepare_emissions` returns them, with the additive penalties
    `[K]` of the allowed start and end tags. PyTorch runs
    `_torch_kernels.crf_viterbi`; the other backends run `ops_form` (same
    arguments), a `keras.ops.scan` that XLA compiles.
    """
    if _on_torch():
        from keras_rdkl import _torch_kernels

        return _torch_kernels.crf_viterbi(e, a, valid, start_penalty, end_penalty)
    return ops_form(e, a, valid, start_penalty, end_penalty)
