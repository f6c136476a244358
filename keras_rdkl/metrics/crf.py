"""Token accuracy of a CRF tagger over unpadded tokens, accumulated over an epoch."""

import keras
from keras import ops

from keras_rdkl import _numerics as num
from keras_rdkl.masking import is_masked


@keras.saving.register_keras_serializable(package="keras_rdkl")
class CRFTokenAccuracy(keras.metrics.Metric):
    """Fraction of unpadded tokens whose predicted tag is the gold tag.

    Counts are summed over every batch of the epoch (not an average of
    per-batch ratios). Padded steps are found in the emissions (every tag
    score `<= keras_rdkl.MASK_THRESHOLD`, as `ConditionalRandomField`
    writes them) and never count.

    Args:
        crf: optional `keras_rdkl.layers.ConditionalRandomField`. With it the
            prediction is the Viterbi path (`crf.decode`, the tags the tagger
            outputs); without it, the per-token argmax of the emissions
            (cheaper; what bert4keras' `sparse_accuracy` shows). The layer is
            not saved with the metric: a loaded one uses the argmax.
        name: metric name.
        dtype: metric dtype.

    Example:

    >>> import numpy as np
    >>> m = CRFTokenAccuracy()
    >>> e = np.array([[[2.0, 0.0], [0.0, 1.0], [-1e12, -1e12]]], "float32")
    >>> m.update_state([[0, 0, 1]], e)  # the third step is padding
    >>> float(m.result())
    0.5
    """

    def __init__(self, crf=None, name="token_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.crf = crf
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        e = num.to_compute(y_pred)
        valid = ops.logical_not(ops.all(is_masked(e), axis=-1))
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == 3:
            y_true = ops.argmax(y_true, axis=-1)
        y_true = ops.cast(y_true, "int32")
        if self.crf is not None:
            pred, _ = self.crf.decode(y_pred)
        else:
            pred = ops.cast(ops.argmax(e, axis=-1), "int32")
        weight = ops.cast(valid, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            while len(sample_weight.shape) < 2:
                sample_weight = sample_weight[..., None]
            weight = weight * sample_weight
        hits = ops.cast(ops.equal(pred, y_true), "float32") * weight
        self.correct.assign_add(ops.cast(ops.sum(hits), self.dtype))
        self.count.assign_add(ops.cast(ops.sum(weight), self.dtype))

    def result(self):
        count = self.count.value
        return ops.where(count > 0, self.correct.value / ops.maximum(count, 1e-12), 0.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return super().get_config()
