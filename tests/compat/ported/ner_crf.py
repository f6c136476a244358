"""Chinese NER with BERT and a CRF, the way a bert4keras 0.11 script does it.

The data are "char tag" lines (BIO tags: B-type, I-type, O), one blank line
between sentences. Tags are numbered 0 for O, then 2k + 1 and 2k + 2 for the
B and I of the k-th entity type. After each epoch the CRF's transitions are
read back for Viterbi decoding, the validation set is decoded sentence by
sentence, and the weights with the best span F1 are kept.
"""

import numpy as np  # noqa: I001
from bert4keras.backend import keras, K
from bert4keras.models import build_transformer_model
from bert4keras.tokenizers import Tokenizer
from bert4keras.optimizers import Adam
from bert4keras.snippets import sequence_padding, DataGenerator
from bert4keras.snippets import open, ViterbiDecoder, to_array
from bert4keras.layers import ConditionalRandomField
from keras.layers import Dense
from keras.models import Model

maxlen = 128
epochs = 5
batch_size = 16
bert_layers = 12
learning_rate = 2e-5
crf_lr_multiplier = 100
config_path = "chinese_L-12_H-768_A-12/bert_config.json"
checkpoint_path = "chinese_L-12_H-768_A-12/bert_model.ckpt"
dict_path = "chinese_L-12_H-768_A-12/vocab.txt"
train_path = "cluener_char/train.txt"
valid_path = "cluener_char/dev.txt"


def read_tagged(filename):
    """[text, [start, end, type], ...] per sentence; `end` is inclusive."""
    sentences = []
    with open(filename, encoding="utf-8") as f:
        for block in f.read().split("\n\n"):
            if not block.strip():
                continue
            text, spans = "", []
            for i, line in enumerate(block.strip("\n").split("\n")):
                char, tag = line.split(" ")
                text += char
                if tag.startswith("B-"):
                    spans.append([i, i, tag[2:]])
                elif tag.startswith("I-") and spans:
                    spans[-1][1] = i
            sentences.append([text] + spans)
    return sentences


train_data = read_tagged(train_path)
valid_data = read_tagged(valid_path)
entity_types = sorted({span[2] for d in train_data for span in d[1:]})
num_tags = 2 * len(entity_types) + 1

tokenizer = Tokenizer(dict_path, do_lower_case=True)


def tokens_and_mapping(text, length):
    tokens = tokenizer.tokenize(text, maxlen=length)
    return tokenizer.tokens_to_ids(tokens), tokenizer.rematch(text, tokens)


class data_generator(DataGenerator):
    """Token ids, segment ids and one tag per token."""

    def __iter__(self, random=False):
        batch_token_ids, batch_segment_ids, batch_labels = [], [], []
        for is_end, d in self.sample(random):
            token_ids, mapping = tokens_and_mapping(d[0], maxlen)
            token_of_start = {m[0]: i for i, m in enumerate(mapping) if m}
            token_of_end = {m[-1]: i for i, m in enumerate(mapping) if m}
            tags = np.zeros(len(token_ids))
            for start, end, kind in d[1:]:
                if start in token_of_start and end in token_of_end:
                    first, last = token_of_start[start], token_of_end[end]
                    k = entity_types.index(kind)
                    tags[first] = 2 * k + 1
                    tags[first + 1 : last + 1] = 2 * k + 2
            batch_token_ids.append(token_ids)
            batch_segment_ids.append([0] * len(token_ids))
            batch_labels.append(tags)
            if len(batch_token_ids) == self.batch_size or is_end:
                batch_token_ids = sequence_padding(batch_token_ids)
                batch_segment_ids = sequence_padding(batch_segment_ids)
                batch_labels = sequence_padding(batch_labels)
                yield [batch_token_ids, batch_segment_ids], batch_labels
                batch_token_ids, batch_segment_ids, batch_labels = [], [], []


bert = build_transformer_model(config_path, checkpoint_path)
last_layer = "Transformer-%s-FeedForward-Norm" % (bert_layers - 1)  # noqa: UP031
output = bert.get_layer(last_layer).output
output = Dense(num_tags)(output)
CRF = ConditionalRandomField(lr_multiplier=crf_lr_multiplier)
output = CRF(output)

model = Model(bert.input, output)
model.summary()
model.compile(
    loss=CRF.sparse_loss,
    optimizer=Adam(learning_rate),
    metrics=[CRF.sparse_accuracy],
)


class EntityDecoder(ViterbiDecoder):
    """Best tag path of one sentence, read back as character spans."""

    def extract(self, text):
        token_ids, mapping = tokens_and_mapping(text, maxlen)
        token_ids, segment_ids = to_array([token_ids], [[0] * len(token_ids)])
        scores = model.predict([token_ids, segment_ids])[0]
        entities, current = [], None
        for i, tag in enumerate(self.decode(scores)):
            if tag > 0 and tag % 2 == 1:
                current = [i, i, entity_types[(tag - 1) // 2]]
                entities.append(current)
            elif tag > 0 and current is not None:
                current[1] = i
            else:
                current = None
        return [(mapping[a][0], mapping[b][-1], kind) for a, b, kind in entities]


decoder = EntityDecoder(trans=K.eval(CRF.trans), starts=[0], ends=[0])


def span_scores(data):
    """F1, precision and recall of exactly matching (start, end, type) spans."""
    right, predicted, gold = 1e-10, 1e-10, 1e-10
    for d in data:
        found = set(decoder.extract(d[0]))
        truth = {tuple(span) for span in d[1:]}
        right += len(found & truth)
        predicted += len(found)
        gold += len(truth)
    return 2 * right / (predicted + gold), right / predicted, right / gold


class Evaluator(keras.callbacks.Callback):
    """Decodes the validation set after each epoch; saves the best weights."""

    def __init__(self):
        self.best_f1 = 0.0
        self.scores = []

    def on_epoch_end(self, epoch, logs=None):
        decoder.trans = K.eval(CRF.trans)
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
    decoder.trans = K.eval(CRF.trans)
    final_f1, _, _ = span_scores(valid_data)
    print(f"best weights reloaded: valid f1 {final_f1:.5f}")
else:
    model.load_weights("best_model.weights.h5")
    decoder.trans = K.eval(CRF.trans)
