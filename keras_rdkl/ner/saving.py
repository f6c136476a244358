"""A trained tagger on disk: `save_tagger` writes the folder that `load_tagger` reads.

The layout of the folder (file names changeable by argument, the same in
both functions):

- `model.keras`: the tagger, a Keras `.keras` file (`model.save`); every
  layer the package builds it from is registered, so it reloads without
  `custom_objects`;
- `vocab.json`: its `Vocabulary` as JSON (`Vocabulary.save`): token, character,
  bigram and shape ids, the gazetteer lists, the type names (`labels`) and the
  tokenization `level` that `predict_entities` needs for raw text.

Other files in the folder (a training run's `metrics.json`, say) are left
alone.
"""

import pathlib

import keras

from keras_rdkl.ner.data import Vocabulary

__all__ = ["load_tagger", "save_tagger"]

MODEL_NAME = "model.keras"
VOCAB_NAME = "vocab.json"


def save_tagger(directory, model, vocab, model_name=MODEL_NAME, vocab_name=VOCAB_NAME):
    """Writes a tagger and its vocabulary to `directory` for `load_tagger`.

    Args:
        directory: the folder (made with its parents if missing); files of
            the same names in it are replaced.
        model: the span tagger (`build_span_tagger`, `build_bert_tagger`, or
            the inner tagger of an `RDropModel`).
        vocab: its `Vocabulary`; give it `labels` (the type names) for
            `predict_entities`.
        model_name, vocab_name: file names inside `directory`.

    Returns:
        The `(model path, vocabulary path)` written.

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
    if not isinstance(vocab, Vocabulary):
        raise ValueError(
            "`vocab` must be a keras_rdkl.ner.Vocabulary. "
            f"Received: vocab={type(vocab).__name__}"
        )
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path, vocab_path = directory / model_name, directory / vocab_name
    model.save(model_path)
    vocab.save(vocab_path)
    return model_path, vocab_path


def load_tagger(directory, model_name=MODEL_NAME, vocab_name=VOCAB_NAME):
    """Loads a tagger written by `save_tagger`: `(model, vocab)`.

    The model is loaded uncompiled (for prediction; compile it again to
    train on).

    Args:
        directory: the folder `save_tagger` wrote (the NER example's
            `--output-dir`).
        model_name, vocab_name: file names inside it.
    """
    directory = pathlib.Path(directory)
    for name in (model_name, vocab_name):
        if not (directory / name).is_file():
            raise ValueError(
                f"{directory / name} does not exist (write it with "
                "`keras_rdkl.ner.save_tagger`, or train with the NER example first)."
            )
    model = keras.saving.load_model(directory / model_name, compile=False)
    return model, Vocabulary.load(directory / vocab_name)
