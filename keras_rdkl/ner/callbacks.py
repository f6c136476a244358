"""Training callbacks for span taggers: corpus F1 on dev each epoch, early stopping on it."""

import time

import keras

from keras_rdkl.ner.predict import predict_spans
from keras_rdkl.ner.scoring import entity_scores

__all__ = ["EntityF1Callback"]


class EntityF1Callback(keras.callbacks.Callback):
    """Scores corpus-level entity F1 on dev after each epoch; stops early and restores the best.

    Adds `val_entity_f1`, `val_entity_precision`, `val_entity_recall` to the
    epoch logs (so `History`, progress bars and other callbacks see them).
    With `patience`, training stops after that many epochs without a better
    F1; with `restore_best_weights`, the tagger's weights are set back to its
    best epoch when training ends (also when another callback stopped it).
    With `time_budget` (seconds since training began), training stops at the
    end of the first batch past the budget.

    Args:
        tagger: the span tagger to score (the wrapped model when training
            an `RDropModel`).
        examples: dev `(tokens, spans)` with integer span types.
        vocab: the `Vocabulary`.
        num_types: number of entity types.
        max_length: windows longer sentences are split into.
        batch_size: prediction batch size.
        patience: epochs without improvement before stopping (None: never).
        restore_best_weights: restore the best epoch's weights at the end.
        time_budget: seconds, or None / 0 for no limit.
        verbose: print one line per epoch.
    """

    def __init__(
        self,
        tagger,
        examples,
        vocab,
        num_types,
        max_length=None,
        batch_size=64,
        patience=None,
        restore_best_weights=True,
        time_budget=None,
        max_chars=16,
        verbose=1,
    ):
        super().__init__()
        self.tagger = tagger
        self.examples = examples
        self.vocab = vocab
        self.num_types = num_types
        self.max_length = max_length
        self.batch_size = batch_size
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.time_budget = time_budget
        self.max_chars = max_chars
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.best_f1 = -1.0
        self.best_epoch = None
        self.best_weights = None
        self.best_scores = None
        self.wait = 0
        self.stopped_by_budget = False
        self.epoch_seconds = []
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.time_budget and time.perf_counter() - self.start > self.time_budget:
            self.model.stop_training = True
            self.stopped_by_budget = True

    def score(self):
        pred = predict_spans(
            self.tagger,
            self.examples,
            self.vocab,
            self.num_types,
            self.max_length,
            self.batch_size,
            max_chars=self.max_chars,
        )
        return entity_scores([s for _, s in self.examples], pred)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self.epoch_start)
        scores = self.score()
        self.history.append(scores)
        if logs is not None:
            logs["val_entity_f1"] = scores["f1"]
            logs["val_entity_precision"] = scores["precision"]
            logs["val_entity_recall"] = scores["recall"]
        better = scores["f1"] > self.best_f1
        if better:
            self.best_f1, self.best_epoch, self.best_scores = (
                scores["f1"],
                epoch,
                scores,
            )
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.tagger.get_weights()
        else:
            self.wait += 1
            if self.patience is not None and self.wait >= self.patience:
                self.model.stop_training = True
        if self.verbose:
            print(
                f"\nepoch {epoch + 1}: dev entity P={scores['precision']:.4f} "
                f"R={scores['recall']:.4f} F1={scores['f1']:.4f}"
                f"{' (best)' if better else ''}; "
                f"{time.perf_counter() - self.start:.0f} s since training began",
                flush=True,
            )

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.tagger.set_weights(self.best_weights)
