"""The PyTorch backend's own kernels: the one backend-specific module.

Everything else in keras_rdkl is written once in `keras.ops`. Eager PyTorch
runs each `keras.ops` call as its own kernel behind about 10 us of Python
dispatch, and records each for autograd. A few places pay for that enough to
have a PyTorch form here, which `keras_rdkl._kernels` picks on PyTorch:

- Dense ZLPR (`zlpr`), hard and soft targets in one kernel: the
  `keras.ops` form costs about thirty passes over the `[B, heads, L, L]`
  scores per training step, against the few kernels of
  `BinaryCrossentropy(from_logits=True)` (bench/losses.py). Here each part
  (positive, negative) is shifted by its own maximum, found on the device,
  two `exp` passes over exponents clamped into the range a CPU computes fast,
  and a hand-written backward that reuses the forward's exponentials (the
  gradient of `log(1 + sum_i w_i exp(z_i))` is `w_i exp(z_i) / (1 + sum_j
  w_j exp(z_j))`). Nothing is read back to the host: the kernel never
  depends on the values it gets.
- The symmetric softmax and sigmoid KL on logits (`softmax_kl`,
  `sigmoid_kl`): the forward in native torch calls and a closed-form
  backward (one autograd node in place of a dozen or twenty).
Values and gradients equal the `keras.ops` forms to rounding; both are
tested against the same NumPy references on every backend
(tests/losses/test_zlpr_paths.py, tests/losses/test_divergence.py; the
ZLPR kernel also against the `keras.ops` form in float64).
"""

import math

import numpy as np
import torch

from keras_rdkl.masking import MASK_THRESHOLD

# ZLPR: exponents are clamped at _LOW before `exp` (CPUs take a slow path for
# results below the normal range: exp(-200) costs about twenty times exp(-2)),
# and results at or below _ZERO_BELOW are set to exactly 0, so excluded and
# masked entries add exactly 0, with a zero gradient. What that drops is below
# e^-79 of the part's largest term (or of its "1 +"): nothing in float32 or
# float64.
_LOW = -80.0
_ZERO_BELOW = math.exp(-79.0)
_BIG = 1e30  # stands for "excluded" in the shifts' min and max


class _ZLPR(torch.autograd.Function):
    """Dense ZLPR over the last axis of scores `s` [R, N], targets `t` [R, N].

    One kernel for hard and soft targets, with no host read:
    `log(1 + sum_i w_i exp(-s_i)) + log(1 + sum_i v_i exp(s_i))` with
    `w = clip(t, 0, 1)` over the positive part (entries with `t >= eps` and
    an unmasked score) and `v = 1 - w` over the negative part (entries with
    `t <= 1 - eps`), so that targets below `eps` count as 0 and above
    `1 - eps` as 1. Each part
    is shifted by its own maximum (at least 0, the implicit zero logit),
    found on the device, so neither underflows when the other holds huge
    scores. A NaN target or score reaches its row's value as NaN. The
    backward reuses the forward's exponentials: `d/ds = e_neg / d_neg -
    e_pos / d_pos`.
    """

    @staticmethod
    def forward(ctx, s, t, low, high):
        big = torch.finfo(s.dtype).max
        # NaN scores stay in the positive part (NaN <= x is False).
        pos = torch.le(s, MASK_THRESHOLD).logical_not_().logical_and_(t >= low)
        x_pos = torch.where(pos, s, _BIG)
        m_pos = x_pos.amin(-1, keepdim=True).neg_().clamp_(0.0, big)
        x_neg = torch.where(t <= high, s, -_BIG)
        m_neg = x_neg.amax(-1, keepdim=True).clamp_(0.0, big)
        w = t.clamp(0.0, 1.0)
        e_pos = torch.sub(m_pos.neg(), x_pos, out=x_pos).clamp_(min=_LOW).exp_()
        e_pos = torch.nn.functional.threshold_(e_pos, _ZERO_BELOW, 0.0).mul_(w)
        e_neg = x_neg.sub_(m_neg).clamp_(min=_LOW).exp_()
        e_neg = torch.nn.functional.threshold_(e_neg, _ZERO_BELOW, 0.0)
        e_neg.addcmul_(e_neg, w, value=-1.0)  # (1 - w) e, NaN w gives NaN
        d_pos = e_pos.sum(-1, keepdim=True).add_(torch.exp(-m_pos))
        d_neg = e_neg.sum(-1, keepdim=True).add_(torch.exp(-m_neg))
        ctx.save_for_backward(e_pos, e_neg, d_pos, d_neg)
        return (d_pos.log() + m_pos + d_neg.log() + m_neg).squeeze(-1)

    @staticmethod
    def backward(ctx, grad):
        e_pos, e_neg, d_pos, d_neg = ctx.saved_tensors
        g = grad.unsqueeze(-1)
        grad_s = torch.mul(e_neg, g / d_neg).addcmul_(e_pos, -g / d_pos)
        return grad_s, None, None, None


class _SoftmaxKL(torch.autograd.Function):
    """Symmetric softmax KL of logits `a` (y_pred) and `b` (y_true) over `axis`.

    With `p = softmax(a / T)`, `q = softmax(b / T)`, `d = log p - log q` and
    `delta = p - q`, the value is `sum(delta * d)` and the backward is the
    closed form

    ```
    d/da = (p * (d - <p, d>) + delta) / T
    d/db = -(q * (d - <q, d>) + delta) / T
    ```

    (`<., .>` a sum over `axis`): one autograd node in place of about a
    dozen. Classes masked in either input (at or below MASK_THRESHOLD; NaN
    is not masked) get the logit -1e30 after the temperature: `p = q = 0`
    there, both log-probabilities round to the same value, so `d = delta =
    0` and both the value and the gradients there are exactly 0.
    """

    @staticmethod
    def forward(ctx, a, b, temperature, axis):
        valid = torch.logical_not(
            torch.logical_or(a <= MASK_THRESHOLD, b <= MASK_THRESHOLD)
        )
        if temperature != 1.0:
            a, b = a / temperature, b / temperature
        log_p = torch.log_softmax(torch.where(valid, a, -1e30), dim=axis)
        log_q = torch.log_softmax(torch.where(valid, b, -1e30), dim=axis)
        p, q = log_p.exp(), log_q.exp()
        d = log_p.sub_(log_q)
        delta = torch.sub(p, q)
        ctx.axis, ctx.temperature = axis, temperature
        ctx.save_for_backward(p, q, d, delta)
        return torch.mul(delta, d).sum(dim=axis)

    @staticmethod
    def backward(ctx, grad):
        p, q, d, delta = ctx.saved_tensors
        axis = ctx.axis
        g = grad.unsqueeze(axis)
        if ctx.temperature != 1.0:
            g = g / ctx.temperature
        grads = []
        for w, sign in ((p, 1.0), (q, -1.0)):
            centred = d - (w * d).sum(dim=axis, keepdim=True)
            grads.append(centred.mul_(w).add_(delta).mul_(g * sign))
        return grads[0], grads[1], None, None


class _SigmoidKL(torch.autograd.Function):
    """Per-logit symmetric sigmoid KL of logits `s` (y_pred) and `t` (y_true).

    `(sigmoid(s) - sigmoid(t)) (s - t)`, computed as `_kernels.sigmoid_kl`
    computes it (`sigmoid(a) sigmoid(-b) d (1 - exp(-d))`, `a = max`,
    `b = min`, `d = a - b`), with the closed-form backward

    ```
    d/ds = sigmoid'(s) (s - t) + sigmoid(s) - sigmoid(t)
    d/dt = -sigmoid'(t) (s - t) - (sigmoid(s) - sigmoid(t))
    ```

    where `sigmoid'(x) = sigmoid(x) sigmoid(-x)` (no cancellation near 0 or
    1): one autograd node in place of about twenty. Entries masked in either
    input (at or below MASK_THRESHOLD; NaN is not masked) give exactly 0,
    with zero gradients.
    """

    @staticmethod
    def forward(ctx, s, t, temperature):
        valid = torch.logical_or(s <= MASK_THRESHOLD, t <= MASK_THRESHOLD)
        valid = valid.logical_not_()
        if temperature != 1.0:
            s, t = s / temperature, t / temperature
        s, t = torch.where(valid, s, 0.0), torch.where(valid, t, 0.0)
        a, b = torch.maximum(s, t), torch.minimum(s, t)
        d = a - b
        delta = torch.sigmoid(a).mul_(torch.sigmoid(b.neg()))
        delta.mul_(torch.expm1(d.neg()).neg_())  # sigmoid(a) - sigmoid(b) >= 0
        ctx.temperature = temperature
        ctx.save_for_backward(s >= t, a, b, d, delta)
        return delta * d

    @staticmethod
    def backward(ctx, grad):
        up, a, b, d, delta = ctx.saved_tensors
        if ctx.temperature != 1.0:
            grad = grad / ctx.temperature

        def slope(x):  # d D / d x at the larger (a) or smaller (b) logit, up to sign
            return torch.sigmoid(x).mul_(torch.sigmoid(x.neg())).mul_(d).add_(delta)

        # Masked entries hold s = t = 0 here: d = delta = 0 and so no gradient.
        g_a, g_b = slope(a).mul_(grad), slope(b).neg_().mul_(grad)
        grad_s = torch.where(up, g_a, g_b) if ctx.needs_input_grad[0] else None
        grad_t = torch.where(up, g_b, g_a) if ctx.needs_input_grad[1] else None
        return grad_s, grad_t, None


def sigmoid_kl(y_true, y_pred, temperature):
    """Per-logit symmetric sigmoid KL; see `keras_rdkl.losses.sigmoid_kl_divergence`.

    `y_true`, `y_pred`: logits in the compute dtype, of one shape (see
    `_SigmoidKL` for the masking and the backward).
    """
    return _SigmoidKL.apply(y_pred, y_true, float(temperature))


def softmax_kl(y_true, y_pred, temperature, axis):
    """Symmetric softmax KL over `axis`; see `keras_rdkl.losses.softmax_kl_divergence`.

    `y_true`, `y_pred`: logits in the compute dtype, of one shape (see
    `_SoftmaxKL` for the masking and the backward).
    """
    return _SoftmaxKL.apply(y_pred, y_true, float(temperature), int(axis))


def zlpr(s, t, eps):
    """Dense ZLPR over the last axis; see `keras_rdkl.losses.multilabel_categorical_crossentropy`.

    `s`: scores in the compute dtype; `t`: targets of `s`'s shape and dtype.
    Returns the per-row loss, `s.shape[:-1]`.
    """
    shape, n = s.shape[:-1], s.shape[-1]
    if n == 0:
        return s.new_zeros(shape)
    s2, t2 = s.reshape(-1, n), t.detach().reshape(-1, n)
    # The bounds in the scores' dtype that compare as the float64 rules
    # `t < eps` (reads as 0) and `t > 1 - eps` (reads as 1) do.
    ftype = np.float64 if s.dtype == torch.float64 else np.float32
    low, high = ftype(eps), ftype(1.0 - eps)
    if float(low) < eps:
        low = np.nextafter(low, ftype(1.0))
    if float(high) > 1.0 - eps:
        high = np.nextafter(high, ftype(0.0))
    out = _ZLPR.apply(s2, t2, float(low), float(high))
    return out.reshape(shape)


# ---- CRF: forward algorithm and Viterbi (keras_rdkl/_kernels.py calls these)
#
# Eager PyTorch pays per call, and a `keras.ops` loop over time makes about
# twenty calls per step, each recorded for autograd. These forms make three or
# four calls per step into preallocated buffers, in a tag-major layout
# (`[tags, tags, batch]` per step, reduced over the leading axis, which torch
# vectorises over the contiguous batch axis: about 8x faster than reducing a
# middle axis of `[batch, tags, tags]`). The log-partition's gradient is
# written by hand (a backward recursion and the marginals), so autograd
# records one node. Inputs are those of `prepare_emissions`: float emissions
# `[B, L, K]` with 0 at masked steps, transitions `[K, K]`, `valid [B, L]`.


def _crf_links(valid):
    """Time-major step masks: `(link [L, B], first [B])`.

    `link` is true at a valid step that follows an earlier valid step (where
    the recursion's update runs); `first` is each row's first valid step (the
    last index for a row with none, whose result the caller replaces by 0).
    """
    counts = torch.cumsum(valid, dim=1)
    link = torch.logical_and(valid, counts > 1).t().contiguous()
    first = (counts == 0).sum(dim=1).clamp_(max=valid.shape[1] - 1)
    return link, first


def _crf_tag_major(e, first):
    """Emissions as `[L, K, B]` and each row's first valid step `[K, B]`."""
    steps = e.permute(1, 2, 0).contiguous()
    index = first[None, None].expand(1, e.shape[2], -1)
    return steps, torch.gather(steps, 0, index)[0]


class _CRFLogNorm(torch.autograd.Function):
    """`log Z [B]` by the forward algorithm; the gradient by forward-backward.

    alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + e_t[j] on linked
    steps, carried over the others, starting from the first valid step's
    emissions. The gradient of log Z is the tag marginals for the emissions
    and the summed pair marginals for the transitions, from the backward
    recursion beta_{t-1}[i] = logsumexp_j(A[i, j] + e_t[j] + beta_t[j]).
    """

    @staticmethod
    def forward(ctx, e, a, valid):
        e = e.detach()
        a = a.detach()
        link, first = _crf_links(valid)
        steps, start = _crf_tag_major(e, first)
        alphas = torch.empty_like(steps)
        alphas[0] = start
        scores = e.new_empty((a.shape[0], a.shape[1], e.shape[0]))
        a_ = a.unsqueeze(2)
        for t in range(1, steps.shape[0]):
            torch.add(alphas[t - 1].unsqueeze(1), a_, out=scores)
            new = torch.logsumexp(scores, 0).add_(steps[t])
            torch.where(link[t], new, alphas[t - 1], out=alphas[t])
        log_z = torch.logsumexp(alphas[-1], 0)
        any_valid = valid.any(dim=1)
        ctx.save_for_backward(steps, a, alphas, link, valid, any_valid)
        return torch.where(any_valid, log_z, 0.0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        steps, a, alphas, link, valid, any_valid = ctx.saved_tensors
        g = torch.where(any_valid, g, 0.0)
        betas = torch.empty_like(steps)
        betas[-1] = 0.0
        scores = steps.new_empty((a.shape[1], a.shape[0], steps.shape[2]))
        a_t = a.t().unsqueeze(2)
        for t in range(steps.shape[0] - 1, 0, -1):
            torch.add((steps[t] + betas[t]).unsqueeze(1), a_t, out=scores)
            new = torch.logsumexp(scores, 0)
            torch.where(link[t], new, betas[t], out=betas[t - 1])
        # Tag marginals at valid steps, pair marginals [L-1, K, K, B] at links,
        # each normalised by its own step's logsumexp_j(alpha + beta) (log Z
        # at every valid step, without the rounding gathered along the way).
        post = alphas + betas
        norm = torch.logsumexp(post, 1, keepdim=True)
        post = post.sub_(norm).exp_()
        post = post.mul_(torch.where(valid.t(), g, 0.0).unsqueeze(1))
        after = (steps[1:] + betas[1:]).sub_(norm[1:]).unsqueeze(1)
        pair = torch.add(alphas[:-1].unsqueeze(2), a.unsqueeze(2)).add_(after)
        pair = pair.masked_fill_(~link[1:, None, None], float("-inf")).exp_()
        grad_a = torch.einsum("lijb,b->ij", pair, g)
        return post.permute(2, 0, 1), grad_a, None


def crf_log_norm(e, a, valid):
    """`log Z [B]` of a linear-chain CRF (0 for a row with no valid step)."""
    return _CRFLogNorm.apply(e, a, valid)


def crf_viterbi(e, a, valid, start_penalty, end_penalty):
    """Best paths `int32 [B, L]` (0 at masked steps) and their scores `[B]`.

    Penalties `[K]` are added at each row's first and last valid step. Ties go
    to the lowest tag (torch's `max` returns the first maximum). No value is
    read back to the host: the back-pointers are followed by `gather`.
    """
    with torch.no_grad():
        batch, length, tags = e.shape
        link, first = _crf_links(valid)
        steps, start = _crf_tag_major(e, first)
        deltas = torch.empty_like(steps)
        deltas[0] = start + start_penalty[:, None]
        backs = torch.empty((length, tags, batch), dtype=torch.int64, device=e.device)
        scores = e.new_empty((tags, tags, batch))
        best = e.new_empty((tags, batch))
        a_ = a.unsqueeze(2)
        for t in range(1, length):
            torch.add(deltas[t - 1].unsqueeze(1), a_, out=scores)
            torch.max(scores, 0, out=(best, backs[t]))
            best.add_(steps[t])
            torch.where(link[t], best, deltas[t - 1], out=deltas[t])
        # Unlinked steps point each tag at itself, so the path carries over.
        identity = torch.arange(tags, device=e.device)[:, None]
        backs = torch.where(link.unsqueeze(1), backs, identity)
        score, last = torch.max(deltas[-1] + end_penalty[:, None], 0)
        path = torch.empty((length, 1, batch), dtype=torch.int64, device=e.device)
        path[-1, 0] = last
        for t in range(length - 1, 0, -1):
            torch.gather(backs[t], 0, path[t], out=path[t - 1])
        path = torch.where(valid, path[:, 0].t(), 0).to(torch.int32)
        return path, torch.where(valid.any(dim=1), score, 0.0)
