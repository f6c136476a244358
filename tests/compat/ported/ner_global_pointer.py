"""Chinese NER with BERT and GlobalPointer on CLUENER json, bert4keras style.

Each line of the data is CLUENER's json: {"text": ..., "label": {type:
{entity: [[start, end], ...]}}}. The model scores every (start, end) token
pair for every entity type; pairs scoring above 0 are entities. The loss and
the F1 metric are written with `K`, as bert4keras users write them.
"""

import json  # noqa: I001
import numpy as np
from bert4keras.backend import keras, K
from bert4keras.backend import multilabel_categorical_crossentropy
from bert4keras.layers import GlobalPointer
from bert4keras.models import build_transformer_model
from bert4keras.tokenizers import Tokenizer
from bert4keras.optimizers import Adam
from bert4keras.snippets import sequence_padding, DataGenerator
from bert4keras.snippets import open, to_array
from keras.models import Model

maxlen = 128
epochs = 5
batch_size = 16
head_size = 64
learning_rate = 2e-5
config_path = "chinese_L-12_H-768_A-12/bert_config.json"
checkpoint_path = "chinese_L-12_H-768_A-12/bert_model.ckpt"
dict_path = "chinese_L-12_H-768_A-12/vocab.txt"
train_path = "cluener/train.json"
valid_path = "cluener/dev.json"


def read_cluener(filename):
    """[text, (start, end, type), ...] per line; `end` is inclusive."""
    records = []
    with open(filename, encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            record = [item["text"]]
            for kind, entities in item.get("label", {}).items():
                for positions in entities.values():
                    record.extend((start, end, kind) for start, end in positions)
            records.append(record)
    return records


train_data = read_cluener(train_path)
valid_data = read_cluener(valid_path)
entity_types = sorted({span[2] for d in train_data + valid_data for span in d[1:]})

tokenizer = Tokenizer(dict_path, do_lower_case=True)


class data_generator(DataGenerator):
    """Token ids, segment ids and a [types, length, length] 0/1 grid."""

    def __iter__(self, random=False):
        batch_token_ids, batch_segment_ids, batch_labels = [], [], []
        for is_end, d in self.sample(random):
            tokens = tokenizer.tokenize(d[0], maxlen=maxlen)
            mapping = tokenizer.rematch(d[0], tokens)
            starts = {m[0]: i for i, m in enumerate(mapping) if m}
            ends = {m[-1]: i for i, m in enumerate(mapping) if m}
            token_ids = tokenizer.tokens_to_ids(tokens)
            n = len(token_ids)
            grid = np.zeros((len(entity_types), n, n))
            for start, end, kind in d[1:]:
                if start in starts and end in ends:
                    grid[entity_types.index(kind), starts[start], ends[end]] = 1
            batch_token_ids.append(token_ids)
            batch_segment_ids.append([0] * n)
            batch_labels.append(grid)
            if len(batch_token_ids) == self.batch_size or is_end:
                batch_token_ids = sequence_padding(batch_token_ids)
                batch_segment_ids = sequence_padding(batch_segment_ids)
                batch_labels = sequence_padding(batch_labels, seq_dims=3)
                yield [batch_token_ids, batch_segment_ids], batch_labels
                batch_token_ids, batch_segment_ids, batch_labels = [], [], []


def global_pointer_crossentropy(y_true, y_pred):
    """Multilabel cross-entropy over all spans of one (sample, type) row."""
    rows = K.prod(K.shape(y_pred)[:2])
    y_true = K.reshape(y_true, (rows, -1))
    y_pred = K.reshape(y_pred, (rows, -1))
    return K.mean(multilabel_categorical_crossentropy(y_true, y_pred))


def global_pointer_f1_score(y_true, y_pred):
    """Batch F1 of the spans scored above 0."""
    y_pred = K.cast(K.greater(y_pred, 0), K.floatx())
    return 2 * K.sum(y_true * y_pred) / K.sum(y_true + y_pred)


bert = build_transformer_model(config_path, checkpoint_path)
output = GlobalPointer(len(entity_types), head_size)(bert.output)

model = Model(bert.input, output)
model.summary()
model.compile(
    loss=global_pointer_crossentropy,
    optimizer=Adam(learning_rate),
    metrics=[global_pointer_f1_score],
)


def extract(text, threshold=0):
    """(start, end, type) of the spans the model scores above `threshold`."""
    tokens = tokenizer.tokenize(text, maxlen=maxlen)
    mapping = tokenizer.rematch(text, tokens)
    token_ids = tokenizer.tokens_to_ids(tokens)
    token_ids, segment_ids = to_array([token_ids], [[0] * len(token_ids)])
    scores = model.predict([token_ids, segment_ids])[0]
    scores[:, [0, -1]] = -np.inf  # [CLS] and [SEP] start no entity
    scores[:, :, [0, -1]] = -np.inf  # nor end one
    return [
        (mapping[start][0], mapping[end][-1], entity_types[kind])
        for kind, start, end in zip(*np.where(scores > threshold), strict=True)
    ]


def span_scores(data):
    """F1, precision and recall of exactly matching (start, end, type) spans."""
    right, predicted, gold = 1e-10, 1e-10, 1e-10
    for d in data:
        found = set(extract(d[0]))
        truth = {tuple(span) for span in d[1:]}
        right += len(found & truth)
        predicted += len(found)
        gold += len(truth)
    return 2 * right / (predicted + gold), right / predicted, right / gold


class Evaluator(keras.callbacks.Callback):
    """Scores the validation set after each epoch; saves the best weights."""

    def __init__(self):
        self.best_f1 = 0.0
        self.scores = []

    def on_epoch_end(self, epoch, logs=None):
        f1, precision, recall = span_scores(valid_data)
        self.scores.append((f1, precision, recall))
        if f1 >= self.best_f1:
            self.best_f1 = f1
            model.save_weights("best_model.weights.h5")
        print(
            f"valid f1 {f1:.5f}  precision {precision:.5f}  "
            f"recall {recall:.5f}  best f1 {self.best_f1:.5f}"
        )


if __name__ == "__main__":
    evaluator = Evaluator()
    train_generator = data_generator(train_data, batch_size)
    history = model.fit(
        train_generator.forfit(),
        steps_per_epoch=len(train_generator),
        epochs=epochs,
        callbacks=[evaluator],
    )
    model.load_weights("best_model.weights.h5")
    final_f1, _, _ = span_scores(valid_data)
    print(f"best weights reloaded: valid f1 {final_f1:.5f}")
else:
    model.load_weights("best_model.weights.h5")
