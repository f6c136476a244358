"""NER corpora as `(tokens, spans)` examples: CLUENER2020, GermEval 2014, WNUT-17, CoNLL files."""

from keras_rdkl.datasets._tags import tags_to_spans
from keras_rdkl.datasets.cluener import CLUENER_LABELS
from keras_rdkl.datasets.cluener import load_cluener
from keras_rdkl.datasets.cluener import read_cluener_json
from keras_rdkl.datasets.conll import read_conll
from keras_rdkl.datasets.germeval import GERMEVAL_LABELS
from keras_rdkl.datasets.germeval import load_germeval
from keras_rdkl.datasets.germeval import read_germeval_tsv
from keras_rdkl.datasets.wnut17 import WNUT17_LABELS
from keras_rdkl.datasets.wnut17 import load_wnut17

__all__ = [
    "CLUENER_LABELS",
    "GERMEVAL_LABELS",
    "WNUT17_LABELS",
    "load_cluener",
    "load_germeval",
    "load_wnut17",
    "read_cluener_json",
    "read_conll",
    "read_germeval_tsv",
    "tags_to_spans",
]
