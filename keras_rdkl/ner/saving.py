"""A trained tagger on disk: `save_tagger` writes the folder that `load_tagger` reads.

The layout of the folder (file names changeable by argument, the same in
both functions):

- `model.keras`: the tagger, a Keras `.keras` file (`model.save`); every
  layer the package builds it from is registered, so it reloads without
  `custom_objects`;
- `vocab.json`: its `Vocabulary` as JSON (`Vocabulary.save`): token, character,
  bigram and shape ids, the gazetteer lists, the type names (`labels`) and the
  tokenization `level` that `predict_entities` needs for raw text;
- or, for a tagger on a pretrained backbone (`build_pretrained_tagger`; the
  backbone's weights are inside `model.keras`), `tokenizer/`: its
  `SubwordTokenizer` (`SubwordTokenizer.save`: `tokenizer.json` or
  `vocabulary.spm`, and `subword_tokenizer.json` with the special tokens,
  `labels` and `level` that `predict_subword_entities` needs).

`load_tagger` returns `(model, vocab)` or `(model, tokenizer)`, whichever the
folder holds. Other files in the folder (a training run's `metrics.json`, say)
are left alone.
"""

import pathlib

import keras

from keras_rdkl.ner.data import Vocabulary
from keras_rdkl.ner.pretrained import _import_keras_hub
from keras_rdkl.ner.subwords import SETTINGS_FILE
from keras_rdkl.ner.subwords import SubwordTokenizer

__all__ = ["load_tagger", "save_tagger"]

MODEL_NAME = "model.keras"
VOCAB_NAME = "vocab.json"
TOKENIZER_NAME = "tokenizer"


def save_tagger(
    directory,
    model,
    vocab,
    model_name=MODEL_NAME,
    vocab_name=VOCAB_NAME,
    tokenizer_name=TOKENIZER_NAME,
):
    """Writes a tagger and its vocabulary (or sub-word tokenizer) to `directory` for `load_tagger`.

    Args:
        directory: the folder (made with its parents if missing); files of
            the same names in it are replaced, and the vocabulary or
            tokenizer settings of a tagger of the other kind removed.
        model: the span tagger (`build_span_tagger`, `build_bert_tagger`, or
            the inner tagger of an `RDropModel`).
        vocab: its `Vocabulary` (give it `labels`, the type names, for
            `predict_entities`), or for a tagger on a pretrained backbone its
            `SubwordTokenizer` (with `labels`, for `predict_subword_entities`).
        model_name, vocab_name: file names inside `directory`.
        tokenizer_name: the folder inside `directory` for a `SubwordTokenizer`.

    Returns:
        The `(model path, vocabulary path)` written: `vocab.json`, or the
        tokenizer's folder.

    Example:

    >>> import tempfile
    >>> vocab = Vocabulary.build([list("ab")], labels=["LOC"], level="char")
    >>> from keras_rdkl.ner.builder import build_span_tagger
    >>> model = build_span_tagger(len(vocab), 1, hidden=4, head_size=4)
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_tagger(folder, model, vocab)
    >>> again, vocab_again = load_tagger(folder)
    >>> vocab_again.labels, vocab_again.level
    (['LOC'], 'char')
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: model={type(model).__name__}"
        )
    if not isinstance(vocab, (Vocabulary, SubwordTokenizer)):
        raise ValueError(
            "`vocab` must be a keras_rdkl.ner.Vocabulary or a "
            f"keras_rdkl.ner.SubwordTokenizer. Received: vocab={type(vocab).__name__}"
        )
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / model_name
    if isinstance(vocab, SubwordTokenizer):
        vocab_path = directory / tokenizer_name
        stale = directory / vocab_name
    else:
        vocab_path = directory / vocab_name
        stale = directory / tokenizer_name / SETTINGS_FILE
    model.save(model_path)
    # The model was replaced: what a tagger of the other kind left here would
    # no longer belong to it (and `load_tagger` reads the tokenizer first).
    if stale.is_file():
        stale.unlink()
    vocab.save(vocab_path)
    return model_path, vocab_path


def load_tagger(
    directory,
    model_name=MODEL_NAME,
    vocab_name=VOCAB_NAME,
    tokenizer_name=TOKENIZER_NAME,
):
    """Loads a tagger written by `save_tagger`: `(model, vocab)` or `(model, tokenizer)`.

    The second item is a `Vocabulary` when the folder holds `vocab.json`, a
    `SubwordTokenizer` when it holds `tokenizer/` (a tagger on a pretrained
    backbone: predict with `predict_subword_entities`). The model is loaded
    uncompiled (for prediction; compile it again to train on); a backbone
    tagger needs keras-hub installed, as its layers are keras-hub's.

    Args:
        directory: the folder `save_tagger` wrote (the NER example's
            `--output-dir`).
        model_name, vocab_name, tokenizer_name: names inside it.
    """
    directory = pathlib.Path(directory)
    tokenizer_dir = directory / tokenizer_name
    subword = (tokenizer_dir / SETTINGS_FILE).is_file()
    needed = [model_name] if subword else [model_name, vocab_name]
    for name in needed:
        if not (directory / name).is_file():
            raise ValueError(
                f"{directory / name} does not exist (write it with "
                "`keras_rdkl.ner.save_tagger`, or train with the NER example first)."
            )
    if subword:
        # The backbone's layers are keras-hub's: they register on import.
        _import_keras_hub()
    model = keras.saving.load_model(directory / model_name, compile=False)
    if subword:
        return model, SubwordTokenizer.load(tokenizer_dir)
    return model, Vocabulary.load(directory / vocab_name)
