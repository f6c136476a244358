"""Sinusoidal tables and interleaved rotary position embeddings (bert4keras layout)."""

from keras import ops

from keras_rdkl import _checks as checks


def sinusoidal_embeddings(positions, dim, base=10000.0):
    """Sinusoidal table for `positions` in the interleaved bert4keras layout.

    For frequency index i in [0, dim / 2), theta_i = base ** (-2 i / dim) and
    the output channels are ``[sin(theta_0 p), cos(theta_0 p), sin(theta_1 p),
    cos(theta_1 p), ...]`` (sine and cosine interleaved, not concatenated).

    Args:
        positions: float tensor of positions, any shape `[...]`.
        dim: even int, the number of output channels.
        base: the wavelength base, 10000 as in the Transformer paper.

    Returns:
        A float32 tensor of shape `[..., dim]`.

    Raises:
        ValueError: when `dim` is not a positive even integer (Python or
            NumPy) or `base` is not a finite number > 0.

    Example:

    >>> import numpy as np
    >>> table = sinusoidal_embeddings(np.array([[0.0, 1.0]]), 4)
    >>> np.round(np.asarray(table, "float64"), 4).tolist()
    [[[0.0, 1.0, 0.0, 1.0], [0.8415, 0.5403, 0.01, 1.0]]]
    """
    dim = checks.check_even_positive_int(dim, "dim")
    base = checks.check_positive_number(base, "base")
    positions = ops.cast(positions, "float32")
    index = ops.arange(dim // 2, dtype="float32")
    theta = ops.power(ops.cast(base, "float32"), -2.0 * index / dim)
    angles = ops.expand_dims(positions, -1) * theta
    table = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)
    return ops.reshape(table, tuple(ops.shape(angles)[:-1]) + (dim,))


def apply_rotary(x, positions_embedding):
    """Rotates channel pairs of `x` by the angles in a sinusoidal table (RoPE).

    The layout is bert4keras' interleaved one: channel pairs ``(x0, x1)``,
    ``(x2, x3)``, ... are rotated by ``theta_0 p``, ``theta_1 p``, ...:

        out[2i]   = x[2i]   * cos(theta_i p) - x[2i+1] * sin(theta_i p)
        out[2i+1] = x[2i+1] * cos(theta_i p) + x[2i]   * sin(theta_i p)

    Note: keras-hub's `RotaryEmbedding` pairs channel `i` with channel
    `i + d/2` (half split) instead; the two layouts give different numbers
    for the same weights, so only this one reproduces bert4keras models.

    Args:
        x: tensor of shape `[batch, length, ..., d]` (`d` even); any middle
            axes (heads) are broadcast over.
        positions_embedding: sinusoidal table of shape `[batch or 1, length,
            d]` in the layout of `sinusoidal_embeddings` (for instance the
            output of `SinusoidalPositionEmbedding(d, merge_mode="zero")`).

    Returns:
        A tensor with the shape and dtype of `x`.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 5, 3, 8).astype("float32")
    >>> table = sinusoidal_embeddings(np.arange(5)[None], 8)
    >>> tuple(apply_rotary(x, table).shape)
    (2, 5, 3, 8)

    References:
        - Su et al., "RoFormer: Enhanced Transformer with Rotary Position
          Embedding", 2021.
    """
    x = ops.convert_to_tensor(x)
    table = ops.convert_to_tensor(positions_embedding)
    x_shape, t_shape = tuple(x.shape), tuple(table.shape)
    rank = len(x_shape)
    if rank < 3:
        raise ValueError(
            "`x` must have rank >= 3 ([batch, length, ..., d]). "
            f"Received: x.shape={x_shape}"
        )
    d = x_shape[-1]
    if d is not None and d % 2:
        raise ValueError(
            f"The last axis of `x` must be even. Received: x.shape={x_shape}"
        )
    if len(t_shape) != 3 or not (
        _fits(t_shape[0], x_shape[0], allow_one=True)
        and _fits(t_shape[1], x_shape[1])
        and _fits(t_shape[2], d)
    ):
        raise ValueError(
            "`positions_embedding` must have shape [batch or 1, length, d] = "
            f"[{x_shape[0]} or 1, {x_shape[1]}, {d}] for x.shape={x_shape}. "
            f"Received: positions_embedding.shape={t_shape}"
        )
    table = ops.cast(table, x.dtype)
    # [b, n, d] -> [b, n, 1, ..., 1, d] to broadcast over middle axes.
    for _ in range(rank - 3):
        table = ops.expand_dims(table, -2)
    sin = ops.repeat(table[..., 0::2], 2, axis=-1)
    cos = ops.repeat(table[..., 1::2], 2, axis=-1)
    # Pairwise rotation by 90 degrees: (x0, x1) -> (-x1, x0).
    rotated = ops.stack([-x[..., 1::2], x[..., 0::2]], axis=-1)
    rotated = ops.reshape(rotated, ops.shape(x))
    return x * cos + rotated * sin


def _fits(a, b, allow_one=False):
    """Static sizes `a` (table) and `b` (input) can match; None matches all."""
    return a is None or b is None or a == b or (allow_one and a == 1)
