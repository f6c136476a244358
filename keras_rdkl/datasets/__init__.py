"""Datasets: NER corpora as `(tokens, spans)`, GoEmotions, CoNLL files, tag schemes.

Loaders (`load_*`) find their files through an explicit `path`, then
`$KERAS_RDKL_DATA/<folder>/`, then the Keras cache
(`~/.keras/datasets/keras_rdkl/<folder>/`), and otherwise download them there
from a public source with a sha256 check. Readers (`read_*`) parse one file
and name the file and line in every error.
"""

from keras_rdkl.datasets import tags
from keras_rdkl.datasets.cluener import CLUENER_LABELS
from keras_rdkl.datasets.cluener import load_cluener
from keras_rdkl.datasets.cluener import read_cluener_json
from keras_rdkl.datasets.conll import read_conll
from keras_rdkl.datasets.germeval import GERMEVAL_LABELS
from keras_rdkl.datasets.germeval import load_germeval
from keras_rdkl.datasets.germeval import read_germeval_tsv
from keras_rdkl.datasets.goemotions import GOEMOTIONS_LABELS
from keras_rdkl.datasets.goemotions import load_goemotions
from keras_rdkl.datasets.goemotions import read_goemotions_tsv
from keras_rdkl.datasets.tags import SCHEMES
from keras_rdkl.datasets.tags import check_scheme
from keras_rdkl.datasets.tags import repair_tags
from keras_rdkl.datasets.tags import spans_to_tags
from keras_rdkl.datasets.tags import tag_vocabulary
from keras_rdkl.datasets.tags import tags_to_spans
from keras_rdkl.datasets.wnut17 import WNUT17_LABELS
from keras_rdkl.datasets.wnut17 import load_wnut17

__all__ = [
    "CLUENER_LABELS",
    "GERMEVAL_LABELS",
    "GOEMOTIONS_LABELS",
    "SCHEMES",
    "WNUT17_LABELS",
    "check_scheme",
    "load_cluener",
    "load_germeval",
    "load_goemotions",
    "load_wnut17",
    "read_cluener_json",
    "read_conll",
    "read_germeval_tsv",
    "read_goemotions_tsv",
    "repair_tags",
    "spans_to_tags",
    "tag_vocabulary",
    "tags",
    "tags_to_spans",
]
