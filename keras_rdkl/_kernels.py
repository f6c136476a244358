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
#
# Dense ZLPR (`zlpr`) runs `_torch_kernels.zlpr` on PyTorch: one autograd node
# for hard and soft targets in place of about thirty eager `keras.ops` calls
# (BENCHMARKS.md says by how much); XLA and tf.function fuse the `keras.ops`
# log-space form. `log1p_sum_exp` (sparse ZLPR, distillation) has a PyTorch
# form for precision (see there); `softmax_kl` and `sigmoid_kl` one for speed.

# Finite stand-in for -inf in log-space sums (float32 and float64 hold it).
_EXCLUDED = -1e30


def log1p_sum_exp_log_space(z, active, axis=-1):
    """log(1 + sum(exp(z))) over the `active` entries of `axis`; 0 for a row with none.

    Inactive entries are replaced by a finite -1e30, so a row with no active
    entry has a logsumexp near -1e30: softplus gives 0 and its gradient
    sigmoid(-1e30) = 0, never NaN.
    """
    from keras import ops

    z = ops.where(active, z, _EXCLUDED)
    return ops.softplus(ops.logsumexp(z, axis=axis))


def log1p_sum_exp(x, weights, axis=-1):
    """log(1 + sum(weights * exp(x))) over `axis`, stable for any finite `x`.

    Entries whose weight is 0 drop out exactly, whatever `x` holds there
    (callers pass masked scores through `ops.where` first, so no NaN reaches
    the gradient); NaN weights count as active and give NaN. The implicit
    "1 +" is the zero logit of ZLPR.

    Two equal forms: XLA and tf.function fuse `softplus(logsumexp(x + log w))`
    best; on PyTorch, `torch.logsumexp`'s backward computes
    `exp(x - logsumexp)` from the rounded result, which loses digits at
    large scores (2e-4 relative at scores near 1e4 in float32), so PyTorch
    takes one explicit max-shifted sum of `w * exp(x - m)`, whose gradient
    autograd derives from the sum itself.
    """
    from keras import ops

    # NaN weights count as active, so both forms give NaN for them.
    active = ops.logical_not(ops.less_equal(weights, 0))
    if not _on_torch():
        log_w = ops.log(ops.where(active, weights, 1.0))
        return log1p_sum_exp_log_space(x + log_w, active, axis=axis)
    neg_inf = ops.cast(float("-inf"), x.dtype)
    x_active = ops.where(active, x, neg_inf)
    m = ops.maximum(ops.max(x_active, axis=axis, keepdims=True), 0.0)
    m = ops.stop_gradient(m)
    total = ops.exp(-m) + ops.sum(
        weights * ops.exp(ops.where(active, x - m, neg_inf)), axis=axis, keepdims=True
    )
    out = ops.log(total) + m
    # Mathematically >= 0; guard the last ulp of rounding.
    return ops.maximum(ops.squeeze(out, axis=axis), 0.0)


def zlpr(s, t, eps):
    """Dense ZLPR over the last axis of scores `s`, targets `t` (same shape, dtype).

    `log(1 + sum t exp(-s)) + log(1 + sum (1 - t) exp(s))` with targets below
    `eps` read as 0, above `1 - eps` as 1 (so targets outside [0, 1] are
    clipped), masked scores (at or below MASK_THRESHOLD, -inf) left out of
    both sums, and NaN (target or score) giving NaN for its row.
    """
    if _on_torch():
        from keras_rdkl import _torch_kernels

        return _torch_kernels.zlpr(s, t, eps)
    from keras import ops

    from keras_rdkl import masking

    is_zero, is_one = ops.less(t, eps), ops.greater(t, 1.0 - eps)
    valid = ops.logical_not(masking.is_masked(s))  # NaN scores stay NaN
    pos = ops.logical_and(valid, ops.logical_not(is_zero))
    neg = ops.logical_and(valid, ops.logical_not(is_one))
    soft = ops.logical_not(ops.logical_or(is_zero, is_one))
    log_t = ops.log(ops.where(soft, t, 1.0))
    log_1mt = ops.log1p(-ops.where(soft, t, 0.0))
    return log1p_sum_exp_log_space(log_t - s, pos) + log1p_sum_exp_log_space(
        log_1mt + s, neg
    )


def sigmoid_kl(y_true, y_pred, temperature):
    """Per-logit symmetric sigmoid KL `(sigmoid(s) - sigmoid(t)) (s - t)`.

    `s = y_pred / T`, `t = y_true / T` (logits in the compute dtype, one
    shape). Computed as `sigmoid(a) sigmoid(-b) d (1 - exp(-d))` with
    `a = max(s, t)`, `b = min(s, t)`, `d = a - b`: full relative precision
    when both sigmoids are near 0 or 1, and no overflow. Entries masked in
    either input give exactly 0 with zero gradients; NaN propagates.
    """
    if _on_torch():
        from keras_rdkl import _torch_kernels

        return _torch_kernels.sigmoid_kl(y_true, y_pred, temperature)
    from keras import ops

    from keras_rdkl import masking

    valid = ops.logical_not(
        ops.logical_or(masking.is_masked(y_true), masking.is_masked(y_pred))
    )
    if temperature != 1.0:
        y_true, y_pred = y_true / temperature, y_pred / temperature
    s, t = ops.where(valid, y_pred, 0.0), ops.where(valid, y_true, 0.0)
    a, b = ops.maximum(s, t), ops.minimum(s, t)
    d = a - b
    return ops.sigmoid(a) * ops.sigmoid(-b) * d * -ops.expm1(-d)


def softmax_kl(y_true, y_pred, temperature, axis):
    """Symmetric softmax KL over `axis` of two logits tensors (compute dtype).

    `sum((p - q) (log p - log q))` with `p = softmax(y_pred / T)`,
    `q = softmax(y_true / T)`; classes masked in either input are left out of
    both distributions (a fully masked row gives 0, with zero gradients).
    """
    if _on_torch():
        from keras_rdkl import _torch_kernels

        return _torch_kernels.softmax_kl(y_true, y_pred, temperature, axis)
    from keras import ops

    from keras_rdkl import masking

    valid = ops.logical_not(
        ops.logical_or(masking.is_masked(y_true), masking.is_masked(y_pred))
    )
    if temperature != 1.0:
        y_true, y_pred = y_true / temperature, y_pred / temperature
    # Excluded classes get a logit low enough that exp() is exactly 0 but the
    # arithmetic stays finite (a fully masked row becomes uniform vs uniform).
    # There both log-probabilities round to the same value (-1e30 minus a
    # normal-sized log-sum-exp), so they add exactly 0 with a zero gradient.
    log_p = ops.log_softmax(ops.where(valid, y_pred, _EXCLUDED), axis=axis)
    log_q = ops.log_softmax(ops.where(valid, y_true, _EXCLUDED), axis=axis)
    per_class = (ops.exp(log_p) - ops.exp(log_q)) * (log_p - log_q)
    return ops.sum(per_class, axis=axis)


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


# ---- The best spans of a serving model (keras_rdkl/ner/serving.py) -----------


def sorted_top_k(x, k):
    """`(values, indices)` of the `k` largest entries of each row of `x` `[batch, n]`, best first.

    Ties go to the lower index. On JAX this is a full sort: JAX lowers
    `top_k` to a StableHLO composite that the TensorFlow 2.21 runtime cannot
    read back, so a JAX SavedModel (`model.export(format="tf_saved_model")`)
    holding it would not load; the sort loads everywhere.
    """
    from keras import ops

    if keras.backend.backend() != "jax":
        return ops.top_k(x, k, sorted=True)
    index = ops.argsort(-x, axis=-1)[:, :k]
    return ops.take_along_axis(x, index, axis=-1), index
