"""ConditionalRandomField: a linear-chain CRF head (bert4keras-compatible weights)."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl.losses.crf import crf_negative_log_likelihood
from keras_rdkl.masking import mask_value
from keras_rdkl.viterbi import viterbi_decode


def _to_list(x):
    return None if x is None else np.asarray(x).tolist()


@keras.saving.register_keras_serializable(package="keras_rdkl")
class ConditionalRandomField(keras.layers.Layer):
    """Linear-chain conditional random field over per-token tag scores.

    The layer holds a transition matrix `[num_tags, num_tags]` and passes
    its input, the emissions (per-token tag scores), through unchanged
    except at padded steps. Train with `keras_rdkl.losses.CRFLoss(layer)`
    (negative log-likelihood by the forward algorithm in log space) and
    predict with `layer.decode(emissions)` (batched Viterbi in the graph).

    The score of a tag path `y` is `sum_t e[t, y_t] + sum_t A[y_t, y_{t+1}]`
    with `A = lr_multiplier * W`, no start or end vectors, as in bert4keras
    0.11.5: its stored weight `W` (named `trans`) loads with
    `set_weights`. `W` starts as `glorot_uniform / lr_multiplier`, so the
    effective `A` starts the same whatever the multiplier while its
    gradient steps are scaled up (Adam: about `lr_multiplier` times).

    Padded steps hold `keras_rdkl.mask_value(compute dtype)` in every tag
    (finite: -1e12, or -3e4 in float16), written with `ops.where`; the loss,
    metric and decoder read the padding from there, so the Keras mask need
    not follow the output. The loss and decoder compute in float32.

    Args:
        lr_multiplier: positive float, the scale between the stored weight and
            the transitions used.
        transitions_initializer: initializer of the effective transitions
            (before the division by `lr_multiplier`).
        start_tags: optional tag indices allowed first (decoding only).
        end_tags: optional tag indices allowed last (decoding only).
        allowed_transitions: optional boolean `[num_tags, num_tags]`; `False`
            forbids tag `j` right after tag `i` (decoding only).
            `keras_rdkl.viterbi.tag_scheme_constraints` derives all three
            from BIO / BIOES / BMES tag names.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float emissions `[batch, length, num_tags]`.
        mask: optional `[batch, length]` (True / 1 = token), from Keras mask
            propagation (`Embedding(mask_zero=True)`, `Masking`) or passed
            explicitly.

    Returns:
        The emissions, `mask_value` at every tag of a padded step. The layer
        produces no Keras mask (the padding is inside the output): a Keras mask
        `[batch, length]` would weight the per-sequence loss by length.

    Example:

    >>> import numpy as np
    >>> crf = ConditionalRandomField()
    >>> e = np.random.rand(2, 4, 3).astype("float32")
    >>> out = crf(e, mask=np.array([[1, 1, 1, 0], [1, 1, 1, 1]]))
    >>> tags, scores = crf.decode(out)
    >>> tuple(tags.shape), tuple(scores.shape), tuple(crf.transitions.shape)
    ((2, 4), (2,), (3, 3))

    Reference:
        - Lafferty, McCallum and Pereira, "Conditional Random Fields:
          Probabilistic Models for Segmenting and Labeling Sequence Data", 2001.
        - bert4keras 0.11.5, `bert4keras.layers.ConditionalRandomField`.
    """

    def __init__(
        self,
        lr_multiplier=1.0,
        transitions_initializer="glorot_uniform",
        start_tags=None,
        end_tags=None,
        allowed_transitions=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(lr_multiplier, bool) or not isinstance(
            lr_multiplier, numbers.Real
        ):
            raise ValueError(
                "`lr_multiplier` must be a finite number > 0. "
                f"Received: lr_multiplier={lr_multiplier!r}"
            )
        checks.check_positive(float(lr_multiplier), "lr_multiplier")
        self.lr_multiplier = float(lr_multiplier)
        self.transitions_initializer = keras.initializers.get(transitions_initializer)
        self.start_tags = _to_list(start_tags)
        self.end_tags = _to_list(end_tags)
        self.allowed_transitions = _to_list(allowed_transitions)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "`ConditionalRandomField` expects emissions of shape [batch, "
                "length, num_tags] with a known num_tags. Received shape: "
                f"{tuple(input_shape)}"
            )
        num_tags = int(input_shape[-1])
        multiplier = self.lr_multiplier
        base = self.transitions_initializer

        def initializer(shape, dtype=None):
            return base(shape, dtype=dtype) / multiplier

        self._trans = self.add_weight(
            name="trans", shape=(num_tags, num_tags), initializer=initializer
        )

    @property
    def transitions(self):
        """The transitions used: `lr_multiplier * W`, `[num_tags, num_tags]`."""
        if self.lr_multiplier == 1.0:
            return self._trans.value
        return self._trans.value * self.lr_multiplier

    @property
    def trans(self):
        """bert4keras' name for `transitions`."""
        return self.transitions

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs
        fill = ops.cast(mask_value(inputs.dtype), inputs.dtype)
        return ops.where(ops.cast(mask, "bool")[..., None], inputs, fill)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def negative_log_likelihood(self, y_true, emissions, mask=None):
        """Per-sequence CRF loss `[batch]`; see `crf_negative_log_likelihood`."""
        return crf_negative_log_likelihood(
            y_true, emissions, self.transitions, mask=mask
        )

    def decode(self, emissions, mask=None):
        """Viterbi paths and scores under the layer's constraints.

        Args:
            emissions: `[batch, length, num_tags]` (this layer's output).
            mask: optional `[batch, length]`.

        Returns:
            `(tags, scores)`: int32 `[batch, length]` (0 at padded steps) and
            float32 `[batch]`.
        """
        return viterbi_decode(
            emissions,
            self.transitions,
            mask=mask,
            start_tags=self.start_tags,
            end_tags=self.end_tags,
            allowed_transitions=self.allowed_transitions,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lr_multiplier": self.lr_multiplier,
                "transitions_initializer": keras.initializers.serialize(
                    self.transitions_initializer
                ),
                "start_tags": self.start_tags,
                "end_tags": self.end_tags,
                "allowed_transitions": self.allowed_transitions,
            }
        )
        return config
