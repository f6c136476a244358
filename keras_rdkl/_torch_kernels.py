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
- R-Drop's whole divergence term (`rdrop_softmax_kl`) for the common
  classifier case (softmax logits, no sample weights or Keras masks): the
  split of the doubled output, the divergence, its mean, the `alpha` term,
  the add to the compiled loss and the `kl` metric's update in one node.
  Where the compiled loss is Keras' own cross-entropy from logits
  (`rdrop_crossentropy_kl`), that loss joins the node too, sharing its
  softmax: Keras' loss machinery costs eager PyTorch more Python per step
  than the whole node (bench/rdrop_profile.py). R-Drop's doubling of the
  batch (`twice`) is a bare `torch.cat`, without `ops.concatenate`'s
  conversions.

Values and gradients equal the `keras.ops` forms to rounding; both are
tested against the same NumPy references on every backend
(tests/losses/test_zlpr_paths.py, tests/losses/test_divergence.py,
tests/models/test_rdrop.py), the ZLPR kernels against each other and the
R-Drop nodes against the general divergence and Keras' own loss.
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


class _RDropSoftmaxKL(torch.autograd.Function):
    """R-Drop's loss on the doubled output, in one autograd node.

    `y` holds the two dropout passes on top of each other (`[y1; y2]` on
    axis 0). With `D = log P - roll(log P)` and `Delta = P - roll(P)`, where
    `P = softmax(y / T)` over `axis` and `roll` swaps the halves, `D` is
    `[d; -d]` and `Delta` is `[delta; -delta]`, so the mean symmetric KL of
    the halves is `<Delta, D> / (2 n)` (`n` per-sample values in a half; a
    sum of non-negative terms, so no cancellation) and the closed-form
    gradients of `_SoftmaxKL` for both halves are the single expression
    `(P (D - <P, D>) + Delta) / (n T)`.

    The node returns `base + weight * kl`. With `target` given instead of
    `base`, the base is the cross-entropy of the doubled logits (class axis
    last) against the targets of one half, as Keras computes it on the
    doubled targets: `-log Q[label]` (sparse: integer `target`) or
    `-<t, log Q>` (categorical: `target` of a half's shape), `Q =
    softmax(y)`, averaged over the `2 n` rows; its gradient is
    `(Q sum(t) - t) / (2 n)` (one-hot `t` for sparse targets).

    Classes masked in either pass are left out of the divergence, as in
    `_SoftmaxKL`; one host sync (`amin`) skips that work when nothing is
    masked (NaN reaches the value either way). The cross-entropy is fused
    only where nothing is masked (the caller checks).

    The forward also computes the gradient for a unit upstream gradient
    (one tensor kept for the backward, which scales it): while the
    forward's tensors are at hand it takes fewer kernels.
    """

    @staticmethod
    def forward(ctx, y, base, target, sparse, weight, temperature, axis, total, count):
        half = y.shape[0] // 2
        if target is not None:
            y = y.contiguous()  # for the views below; a no-op as a rule
        z = y / temperature if temperature != 1.0 else y
        # A target means the caller found nothing masked; else look once.
        if target is None and _has_masked(y):
            z = torch.where(
                torch.minimum(y, y.roll(half, 0)) <= MASK_THRESHOLD, -1e30, z
            )
        log_p = torch.log_softmax(z, dim=axis)
        p = log_p.exp()
        if target is not None:
            classes = y.shape[-1]
            log_q = log_p if temperature == 1.0 else torch.log_softmax(y, dim=-1)
            if sparse:
                labels = target.reshape(-1)
                if labels.dtype != torch.long:
                    labels = labels.long()
                labels = torch.cat((labels, labels))
                # The mean of `-log Q[label]` (labels checked: none ignored).
                base = torch.nn.functional.nll_loss(log_q.view(-1, classes), labels)
                rows = labels.shape[0]
            else:
                t = target.reshape(1, -1, classes)
                # sum(-x) == -sum(x) exactly: `<t, log Q>` summed, negated.
                minus_ce = torch.sum(t * log_q.view(2, -1, classes), dim=-1)
                rows = minus_ce.numel()
                base = torch.sum(minus_ce) / -rows
            q = p if temperature == 1.0 else log_q.exp()
        d = log_p.sub_(log_p.roll(half, 0))
        delta = p - p.roll(half, 0)
        scale = 1.0 / (2 * (y.numel() // (2 * y.shape[axis])))
        kl_sum = torch.vdot(delta.reshape(-1), d.reshape(-1))
        total.add_(kl_sum, alpha=scale)
        count.add_(1.0)
        out = torch.add(base, kl_sum, alpha=scale * weight)
        ctx.fused_ce = target is not None
        if not ctx.needs_input_grad[0]:
            ctx.save_for_backward(None)
            return out
        # The gradient for a unit upstream gradient, computed here while the
        # forward's tensors are at hand; the backward scales it.
        d.sub_((p * d).sum(dim=axis, keepdim=True))
        grad_y = torch.addcmul(delta, d, p).mul_(2 * scale * weight / temperature)
        if target is not None:
            if sparse:
                grad_y.add_(q, alpha=1.0 / rows)
                flat = grad_y.view(-1, classes)
                flat.scatter_(1, labels.unsqueeze(1), -1.0 / rows, reduce="add")
            else:
                grads = grad_y.view(2, -1, classes)
                weights = t.sum(-1, keepdim=True)
                grads.addcmul_(q.view(grads.shape), weights, value=1.0 / rows)
                grads.add_(t, alpha=-1.0 / rows)
        ctx.save_for_backward(grad_y)
        return out

    @staticmethod
    def backward(ctx, grad):
        (grad_y,) = ctx.saved_tensors
        if grad_y is not None:
            grad_y = grad_y * grad
        base_grad = None if ctx.fused_ce else grad
        return grad_y, base_grad, None, None, None, None, None, None, None


def twice(t):
    """`[t; t]`: tensor `t` stacked on itself along axis 0."""
    return torch.cat((t, t))


def _host_values(low, labels):
    """`(low, min(labels), max(labels))` as Python numbers (0-d `low`).

    On the CPU each `item()` is a plain read (cheaper than a `stack`); off
    it, one copy to the host (float64 holds every label and float32 logit).
    """
    first, last = torch.aminmax(labels)
    if labels.device.type == "cpu":
        return low.item(), first.item(), last.item()
    return torch.stack([low.double(), first, last]).tolist()


def _has_masked(y):
    """Whether some logit of `y` is masked (one host sync; NaN is not masked)."""
    return float(y.detach().amin()) <= MASK_THRESHOLD


def rdrop_softmax_kl(y, base, weight, temperature, axis, total, count):
    """`base + weight * kl` for R-Drop's doubled logits `y`, logging `kl`.

    `kl`: the mean over samples of the symmetric softmax KL over `axis`
    between the two halves of `y` (axis 0), as
    `ops.mean(softmax_kl_divergence(y2, y1))` computes it; it is added to
    the tensor `total` and 1 to `count` (a `keras.metrics.Mean`'s state, as
    `update_state(kl)` would). `y`: float32 logits with an even number of
    rows and at least one per-sample value; `axis`: non-negative, not 0;
    `base`: a scalar float32 loss.
    """
    return _RDropSoftmaxKL.apply(
        y, base, None, False, float(weight), float(temperature), axis, total, count
    )


def rdrop_crossentropy_kl(y, target, sparse, weight, temperature, total, count):
    """`ce + weight * kl` for R-Drop's doubled logits `y` (classes last), or None.

    `ce`: Keras' `SparseCategoricalCrossentropy(from_logits=True)`
    (`sparse`, integer `target` of a half's shape without the class axis) or
    `CategoricalCrossentropy(from_logits=True)` (float32 `target` of a
    half's shape) of `y` against the targets doubled, with the mean
    reduction; `kl` and its logging as in `rdrop_softmax_kl` over the last
    axis. None, with nothing logged, where a logit is masked or NaN or a
    label lies outside `[0, classes)`: the caller's general path then
    handles them as Keras does (one host sync decides).
    """
    low = y.detach().amin()
    if sparse:
        low, first, last = _host_values(low, target)
        if not 0 <= first <= last < y.shape[-1]:
            return None
    if not float(low) > MASK_THRESHOLD:  # masked; NaN goes the general way too
        return None
    return _RDropSoftmaxKL.apply(
        y,
        None,
        target,
        sparse,
        float(weight),
        float(temperature),
        y.dim() - 1,
        total,
        count,
    )


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
