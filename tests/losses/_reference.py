"""Float64 NumPy references for the loss family, written from the formulas.

Nothing here calls keras_rdkl: each function restates the math of
/work/shared/REFERENCE.md in plain NumPy/SciPy so the tests compare the
package against an independent computation.
"""

import numpy as np
from scipy.special import expit
from scipy.special import log_softmax
from scipy.special import logsumexp

MASK_THRESHOLD = -2.0e4  # scores at or below this are excluded (package contract)
EPS = 1e-7  # keras.config.epsilon()


def _log1p_weighted_sum_exp(x, w):
    """log(1 + sum_i w_i e^{x_i}) over the last axis, entries with w = 0 dropped."""
    x = np.where(w > 0, x, 0.0)
    a = np.concatenate([x, np.zeros(x.shape[:-1] + (1,))], axis=-1)
    b = np.concatenate([w, np.ones(w.shape[:-1] + (1,))], axis=-1)
    return logsumexp(a, b=b, axis=-1)


def flatten_axes(x, axis):
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = sorted(a % x.ndim for a in axes)
    others = [i for i in range(x.ndim) if i not in axes]
    x = np.transpose(x, others + axes)
    return x.reshape(x.shape[: len(others)] + (-1,))


def zlpr(t, s, axis=-1):
    """log(1 + sum t e^{-s}) + log(1 + sum (1 - t) e^{s}), masked scores dropped."""
    t = flatten_axes(np.asarray(t, np.float64), axis)
    s = flatten_axes(np.asarray(s, np.float64), axis)
    t = np.where(t < EPS, 0.0, np.where(t > 1 - EPS, 1.0, t))
    valid = s > MASK_THRESHOLD
    s = np.where(valid, s, 0.0)
    return _log1p_weighted_sum_exp(
        -s, np.where(valid, t, 0.0)
    ) + _log1p_weighted_sum_exp(s, np.where(valid, 1.0 - t, 0.0))


def zlpr_grad(t, s):
    """Closed-form dL/ds (last axis is the class axis).

    dL/ds_i = -t_i e^{-s_i} / (1 + sum t e^{-s}) + (1 - t_i) e^{s_i} / (1 + sum (1-t) e^{s}),
    i.e. weighted softmaxes over the scores with an appended zero logit.
    """
    t = np.asarray(t, np.float64)
    s = np.asarray(s, np.float64)
    t = np.where(t < EPS, 0.0, np.where(t > 1 - EPS, 1.0, t))
    valid = s > MASK_THRESHOLD
    s = np.where(valid, s, 0.0)

    def soft(x, w):
        w = np.where(valid, w, 0.0)
        lse = _log1p_weighted_sum_exp(x, w)[..., None]
        return np.where(w > 0, w * np.exp(np.where(w > 0, x, 0.0) - lse), 0.0)

    return -soft(-s, t) + soft(s, 1.0 - t)


def multi_hot(idx, n, mask_zero=False):
    """Sparse positive indices [..., K] -> multi-hot [..., n]; out-of-range ignored."""
    idx = np.asarray(idx)
    out = np.zeros(idx.shape[:-1] + (n,))
    flat_idx = idx.reshape(-1, idx.shape[-1])
    flat_out = out.reshape(-1, n)
    for r in range(flat_idx.shape[0]):
        for j in flat_idx[r]:
            if 0 <= j < n and not (mask_zero and j == 0):
                flat_out[r, j] = 1.0
    return flat_out.reshape(out.shape)


def log_probs(y_pred, from_logits, axis=-1):
    y_pred = np.asarray(y_pred, np.float64)
    if from_logits:
        return log_softmax(y_pred, axis=axis)
    p = y_pred / y_pred.sum(axis=axis, keepdims=True)
    return np.log(np.clip(p, EPS, 1 - EPS))


def tailr_weight(p, gamma, threshold):
    """clip(p / (g + (1-g) p), b, 1); at g = 0 the ratio is p / p = 1 (also at p = 0)."""
    p = np.asarray(p, np.float64)
    if gamma == 0:
        return np.clip(np.ones_like(p), threshold, 1.0)
    return np.clip(p / (gamma + (1 - gamma) * p), threshold, 1.0)


def gamma_ce(y, y_pred, gamma, threshold=0.0, from_logits=False, label_smoothing=0.0):
    """-(1-eps) sum y w log p + eps/C sum(-log p), w = clip(p/(g+(1-g)p), b, 1)."""
    y = np.asarray(y, np.float64)
    lp = log_probs(y_pred, from_logits)
    w = tailr_weight(np.exp(lp), gamma, threshold)
    nll = -(y * w * lp).sum(-1)
    c = lp.shape[-1]
    return (1 - label_smoothing) * nll + label_smoothing * (-lp.sum(-1)) / c


def sparse_gamma_ce(labels, y_pred, gamma, threshold=0.0, from_logits=False):
    labels = np.asarray(labels)
    lp = log_probs(y_pred, from_logits)
    lpt = np.take_along_axis(lp, labels[..., None].astype(int), -1)[..., 0]
    return -tailr_weight(np.exp(lpt), gamma, threshold) * lpt


def sigmoid_sym_kl(t, s, temperature=1.0, axis=-1):
    """sum (sigmoid(s) - sigmoid(t)) (s - t) / T-scaled, masked positions dropped."""
    t = np.asarray(t, np.float64)
    s = np.asarray(s, np.float64)
    valid = (s > MASK_THRESHOLD) & (t > MASK_THRESHOLD)
    a = np.where(valid, s, 0.0) / temperature
    b = np.where(valid, t, 0.0) / temperature
    per = np.where(valid, (expit(a) - expit(b)) * (a - b), 0.0)
    return flatten_axes(per, axis).sum(-1)


def softmax_sym_kl(t, s, temperature=1.0):
    """KL(p||q) + KL(q||p), p = softmax(s/T), q = softmax(t/T) over unmasked classes."""
    t = np.asarray(t, np.float64)
    s = np.asarray(s, np.float64)
    valid = (s > MASK_THRESHOLD) & (t > MASK_THRESHOLD)
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(*s.shape[:-1]):
        v = valid[idx]
        if not v.any():
            continue
        lp = log_softmax(s[idx][v] / temperature)
        lq = log_softmax(t[idx][v] / temperature)
        out[idx] = ((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum()
    return out


def finite_difference(f, x, h=1e-6):
    """Central differences of sum(f(x)) in float64."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (np.sum(f(xp)) - np.sum(f(xm))) / (2 * h)
    return g


def masked_gamma_ce(y, logits, gamma, threshold=0.0, label_smoothing=0.0):
    """gamma-CE over the unmasked classes only (logits <= MASK_THRESHOLD dropped).

    Per row, with V the unmasked classes: p = softmax over V;
    loss = (1 - eps) * sum_{i in V} -y_i w_i log p_i + eps / |V| * sum_{i in V} -log p_i;
    0 when V is empty. Written row by row from the formula.
    """
    y = np.asarray(y, np.float64)
    s = np.asarray(logits, np.float64)
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(*s.shape[:-1]):
        v = s[idx] > MASK_THRESHOLD
        if not v.any():
            continue
        lp = log_softmax(s[idx][v])
        w = tailr_weight(np.exp(lp), gamma, threshold)
        nll = -(y[idx][v] * w * lp).sum()
        out[idx] = (1 - label_smoothing) * nll + label_smoothing * (-lp.sum()) / v.sum()
    return out
