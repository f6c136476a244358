"""bert4keras names and argument spellings mapped onto Keras 3 and keras_rdkl.

A bert4keras (0.11.x) script ports by its import lines: every
`from bert4keras.<module> import ...` (backend, layers, models, optimizers,
snippets, tokenizers) becomes `from keras_rdkl.compat.bert4keras import ...`,
and it runs on TensorFlow, JAX and PyTorch. Here are `keras` and `K` (the Keras
2 backend functions scripts write their losses with, on `keras.ops`), the
optimizers and their `extend_with_*` wrappers (on Keras 3's schedules, weight
decay, gradient accumulation and EMA), the snippets (`sequence_padding`,
`DataGenerator` whose `forfit()` trains variable-length, list-valued batches
on every backend, `open`, `to_array`, `text_segmentate`, ...),
`build_transformer_model` (keras-hub's BERT with bert4keras' layer names),
`Tokenizer`, and the GlobalPointer, CRF and loss names. Behaviour differs from
bert4keras where bert4keras is fragile: masked logits are a finite large
negative instead of `-inf`, the sparse loss counts a repeated index once
(bert4keras' goes negative or NaN), and the F1 score is 0 instead of NaN on
batches with neither gold nor predicted spans. See docs/porting.md for what
else Keras 3 itself changes (`save_weights` needs the `.weights.h5` suffix,
...).

The loss functions and `global_pointer_f1_score` are registered for saving
(package `"keras_rdkl.compat"`), so a model compiled with them survives
`model.save` / `keras.saving.load_model`. The two GlobalPointer losses are
`keras.losses.Loss` instances: called as bert4keras calls them they return
the same scalar, and in `fit` they weight samples correctly (a `[B]`
`sample_weight` weights every head of its sample, a `[B, heads]` one each
head; any other shape raises `ValueError`).
"""

import keras
import numpy as np
from keras import ops

from keras_rdkl import _checks as checks
from keras_rdkl import layers as _layers
from keras_rdkl import losses as _losses
from keras_rdkl.compat._backend import K
from keras_rdkl.compat._backend import apply_rotary_position_embeddings
from keras_rdkl.compat._backend import batch_gather
from keras_rdkl.compat._backend import gelu_erf
from keras_rdkl.compat._backend import gelu_tanh
from keras_rdkl.compat._backend import infinity
from keras_rdkl.compat._backend import root_mean_square
from keras_rdkl.compat._backend import sequence_masking
from keras_rdkl.compat._backend import set_gelu
from keras_rdkl.compat._backend import set_infinity
from keras_rdkl.compat._bert import Transformer
from keras_rdkl.compat._bert import build_transformer_model
from keras_rdkl.compat._bert import convert_checkpoint
from keras_rdkl.compat._bert import load_bert_dir
from keras_rdkl.compat._optimizers import Adam
from keras_rdkl.compat._optimizers import PiecewiseLinearSchedule
from keras_rdkl.compat._optimizers import extend_with_exponential_moving_average
from keras_rdkl.compat._optimizers import extend_with_exponential_moving_average_v2
from keras_rdkl.compat._optimizers import extend_with_gradient_accumulation
from keras_rdkl.compat._optimizers import extend_with_gradient_accumulation_v2
from keras_rdkl.compat._optimizers import extend_with_piecewise_linear_lr
from keras_rdkl.compat._optimizers import extend_with_piecewise_linear_lr_v2
from keras_rdkl.compat._optimizers import extend_with_weight_decay
from keras_rdkl.compat._optimizers import extend_with_weight_decay_v2
from keras_rdkl.compat._optimizers import piecewise_linear
from keras_rdkl.compat._snippets import DataGenerator
from keras_rdkl.compat._snippets import is_string
from keras_rdkl.compat._snippets import open
from keras_rdkl.compat._snippets import parallel_apply
from keras_rdkl.compat._snippets import sequence_padding
from keras_rdkl.compat._snippets import strQ2B
from keras_rdkl.compat._snippets import text_segmentate
from keras_rdkl.compat._snippets import to_array
from keras_rdkl.compat._snippets import truncate_sequences
from keras_rdkl.compat._tokenizer import Tokenizer
from keras_rdkl.losses._base import align_sample_weight
from keras_rdkl.models import register_loss_family as _register_loss_family
from keras_rdkl.viterbi import viterbi_decode_numpy

__all__ = [
    "Adam",
    "apply_rotary_position_embeddings",
    "batch_gather",
    "build_transformer_model",
    "ConditionalRandomField",
    "convert_checkpoint",
    "DataGenerator",
    "EfficientGlobalPointer",
    "extend_with_exponential_moving_average",
    "extend_with_exponential_moving_average_v2",
    "extend_with_gradient_accumulation",
    "extend_with_gradient_accumulation_v2",
    "extend_with_piecewise_linear_lr",
    "extend_with_piecewise_linear_lr_v2",
    "extend_with_weight_decay",
    "extend_with_weight_decay_v2",
    "gelu_erf",
    "gelu_tanh",
    "global_pointer_crossentropy",
    "global_pointer_f1_score",
    "GlobalPointer",
    "GlobalPointerCrossentropy",
    "infinity",
    "is_string",
    "K",
    "keras",
    "load_bert_dir",
    "multilabel_categorical_crossentropy",
    "open",
    "parallel_apply",
    "piecewise_linear",
    "PiecewiseLinearSchedule",
    "root_mean_square",
    "sequence_masking",
    "sequence_padding",
    "set_gelu",
    "set_infinity",
    "SinusoidalPositionEmbedding",
    "sparse_global_pointer_crossentropy",
    "sparse_multilabel_categorical_crossentropy",
    "SparseGlobalPointerCrossentropy",
    "strQ2B",
    "text_segmentate",
    "to_array",
    "Tokenizer",
    "Transformer",
    "truncate_sequences",
    "ViterbiDecoder",
]


_register = keras.saving.register_keras_serializable(package="keras_rdkl.compat")


def _static_dim(x, axis):
    dim = x.shape[axis]
    return None if dim is None else int(dim)


def _check_indices(y_true, num_classes, allowed_what):
    """ValueError when host `y_true` holds a non-integer or one outside [0, N).

    NumPy arrays and Python lists only: backend tensors are never read (see
    `keras_rdkl._checks.check_values`).
    """
    if num_classes is None:
        return

    def bad(a):
        with np.errstate(invalid="ignore"):
            return np.logical_not((a >= 0) & (a < num_classes) & (a == np.floor(a)))

    checks.check_values(
        y_true, "y_true", bad, f"integer {allowed_what} in [0, {num_classes})"
    )


def _check_grid(y_pred):
    """ValueError unless `y_pred` is GlobalPointer logits [B, heads, L, L]."""
    shape = tuple(y_pred.shape)
    if len(shape) != 4 or (
        shape[-1] is not None and shape[-2] is not None and shape[-1] != shape[-2]
    ):
        raise ValueError(
            "`y_pred` must be GlobalPointer logits of shape [batch, heads, L, L]. "
            f"Received: y_pred.shape={shape}"
        )


@_register
def multilabel_categorical_crossentropy(y_true, y_pred):
    """bert4keras `multilabel_categorical_crossentropy`: ZLPR over the last axis.

    Same as `keras_rdkl.losses.multilabel_categorical_crossentropy(y_true,
    y_pred, axis=-1)`; returns the per-row loss `[...]`.

    Args:
        y_true: 0/1 (or soft, in [0, 1]) targets, same shape as `y_pred`.
        y_pred: Scores `[..., N]`.

    Returns:
        The loss of each row, `y_pred`'s shape without its last axis.

    Example:

    >>> loss = multilabel_categorical_crossentropy([[0.0, 1.0]], [[-2.0, 3.0]])
    >>> [round(float(v), 4) for v in loss]
    [0.1755]
    """
    return _losses.multilabel_categorical_crossentropy(y_true, y_pred, axis=-1)


@_register
def sparse_multilabel_categorical_crossentropy(y_true, y_pred, mask_zero=False):
    """bert4keras `sparse_multilabel_categorical_crossentropy`.

    Same as `keras_rdkl.losses.sparse_multilabel_categorical_crossentropy`
    over the last axis. `mask_zero=True` means what it means in bert4keras
    0.11.5: class 0 never counts, neither as a positive (index 0 in `y_true`
    is padding) nor as a negative (its score is left out). Unlike bert4keras,
    a repeated index counts once (bert4keras' loss goes negative or NaN) and
    confident positives stay exact (bert4keras clips `1 - exp(B - A)` at
    `epsilon`). Without repeats the values match bert4keras.

    Args:
        y_true: Indices of the positive classes `[..., K]`, integers in
            `[0, N)`; float dtypes holding integers are accepted (Keras hands
            labels over as floats).
        y_pred: Scores `[..., N]`.
        mask_zero: bool; if True, index 0 is padding and class 0 never counts.

    Returns:
        The loss of each row, `y_pred`'s shape without its last axis.

    Raises:
        ValueError: for a non-bool `mask_zero`, mismatched leading shapes, or
            (for indices given as NumPy arrays or Python lists; backend
            tensors are never read) an index that is not an integer in
            `[0, N)`: pad with 0 and
            `mask_zero=True` as bert4keras does.

    Example:

    >>> y_pred = [[5.0, -2.0, 3.0]]
    >>> loss = sparse_multilabel_categorical_crossentropy([[2, 0]], y_pred, True)
    >>> [round(float(v), 4) for v in loss]
    [0.1755]
    """
    mask_zero = checks.check_bool(mask_zero, "mask_zero")
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_pred.shape) == 0:
        raise ValueError(
            "`y_pred` must hold scores of shape [..., num_classes]. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    _check_indices(y_true, _static_dim(y_pred, -1), "class indices")
    return _losses.sparse_multilabel_categorical_crossentropy(
        y_true, y_pred, mask_zero=mask_zero, axis=-1
    )


@_register
class GlobalPointerCrossentropy(keras.losses.Loss):
    """The bert4keras NER scripts' GlobalPointer loss: ZLPR, mean over batch x heads.

    `global_pointer_crossentropy` is an instance of this class. Each head's
    L x L grid is one ZLPR row (as `keras_rdkl.losses.
    MultilabelCategoricalCrossentropy(axis=(-2, -1))`); the per-sample loss
    is `[B, heads]` and the default reduction averages it over batch x heads,
    as the scripts' `K.mean` does.

    `sample_weight` weights samples: a `[B]` (or `[B, 1]`) weight multiplies
    every head of its sample, a `[B, heads]` weight applies as it is, and any
    other shape raises `ValueError` (a plain function loss would let Keras
    line a `[B]` weight up with the heads axis).

    Args:
        reduction: As for every `keras.losses.Loss`.
        name: Optional name.
        dtype: Computation dtype.

    Call arguments:
        y_true: Dense 0/1 targets `[B, heads, L, L]`.
        y_pred: GlobalPointer logits `[B, heads, L, L]`.
        sample_weight: Optional `[B]`, `[B, 1]` or `[B, heads]` weights.

    Example:

    >>> import numpy as np
    >>> y = np.zeros((2, 1, 3, 3), "float32"); y[0, 0, 0, 1] = 1
    >>> round(float(global_pointer_crossentropy(y, np.zeros_like(y))), 4)
    2.5965
    >>> w = np.array([1.0, 0.0])  # weighted sum / (batch * heads), as in Keras
    >>> round(float(global_pointer_crossentropy(y, np.zeros_like(y), w)), 4)
    1.4452
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="global_pointer_crossentropy",
        dtype=None,
    ):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        _check_grid(y_pred)
        if sample_weight is not None:
            sample_weight = align_sample_weight(sample_weight, tuple(y_pred.shape)[:2])
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        _check_grid(y_pred)
        return _losses.multilabel_categorical_crossentropy(
            y_true, y_pred, axis=(-2, -1)
        )


global_pointer_crossentropy = GlobalPointerCrossentropy()

_SPARSE_GP_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", None, "none")


@_register
class SparseGlobalPointerCrossentropy(keras.losses.Loss):
    """The bert4keras relation-extraction (GPLinker) sparse GlobalPointer loss.

    `sparse_global_pointer_crossentropy` is an instance of this class. Each
    gold span is a `(start, end)` pair with flat index `start * L + end`;
    pairs are padded with `(0, 0)`, which `mask_zero=True` drops (so the
    span (0, 0), usually `[CLS]`, never counts, as a positive or a negative,
    as in bert4keras). The loss is the sparse ZLPR of each head's grid,
    summed over heads: a `[B]` per-sample loss, averaged over the batch by
    default. Without repeated pairs the value matches bert4keras.

    `sample_weight` weights samples: a `[B]` (or `[B, 1]`) weight multiplies
    the sample's loss, a `[B, heads]` weight each head's loss before the sum
    over heads; any other shape raises `ValueError`.

    Args:
        reduction: `"sum_over_batch_size"` (or `"mean"`: the mean over the
            batch), `"sum"`, or `None` (the `[B]` per-sample loss).
        name: Optional name.
        dtype: Computation dtype.

    Call arguments:
        y_true: `[B, heads, K, 2]` `(start, end)` pairs, integers in
            `[0, L)`, padded with `(0, 0)`.
        y_pred: GlobalPointer logits `[B, heads, L, L]`.
        sample_weight: Optional `[B]`, `[B, 1]` or `[B, heads]` weights.

    Example:

    >>> import numpy as np
    >>> y_true = np.array([[[[0, 1], [0, 0]]]])  # one span (0, 1), one pad
    >>> y_pred = np.zeros((1, 1, 3, 3))
    >>> round(float(sparse_global_pointer_crossentropy(y_true, y_pred)), 4)
    2.7726
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="sparse_global_pointer_crossentropy",
        dtype=None,
    ):
        if reduction not in _SPARSE_GP_REDUCTIONS:
            raise ValueError(
                f"`reduction` must be one of {_SPARSE_GP_REDUCTIONS}. "
                f"Received: reduction={reduction!r}"
            )
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def _per_head(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        _check_grid(y_pred)
        _check_indices(y_true, _static_dim(y_pred, -1), "span positions")
        y_true = ops.convert_to_tensor(y_true)
        shape, grid = tuple(y_true.shape), tuple(y_pred.shape)
        if (
            len(shape) != 4
            or shape[-1] != 2
            or any(
                a is not None and b is not None and a != b
                for a, b in zip(shape[:2], grid[:2], strict=True)
            )
        ):
            raise ValueError(
                "`y_true` must hold (start, end) pairs of shape [B, heads, K, 2] "
                "with the batch and heads of `y_pred`. Received: "
                f"y_true.shape={shape}, y_pred.shape={grid}"
            )
        length = ops.shape(y_pred)[-1]
        pairs = ops.cast(y_true, "int32")
        flat = pairs[..., 0] * length + pairs[..., 1]
        return _losses.sparse_multilabel_categorical_crossentropy(
            flat, y_pred, mask_zero=True, axis=(-2, -1)
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        per_head = self._per_head(y_true, y_pred)
        if sample_weight is not None:
            weight = align_sample_weight(sample_weight, tuple(per_head.shape))
            per_head = per_head * ops.cast(weight, per_head.dtype)
        per_sample = ops.sum(per_head, axis=1)
        if self.reduction in (None, "none"):
            return per_sample
        if self.reduction == "sum":
            return ops.sum(per_sample)
        return ops.mean(per_sample)

    def call(self, y_true, y_pred):
        return ops.sum(self._per_head(y_true, y_pred), axis=1)


sparse_global_pointer_crossentropy = SparseGlobalPointerCrossentropy()


@_register
def global_pointer_f1_score(y_true, y_pred):
    """bert4keras `global_pointer_f1_score`: `2 * TP / (predicted + gold)`.

    Counted over the whole batch with prediction `y_pred > 0`; masked logits
    are never positive. Returns 0, not NaN, when the batch has neither gold
    nor predicted spans. This is a per-batch number: for corpus F1 use
    `keras_rdkl.metrics.SpanF1`.

    Args:
        y_true: Dense 0/1 targets, same shape as `y_pred`.
        y_pred: Logits.

    Returns:
        Scalar F1 of the batch.

    Example:

    >>> float(global_pointer_f1_score([[0.0, 1.0]], [[-1.0, 2.0]]))
    1.0
    """
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    checks.check_same_shape(y_true, y_pred)
    pred = ops.cast(ops.greater(y_pred, 0.0), "float32")
    tp = ops.sum(y_true * pred)
    denom = ops.sum(y_true + pred)
    return ops.where(
        ops.greater(denom, 0.0),
        2.0 * tp / ops.where(ops.greater(denom, 0.0), denom, 1.0),
        0.0,
    )


def _b4k_layer_doc(native):
    return (
        f"bert4keras-spelled `{native.__name__}`: `RoPE=` for keras_rdkl's `rope=`.\n\n"
        f"    Same weights and logits as `keras_rdkl.layers.{native.__name__}`;\n"
        "    masked spans hold a finite `keras_rdkl.mask_value(dtype)` instead of\n"
        "    bert4keras' `-inf`.\n\n"
        "    Args:\n"
        "        heads: int, number of entity types.\n"
        "        head_size: int, size of q and k per type.\n"
        "        RoPE: bool (default True), rotary position embeddings, in\n"
        "            bert4keras' spelling. The native `rope=` works too; both with\n"
        "            different values raise `ValueError`.\n"
        "        use_bias: bool.\n"
        "        tril_mask: bool, mask spans with start > end.\n"
        "        kernel_initializer: projection kernel initializer.\n"
        "        **kwargs: base layer keyword arguments.\n\n"
        "    Example:\n\n"
        f"    >>> layer = {native.__name__}(heads=2, head_size=8, RoPE=False)\n"
        "    >>> layer.rope, layer.get_config()['RoPE']\n"
        "    (False, False)\n"
    )


class _RoPESpelling:
    """bert4keras' `RoPE=` spelling; the native `rope=` works too.

    Every other keyword goes to the native layer, and from there to
    `keras.layers.Layer`, which raises `ValueError` naming any keyword it
    does not know (such as Keras 2's `weights=`): none is silently dropped.
    """

    def __init__(
        self,
        heads,
        head_size,
        RoPE=None,
        use_bias=True,
        tril_mask=True,
        kernel_initializer="lecun_normal",
        **kwargs,
    ):
        rope = kwargs.pop("rope", None)
        if RoPE is not None:
            RoPE = checks.check_bool(RoPE, "RoPE")
        if rope is not None:
            rope = checks.check_bool(rope, "rope")
        if RoPE is not None and rope is not None and RoPE != rope:
            raise ValueError(
                "`RoPE` (the bert4keras spelling) and `rope` name the same "
                f"argument; pass one. Received: RoPE={RoPE}, rope={rope}"
            )
        rope = RoPE if RoPE is not None else (True if rope is None else rope)
        super().__init__(
            heads,
            head_size,
            rope=rope,
            use_bias=use_bias,
            tril_mask=tril_mask,
            kernel_initializer=kernel_initializer,
            **kwargs,
        )
        self.RoPE = self.rope

    def get_config(self):
        config = super().get_config()
        config["RoPE"] = config.pop("rope")
        return config


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class GlobalPointer(_RoPESpelling, _layers.GlobalPointer):
    __doc__ = _b4k_layer_doc(_layers.GlobalPointer)


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class EfficientGlobalPointer(_RoPESpelling, _layers.EfficientGlobalPointer):
    __doc__ = _b4k_layer_doc(_layers.EfficientGlobalPointer)


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class SinusoidalPositionEmbedding(_layers.SinusoidalPositionEmbedding):
    """bert4keras `SinusoidalPositionEmbedding(output_dim, merge_mode, custom_position_ids)`.

    The argument spellings already match bert4keras; this subclass only
    gives it a home in the compat namespace. See
    `keras_rdkl.layers.SinusoidalPositionEmbedding`.

    Example:

    >>> SinusoidalPositionEmbedding(output_dim=8, merge_mode="zero").output_dim
    8
    """


@keras.saving.register_keras_serializable(package="keras_rdkl.compat")
class ConditionalRandomField(_layers.ConditionalRandomField):
    """bert4keras `ConditionalRandomField(lr_multiplier=1)` with its loss and metric methods.

    `keras_rdkl.layers.ConditionalRandomField` (same weight `trans`, same
    `lr_multiplier`, `trans` property = `lr_multiplier * W`) plus the
    methods bert4keras scripts compile with:

    ```python
    model.compile(optimizer, loss=crf.sparse_loss, metrics=[crf.sparse_accuracy])
    ```

    Padded steps hold a finite `mask_value` instead of bert4keras' `-inf`;
    the losses and accuracies find them there, as bert4keras does. Unlike
    bert4keras, a sequence with no unmasked step has loss 0 (bert4keras:
    `log(num_tags)`), and masked steps inside a sequence are skipped (the
    path joins the unmasked steps on either side) where bert4keras' loss is
    only right for right-padded masks.

    Example:

    >>> import numpy as np
    >>> crf = ConditionalRandomField(lr_multiplier=10)
    >>> e = crf(np.zeros((1, 3, 2), "float32"), mask=np.array([[1, 1, 0]]))
    >>> crf.set_weights([np.zeros((2, 2), "float32")])
    >>> round(float(crf.sparse_loss(np.array([[0, 1, 0]]), e)[0]), 4)  # log 4
    1.3863
    """

    def __init__(self, lr_multiplier=1, **kwargs):
        super().__init__(lr_multiplier=lr_multiplier, **kwargs)

    def _tags(self, y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true)
        shape = ops.shape(ops.convert_to_tensor(y_pred))[:-1]
        return ops.cast(ops.reshape(y_true, shape), "int32")

    def sparse_loss(self, y_true, y_pred):
        """Per-sequence NLL `[batch]` for integer tags `[batch, length]` (or `[..., 1]`)."""
        return self.negative_log_likelihood(self._tags(y_true, y_pred), y_pred)

    def dense_loss(self, y_true, y_pred):
        """Per-sequence NLL `[batch]` for one-hot tags `[batch, length, num_tags]`."""
        return self.negative_log_likelihood(y_true, y_pred)

    def sparse_accuracy(self, y_true, y_pred):
        """Per-batch token accuracy of the argmax of the emissions, padding excluded."""
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        valid = ops.cast(
            ops.logical_not(ops.all(ops.less_equal(y_pred, -1e6), axis=-1)), "float32"
        )
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        hits = ops.cast(ops.equal(self._tags(y_true, y_pred), pred), "float32")
        return ops.sum(hits * valid) / ops.maximum(ops.sum(valid), 1.0)

    def dense_accuracy(self, y_true, y_pred):
        """`sparse_accuracy` for one-hot tags."""
        return self.sparse_accuracy(ops.argmax(y_true, axis=-1), y_pred)


class ViterbiDecoder:
    """bert4keras `snippets.ViterbiDecoder(trans, starts=None, ends=None)`.

    `decode(nodes)` takes the emissions `[length, num_tags]` of one
    unpadded sequence (NumPy) and returns the best path under `self.trans`
    (read at every call, so scripts that set `decoder.trans =
    keras.ops.convert_to_numpy(crf.trans)` after training work), with tags
    outside `starts` forbidden first and outside `ends` last. Same paths as
    bert4keras 0.11.5; unlike it, `nodes` is not changed in place. For
    batches inside a graph use `keras_rdkl.viterbi.viterbi_decode`.

    Example:

    >>> import numpy as np
    >>> decoder = ViterbiDecoder(np.zeros((2, 2)), starts=[0])
    >>> decoder.decode(np.array([[0.0, 1.0], [0.0, 1.0]])).tolist()
    [0, 1]
    """

    def __init__(self, trans, starts=None, ends=None):
        self.trans = trans
        self.num_labels = len(trans)
        self.starts = None if starts is None else list(starts)
        self.ends = None if ends is None else list(ends)
        self.non_starts = (
            []
            if starts is None
            else [i for i in range(self.num_labels) if i not in self.starts]
        )
        self.non_ends = (
            []
            if ends is None
            else [i for i in range(self.num_labels) if i not in self.ends]
        )

    def decode(self, nodes):
        """Best path `[length]` of one sequence's emissions `[length, num_tags]`."""
        return viterbi_decode_numpy(
            nodes, keras.ops.convert_to_numpy(self.trans), self.starts, self.ends
        )


# RDropModel(kl="auto") pairs these losses (scores over a flattened class
# grid) with the sigmoid divergence.
for _loss in (
    multilabel_categorical_crossentropy,
    sparse_multilabel_categorical_crossentropy,
    global_pointer_crossentropy,
    sparse_global_pointer_crossentropy,
    GlobalPointerCrossentropy,
    SparseGlobalPointerCrossentropy,
):
    _register_loss_family(_loss, "sigmoid", from_logits=True, axis=None)
del _loss
