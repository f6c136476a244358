"""Fixed sin-cos position embeddings in bert4keras' interleaved layout."""

import keras
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl.layers.rotary import sinusoidal_embeddings

_MERGE_MODES = ("add", "mul", "zero", "concat")


@keras.saving.register_keras_serializable(package="keras_rdkl")
class SinusoidalPositionEmbedding(keras.layers.Layer):
    """Sin-cos position embeddings (bert4keras layout), merged with the input.

    The table for position p has channels ``[sin(theta_0 p), cos(theta_0 p),
    sin(theta_1 p), cos(theta_1 p), ...]`` with theta_i = 10000^(-2i/d):
    sine and cosine interleaved, as bert4keras 0.11.5 writes them (the
    original Transformer concatenates the sines and the cosines instead).
    With `merge_mode="zero"` the table is what `apply_rotary` expects.

    The layer has no weights. Keras masks pass through unchanged.

    Args:
        output_dim: even int, the number of embedding channels `d`.
        merge_mode: how the table meets the input. `"add"`: input + table;
            `"mul"`: input * (table + 1); `"zero"`: the table alone (shape
            `[batch or 1, length, d]`); `"concat"`: input and table joined on
            the last axis. bert4keras 0.11.5 has the same four modes (it
            treats any other string as concatenation; here that is an error).
        custom_position_ids: if True, the layer is called on
            `[inputs, position_ids]` and uses those (float or int) positions
            instead of `0 .. length - 1`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `[batch, length, channels]`, or the list
            `[inputs, position_ids]` with `position_ids` of shape
            `[batch or 1, length]` when `custom_position_ids=True`.

    Returns:
        `[batch, length, d]` for `"add"`, `"mul"` (where channels must equal
        `d`), `[batch or 1, length, d]` for `"zero"`, and
        `[batch, length, channels + d]` for `"concat"`.

    Raises:
        ValueError: at construction for an `output_dim` that is not a
            positive even integer (Python or NumPy), an unknown `merge_mode`
            or a non-bool `custom_position_ids`; at call (before any backend
            op, the same on every backend) for `inputs` not of rank 3,
            channels other than `output_dim` with `"add"` / `"mul"`, or
            `position_ids` not of shape `[batch or 1, length]`.

    Example:

    >>> import numpy as np
    >>> layer = SinusoidalPositionEmbedding(8, merge_mode="zero")
    >>> tuple(layer(np.zeros((2, 5, 16), "float32")).shape)
    (1, 5, 8)

    Reference:
        - Vaswani et al., "Attention Is All You Need", 2017.
        - bert4keras 0.11.5, `bert4keras.layers.SinusoidalPositionEmbedding`.
    """

    def __init__(
        self, output_dim, merge_mode="add", custom_position_ids=False, **kwargs
    ):
        super().__init__(**kwargs)
        self.output_dim = checks.check_even_positive_int(output_dim, "output_dim")
        if not isinstance(merge_mode, str) or merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"`merge_mode` must be one of {_MERGE_MODES}. "
                f"Received: merge_mode={merge_mode!r}"
            )
        self.merge_mode = merge_mode
        self.custom_position_ids = checks.check_bool(
            custom_position_ids, "custom_position_ids"
        )
        self.supports_masking = True

    def _check_inputs(self, inputs):
        """Static shape checks, before any backend op (same on every backend)."""
        if self.custom_position_ids:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    "With `custom_position_ids=True` the layer is called on "
                    "`[inputs, position_ids]`; `position_ids` is missing. Received: "
                    f"{type(inputs).__name__} of length "
                    f"{len(inputs) if isinstance(inputs, (list, tuple)) else 1}"
                )
            inputs, position_ids = inputs
        elif isinstance(inputs, (list, tuple)):
            raise ValueError(
                "`inputs` must be one tensor when `custom_position_ids` is False; "
                "pass `[inputs, position_ids]` only with custom_position_ids=True."
            )
        inputs = ops.convert_to_tensor(inputs)
        shape = tuple(inputs.shape)
        if len(shape) != 3:
            raise ValueError(
                "`inputs` must have shape [batch, length, channels]. "
                f"Received: inputs.shape={shape}"
            )
        if (
            self.merge_mode in ("add", "mul")
            and shape[-1] is not None
            and shape[-1] != self.output_dim
        ):
            raise ValueError(
                f"With `merge_mode={self.merge_mode!r}` the channels of `inputs` "
                f"must equal `output_dim`={self.output_dim}. "
                f"Received: inputs.shape={shape}"
            )
        if not self.custom_position_ids:
            return inputs, None
        position_ids = ops.convert_to_tensor(position_ids)
        p_shape = tuple(position_ids.shape)
        if (
            len(p_shape) != 2
            or not (
                p_shape[0] in (None, 1) or shape[0] is None or p_shape[0] == shape[0]
            )
            or (None not in (p_shape[1], shape[1]) and p_shape[1] != shape[1])
        ):
            raise ValueError(
                "`position_ids` must have shape [batch or 1, length] = "
                f"[{shape[0]} or 1, {shape[1]}]. "
                f"Received: position_ids.shape={p_shape}"
            )
        return inputs, position_ids

    def call(self, inputs):
        inputs, position_ids = self._check_inputs(inputs)
        if self.custom_position_ids:
            positions = ops.cast(position_ids, "float32")
        else:
            length = ops.shape(inputs)[1]
            positions = ops.expand_dims(ops.arange(length, dtype="float32"), 0)
        table = ops.cast(
            sinusoidal_embeddings(positions, self.output_dim), self.compute_dtype
        )
        if self.merge_mode == "add":
            return inputs + table
        if self.merge_mode == "mul":
            return inputs * (table + 1.0)
        if self.merge_mode == "zero":
            return table
        batch = ops.shape(inputs)[0]
        table = ops.broadcast_to(table, (batch,) + tuple(ops.shape(table)[1:]))
        return ops.concatenate([inputs, table], axis=-1)

    def compute_mask(self, inputs, mask=None):
        if self.custom_position_ids and isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def compute_output_shape(self, input_shape):
        if self.custom_position_ids:
            input_shape = input_shape[0]
        input_shape = tuple(input_shape)
        if self.merge_mode == "zero":
            batch = None if self.custom_position_ids else 1
            return (batch, input_shape[1], self.output_dim)
        if self.merge_mode == "concat":
            last = (
                None if input_shape[-1] is None else input_shape[-1] + self.output_dim
            )
            return input_shape[:-1] + (last,)
        return input_shape[:2] + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "merge_mode": self.merge_mode,
                "custom_position_ids": self.custom_position_ids,
            }
        )
        return config
