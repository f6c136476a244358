"""Losses: ZLPR (dense and sparse), gamma-cross-entropy, symmetric KL divergences."""

from keras_rdkl.losses.crf import CRFLoss
from keras_rdkl.losses.crf import crf_log_norm
from keras_rdkl.losses.crf import crf_negative_log_likelihood
from keras_rdkl.losses.crf import crf_path_score
from keras_rdkl.losses.divergence import SigmoidKLDivergence
from keras_rdkl.losses.divergence import SoftmaxKLDivergence
from keras_rdkl.losses.divergence import sigmoid_kl_divergence
from keras_rdkl.losses.divergence import softmax_kl_divergence
from keras_rdkl.losses.gamma import GammaCrossentropy
from keras_rdkl.losses.gamma import SparseGammaCrossentropy
from keras_rdkl.losses.gamma import gamma_crossentropy
from keras_rdkl.losses.gamma import gamma_weight
from keras_rdkl.losses.gamma import sparse_gamma_crossentropy
from keras_rdkl.losses.multilabel import MultilabelCategoricalCrossentropy
from keras_rdkl.losses.multilabel import SparseMultilabelCategoricalCrossentropy
from keras_rdkl.losses.multilabel import multilabel_categorical_crossentropy
from keras_rdkl.losses.multilabel import sparse_multilabel_categorical_crossentropy
from keras_rdkl.losses.multilabel import zlpr_probability

__all__ = [
    "CRFLoss",
    "GammaCrossentropy",
    "MultilabelCategoricalCrossentropy",
    "SigmoidKLDivergence",
    "SoftmaxKLDivergence",
    "SparseGammaCrossentropy",
    "SparseMultilabelCategoricalCrossentropy",
    "crf_log_norm",
    "crf_negative_log_likelihood",
    "crf_path_score",
    "gamma_crossentropy",
    "gamma_weight",
    "multilabel_categorical_crossentropy",
    "sigmoid_kl_divergence",
    "softmax_kl_divergence",
    "sparse_gamma_crossentropy",
    "sparse_multilabel_categorical_crossentropy",
    "zlpr_probability",
]
