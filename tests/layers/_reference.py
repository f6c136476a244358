"""Independent NumPy references for the span layers, written from the formulas.

GlobalPointer:   h = x W + b, per head h = [q | k];  s_hij = <R_i q_ih, R_j k_jh> / sqrt(d)
Efficient GP:    p = x W_p + b_p, q = p[even], k = p[odd];  c = p W_q + b_q
                 s_hij = <R_i q_i, R_j k_j> / sqrt(d) + c_i[2h+1] / 2 + c_j[2h] / 2
R_p rotates channel pair (2m, 2m+1) by angle p * 10000^(-2m/d).
Masked spans (start or end padding; start > end with tril) hold `fill`.
"""

import numpy as np


def sinusoid_table(length, dim):
    table = np.zeros((length, dim))
    for p in range(length):
        for m in range(dim // 2):
            angle = p * 10000.0 ** (-2.0 * m / dim)
            table[p, 2 * m] = np.sin(angle)
            table[p, 2 * m + 1] = np.cos(angle)
    return table


def rotate(v, dim):
    """v: [length, ..., dim]; rotates pair m at position p by p * theta_m."""
    v = np.asarray(v, dtype=np.float64)
    out = np.empty_like(v)
    length = v.shape[0]
    for p in range(length):
        for m in range(dim // 2):
            angle = p * 10000.0 ** (-2.0 * m / dim)
            c, s = np.cos(angle), np.sin(angle)
            a, b = v[p, ..., 2 * m], v[p, ..., 2 * m + 1]
            out[p, ..., 2 * m] = a * c - b * s
            out[p, ..., 2 * m + 1] = b * c + a * s
    return out


def _mask(logits, mask, tril, fill):
    batch, heads, length, _ = logits.shape
    out = logits.copy()
    for b in range(batch):
        for i in range(length):
            for j in range(length):
                bad = tril and i > j
                if mask is not None and not (mask[b, i] and mask[b, j]):
                    bad = True
                if bad:
                    out[b, :, i, j] = fill
    return out


def global_pointer(x, kernel, bias, heads, head_size, rope, tril, mask, fill=-1e12):
    x = np.asarray(x, np.float64)
    batch, length, _ = x.shape
    h = x @ kernel + (0 if bias is None else bias)
    logits = np.zeros((batch, heads, length, length))
    for b in range(batch):
        for t in range(heads):
            block = h[b, :, t * 2 * head_size : (t + 1) * 2 * head_size]
            q, k = block[:, :head_size], block[:, head_size:]
            if rope:
                q, k = rotate(q, head_size), rotate(k, head_size)
            logits[b, t] = q @ k.T / np.sqrt(head_size)
    return _mask(logits, mask, tril, fill)


def efficient_global_pointer(
    x,
    p_kernel,
    p_bias,
    q_kernel,
    q_bias,
    heads,
    head_size,
    rope,
    tril,
    mask,
    fill=-1e12,
):
    x = np.asarray(x, np.float64)
    batch, length, _ = x.shape
    p = x @ p_kernel + (0 if p_bias is None else p_bias)
    c = p @ q_kernel + (0 if q_bias is None else q_bias)
    logits = np.zeros((batch, heads, length, length))
    for b in range(batch):
        q, k = p[b, :, 0::2], p[b, :, 1::2]
        if rope:
            q, k = rotate(q, head_size), rotate(k, head_size)
        base = q @ k.T / np.sqrt(head_size)
        for t in range(heads):
            start = c[b, :, 2 * t + 1] / 2
            end = c[b, :, 2 * t] / 2
            logits[b, t] = base + start[:, None] + end[None, :]
    return _mask(logits, mask, tril, fill)
