"""The PyTorch backend's own kernels: the one backend-specific module.

Everything else in keras_rdkl is written once in `keras.ops`. Eager PyTorch
runs each `keras.ops` call as its own kernel behind about 10 us of Python
dispatch, and records each for autograd. Three places pay for that enough to
have a PyTorch form here, chosen by the callers when
`keras.backend.backend() == "torch"`:

- Dense hard-label ZLPR (`hard_label_zlpr`, with `target_summary`): the
  `keras.ops` form costs about thirty passes over the `[B, heads, L, L]`
  scores per training step, against the two fused kernels of
  `BinaryCrossentropy(from_logits=True)` (bench/losses.py). Here: one pass
  over the targets that validates them and tells whether they are hard, a
  forward pass with one `exp` per score, and a hand-written backward that
  reuses the forward's exponentials (the gradient of
  `log(1 + sum_i exp(z_i))` is `exp(z_i) / (1 + sum_j exp(z_j))`).
- The symmetric softmax KL on logits (`softmax_kl`): the forward in native
  torch calls and a closed-form backward (one autograd node in place of
  about a dozen).
Values and gradients equal the `keras.ops` forms to rounding; both are
tested against the same NumPy references on every backend
(tests/losses/test_zlpr_paths.py, tests/losses/test_divergence.py,
the ZLPR kernels against each other).
"""

import torch

from keras_rdkl.masking import MASK_THRESHOLD


def target_summary(t, eps):
    """`(valid, hard, positive, scratch)` of targets `t`, with one host sync.

    `valid`: every value lies in [0, 1] (no NaN). `hard`: valid, and every
    value is within `eps` of 0 or 1, so that the rules of the general form
    (below `eps` reads as 0, above `1 - eps` as 1) make it exactly 0 or 1.
    `positive`: `round(t)`, those 0/1 targets (meaningful when `hard`).
    `scratch`: a buffer of `t`'s shape that the caller may overwrite.
    """
    t = t.detach()
    positive = torch.round(t)
    scratch = torch.sub(t, positive)  # exact (Sterbenz)
    if t.numel():
        stats = torch.stack([*torch.aminmax(t), *torch.aminmax(scratch)])
        lo, hi, gap_lo, gap_hi = stats.tolist()
    else:
        lo = hi = gap_lo = gap_hi = 0.0
    # NaN fails every comparison.
    valid = lo >= 0.0 and hi <= 1.0
    return valid, valid and -eps < gap_lo and gap_hi < eps, positive, scratch


# The fast path shares one shift between the positive and negative sums;
# when some score passes this limit the exact path runs instead (see
# _SharedShiftZLPR for what the limit bounds).
_SHARED_SHIFT_LIMIT = 20.0


class _ZLPRFunction(torch.autograd.Function):
    """What both hard-label ZLPR kernels share: the sums, the loss, the backward.

    A kernel's forward splits the shifted exponentials into the positive
    part `e_pos` and the negative part `e_neg` (each entry whole on one
    side), then calls `_finish` with the shifts. The backward uses
    `d loss / d z = e / d_part` and `d z / d s = -1` at positives, `1`
    elsewhere; each entry is nonzero on one side only, so nothing cancels.
    """

    @staticmethod
    def _finish(ctx, e_pos, e_neg, m_pos, m_neg):
        d_pos = e_pos.sum(-1, keepdim=True).add_(torch.exp(-m_pos))
        d_neg = e_neg.sum(-1, keepdim=True).add_(torch.exp(-m_neg))
        raw = (d_pos.log() + m_pos + d_neg.log() + m_neg).squeeze(-1)
        ctx.save_for_backward(e_pos, e_neg, d_pos, d_neg, raw)
        # Mathematically >= 0; guard the last ulp of rounding.
        return raw.clamp_min(0.0)

    @staticmethod
    def backward(ctx, grad):
        e_pos, e_neg, d_pos, d_neg, raw = ctx.saved_tensors
        # clamp_min(raw, 0) passes the gradient above 0, half of it at 0 (as
        # torch.maximum does), none below.
        g = grad * torch.where(raw > 0, 1.0, torch.where(raw == 0, 0.5, 0.0))
        g = g.unsqueeze(-1)
        grad_s = torch.mul(e_neg, g / d_neg).addcmul_(e_pos, -g / d_pos)
        return (grad_s,) + (None,) * ctx.other_inputs


class _SharedShiftZLPR(_ZLPRFunction):
    """ZLPR of scores `s` [R, N] with 0/1 targets `p`, one `exp` per score.

    With `z = -s` at positives and `s` elsewhere (given, in a buffer the
    function overwrites), the loss is
    `log(1 + sum_pos exp(z)) + log(1 + sum_neg exp(z))`. Both sums take the
    same shift `m = max(0, max z)` per row, so `exp(z - m)` is computed once.
    The caller has checked that every `max z` is below
    `_SHARED_SHIFT_LIMIT` (20): so there is no masked positive (whose `z`
    would be >= 2e4), no infinity and no NaN, and the shared shift is at most
    20 above the part's own. Compared with a shift per part, a term then
    flushes to 0 only where `exp(z)` < exp(20 - 87) ~ 1e-29 (the exact path
    flushes below exp(-87) ~ 1e-38), and the smaller part's value carries an
    absolute rounding error of a few ulps of 20, a few ulps of the total loss
    (which is at least `softplus(max z)`). `p` is overwritten too.
    """

    @staticmethod
    def forward(ctx, s, p, z, m):
        del s  # z holds the scores, sign-flipped at positives
        ctx.other_inputs = 3
        e = z.sub_(m).exp_()
        e_pos = p.mul_(e)  # in place, exact: each entry whole to one side
        e_neg = e.sub_(e_pos)
        return _ZLPRFunction._finish(ctx, e_pos, e_neg, m, m)


class _HardZLPR(_ZLPRFunction):
    """ZLPR of scores `s` [R, N] with hard targets; `positive` [R, N] bool.

    The exact path for any scores: each part is shifted by its own max
    (clamped at 0, the implicit zero logit), so neither underflows when the
    other holds huge scores. Masked scores count as negatives, where
    `exp(s - m)` is exactly 0 with a zero gradient.
    """

    @staticmethod
    def forward(ctx, s, positive):
        ctx.other_inputs = 1
        neg_inf = float("-inf")
        z = torch.where(positive, -s, s)
        m_pos = torch.where(positive, z, neg_inf).amax(-1, keepdim=True).clamp_min_(0)
        m_neg = torch.where(positive, neg_inf, z).amax(-1, keepdim=True).clamp_min_(0)
        e = z.sub_(torch.where(positive, m_pos, m_neg)).exp_()
        e_pos = torch.where(positive, e, 0.0)
        e_neg = torch.where(positive, 0.0, e)
        return _ZLPRFunction._finish(ctx, e_pos, e_neg, m_pos, m_neg)


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


def softmax_kl(y_true, y_pred, temperature, axis):
    """Symmetric softmax KL over `axis`; see `keras_rdkl.losses.softmax_kl_divergence`.

    `y_true`, `y_pred`: logits in the compute dtype, of one shape (see
    `_SoftmaxKL` for the masking and the backward).
    """
    return _SoftmaxKL.apply(y_pred, y_true, float(temperature), int(axis))


def hard_label_zlpr(s, positive, scratch):
    """Dense ZLPR over the last axis of `s` for 0/1 targets `positive`.

    torch tensors of one shape; `positive` and `scratch` (same shape and
    dtype) are overwritten.
    """
    shape = s.shape[:-1]
    n = s.shape[-1]
    s = s.reshape(-1, n)
    p = positive.reshape(-1, n)
    scratch = scratch.reshape(-1, n)
    if not scratch.is_contiguous():  # class axes moved to the end: a view
        scratch = torch.empty_like(s, memory_format=torch.contiguous_format)
    # z = -s at positives, s elsewhere (exact: s - 2s).
    z = torch.addcmul(s.detach(), s.detach(), p, value=-2.0, out=scratch)
    m = z.amax(-1, keepdim=True) if n else z.new_zeros((z.shape[0], 1))
    if m.numel() == 0 or bool(m.max() < _SHARED_SHIFT_LIMIT):
        out = _SharedShiftZLPR.apply(s, p, z, m.clamp_min_(0.0))
    else:
        # Masked positives, infinities, NaN or huge scores: the exact path.
        keep = torch.logical_and(p > 0, s > MASK_THRESHOLD)
        out = _HardZLPR.apply(s, keep)
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
