"""Sentence classification on BERT's [CLS] vector, bert4keras style.

The data are "text<TAB>label" lines with integer labels. The classifier is
a softmax on the [CLS] token of the last layer, trained with a piecewise
linear learning rate; the weights with the best validation accuracy are kept
and reloaded for the final score.
"""

from bert4keras.backend import keras, set_gelu  # noqa: I001
from bert4keras.tokenizers import Tokenizer
from bert4keras.models import build_transformer_model
from bert4keras.optimizers import Adam, extend_with_piecewise_linear_lr
from bert4keras.snippets import sequence_padding, DataGenerator
from bert4keras.snippets import open
from keras.layers import Lambda, Dense

set_gelu("tanh")

num_classes = 2
maxlen = 128
epochs = 5
batch_size = 32
learning_rate = 1e-4
config_path = "chinese_L-12_H-768_A-12/bert_config.json"
checkpoint_path = "chinese_L-12_H-768_A-12/bert_model.ckpt"
dict_path = "chinese_L-12_H-768_A-12/vocab.txt"
train_path = "classes/train.tsv"
valid_path = "classes/dev.tsv"


def read_labelled(filename):
    """(text, label) pairs."""
    pairs = []
    with open(filename, encoding="utf-8") as f:
        for line in f:
            text, label = line.rstrip("\n").split("\t")
            pairs.append((text, int(label)))
    return pairs


train_data = read_labelled(train_path)
valid_data = read_labelled(valid_path)

tokenizer = Tokenizer(dict_path, do_lower_case=True)


class data_generator(DataGenerator):
    """Token ids, segment ids and the label of each text."""

    def __iter__(self, random=False):
        batch_token_ids, batch_segment_ids, batch_labels = [], [], []
        for is_end, (text, label) in self.sample(random):
            token_ids, segment_ids = tokenizer.encode(text, maxlen=maxlen)
            batch_token_ids.append(token_ids)
            batch_segment_ids.append(segment_ids)
            batch_labels.append([label])
            if len(batch_token_ids) == self.batch_size or is_end:
                batch_token_ids = sequence_padding(batch_token_ids)
                batch_segment_ids = sequence_padding(batch_segment_ids)
                batch_labels = sequence_padding(batch_labels)
                yield [batch_token_ids, batch_segment_ids], batch_labels
                batch_token_ids, batch_segment_ids, batch_labels = [], [], []


bert = build_transformer_model(
    config_path=config_path,
    checkpoint_path=checkpoint_path,
    return_keras_model=False,
)
cls_vector = Lambda(lambda x: x[:, 0], name="CLS-token")(bert.model.output)
probabilities = Dense(
    units=num_classes,
    activation="softmax",
    kernel_initializer=bert.initializer,
)(cls_vector)

model = keras.models.Model(bert.model.input, probabilities)
model.summary()

AdamLR = extend_with_piecewise_linear_lr(Adam, name="AdamLR")
model.compile(
    loss="sparse_categorical_crossentropy",
    optimizer=AdamLR(learning_rate=learning_rate, lr_schedule={10: 1, 100: 0.1}),
    metrics=["accuracy"],
)

train_generator = data_generator(train_data, batch_size)
valid_generator = data_generator(valid_data, batch_size)


def accuracy(generator):
    """Share of texts whose most probable class is their label."""
    total, right = 0.0, 0.0
    for x_true, y_true in generator:
        y_pred = model.predict(x_true).argmax(axis=1)
        total += len(y_true)
        right += (y_pred == y_true[:, 0]).sum()
    return right / total


class Evaluator(keras.callbacks.Callback):
    """Validation accuracy after each epoch; saves the best weights."""

    def __init__(self):
        self.best_accuracy = 0.0
        self.scores = []

    def on_epoch_end(self, epoch, logs=None):
        valid_accuracy = accuracy(valid_generator)
        self.scores.append(valid_accuracy)
        if valid_accuracy >= self.best_accuracy:
            self.best_accuracy = valid_accuracy
            model.save_weights("best_model.weights.h5")
        print(f"valid accuracy {valid_accuracy:.5f}  best {self.best_accuracy:.5f}")


if __name__ == "__main__":
    evaluator = Evaluator()
    history = model.fit(
        train_generator.forfit(),
        steps_per_epoch=len(train_generator),
        epochs=epochs,
        callbacks=[evaluator],
    )
    model.load_weights("best_model.weights.h5")
    final_accuracy = accuracy(valid_generator)
    print(f"best weights reloaded: valid accuracy {final_accuracy:.5f}")
else:
    model.load_weights("best_model.weights.h5")
