"""WNUT-17 Emerging and Rare Entities: English social-media NER, CoNLL BIO."""

from keras_rdkl.datasets._paths import check_split
from keras_rdkl.datasets._paths import resolve_file
from keras_rdkl.datasets.conll import read_conll

WNUT17_LABELS = [
    "corporation",
    "creative-work",
    "group",
    "location",
    "person",
    "product",
]
_FOLDER = "wnut17"
_BASE_URL = (
    "https://raw.githubusercontent.com/leondz/emerging_entities_17/"
    "e52a2d2a71ac1a051ca2d532eef28653c5c02603/"
)
_FILES = {
    "train": "wnut17train.conll",
    "dev": "emerging.dev.conll",
    "test": "emerging.test.annotated",
}
_SHA256 = {
    "wnut17train.conll": "731820e13f71af324c6b55a1575ec2ce59fbaa2a0806f8f0400b98d56cd6a7a5",
    "emerging.dev.conll": "e053b752b8155113ca66e7db08af5f2f5f43ab993694e4774f1ec5bad42312d8",
    "emerging.test.annotated": "2aa79b764e56ec9264a1b30fdd9b70195bd00ff400b62edd8f399d5f13c178f0",
}


def load_wnut17(split="train", path=None):
    """Loads a split of WNUT-17 (English, word level, 6 entity types, BIO).

    Files are searched as in `load_cluener` (folder `wnut17`) and otherwise
    downloaded from the official task repository.

    Args:
        split: `"train"` (3,394 sentences), `"dev"` (1,009) or `"test"`
            (1,287).
        path: Optional file or folder to read instead of searching.

    Returns:
        `(examples, labels)` as in `read_conll`, with `labels` the 6 types.

    References:
        - Derczynski et al., "Results of the WNUT2017 Shared Task on Novel and
          Emerging Entity Recognition", W-NUT 2017.
    """
    check_split(split, tuple(_FILES))
    fname = _FILES[split]
    local = resolve_file(
        _FOLDER, fname, path=path, origin=_BASE_URL + fname, file_hash=_SHA256[fname]
    )
    examples, _ = read_conll(local, scheme="bio")
    return examples, list(WNUT17_LABELS)
