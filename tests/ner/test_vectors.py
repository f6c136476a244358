"""Pretrained word vectors: the text format, the embedding matrix, the builder's weights."""

import keras
import numpy as np
import pytest

from keras_rdkl import ner

SMALL = dict(hidden=8, head_size=4, dropout=0.0)


def test_load_reads_word2vec_and_glove_files(tmp_path):
    w2v = tmp_path / "w2v.txt"
    w2v.write_text("3 2\nParis 1 2\nberlin -0.5 3e-1\nparis 9 9\n", encoding="utf-8")
    words, vectors = ner.load_word_vectors(w2v)
    assert words == ["Paris", "berlin", "paris"]
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(
        vectors, np.array([[1, 2], [-0.5, 0.3], [9, 9]], "float32")
    )
    # Lower-cased: the first of two equal words keeps its vector.
    words, vectors = ner.load_word_vectors(w2v, lowercase=True)
    assert words == ["paris", "berlin"]
    np.testing.assert_array_equal(vectors[0], [1, 2])
    # GloVe: no header; fastText .vec: trailing space; CRLF; blank lines.
    glove = tmp_path / "glove.txt"
    glove.write_bytes(b"a 1 2 \r\n\r\nb 3 4\r\n")
    words, vectors = ner.load_word_vectors(glove, max_words=1)
    assert words == ["a"] and vectors.shape == (1, 2)


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "a 1 2\nb 1 2 3\n",
            r"bad\.txt:2: 3 values after 'b', but the first vector has 2",
        ),
        ("a 1 2\nb 1 x\n", r"bad\.txt:2: value 'x' of 'b' is not a number"),
        ("a\n", r"bad\.txt:1: a word without values"),
        ("\n\n", r"bad\.txt: no word vectors"),
        ("a 1 2\nb nan 2\n", r"bad\.txt:2: value 'nan' of 'b' is not finite"),
        ("a 1 inf\n", r"bad\.txt:1: value 'inf' of 'a' is not finite"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        ner.load_word_vectors(path)


def test_save_round_trip_and_bad_input(tmp_path):
    words = ["x", "why", "ζ"]
    vectors = np.array([[0.25, -1.0], [3.5, 1e-3], [0.0, 2.0]], "float32")
    ner.save_word_vectors(tmp_path / "v.txt", words, vectors)
    again_words, again = ner.load_word_vectors(tmp_path / "v.txt")
    assert again_words == words
    np.testing.assert_allclose(again, vectors, rtol=1e-6)
    with pytest.raises(ValueError, match="whitespace"):
        ner.save_word_vectors(tmp_path / "w.txt", ["a b"], vectors[:1])
    with pytest.raises(ValueError, match=r"\[len\(words\), dim\]"):
        ner.save_word_vectors(tmp_path / "w.txt", words, vectors[:2])


def test_extended_vocabulary_keeps_ids_and_lowercases():
    vocab = ner.Vocabulary.build(
        [["b", "a", "a"]], lowercase=True, chars=True, labels=["X"], level="word"
    )
    bigger = vocab.extended(["A", "New", "new", "b", "z"])
    assert bigger.tokens == vocab.tokens + ["new", "z"]
    assert bigger.encode(["a", "NEW", "z", "q"]) == [2, 4, 5, 1]
    assert bigger.chars == vocab.chars and bigger.labels == ["X"]
    assert vocab.tokens == ["[PAD]", "[UNK]", "a", "b"]  # the original is unchanged


def test_embedding_matrix_against_numpy():
    vocab = ner.Vocabulary(["[PAD]", "[UNK]", "a", "b", "c"], level="word")
    words = ["c", "zz", "a"]
    vectors = np.array([[1.0, -2.0, 0.5], [7.0, 7.0, 7.0], [0.0, 3.0, -1.0]])
    out = ner.embedding_matrix(vocab, words, vectors, scale=0.05, seed=3)
    assert out.shape == (5, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], 0.0)
    found = np.stack([vectors[2], vectors[0]])  # rows of "a", "c"
    factor = (0.05 / np.sqrt(3.0)) / found.std()
    np.testing.assert_allclose(out[[2, 4]], found * factor, rtol=1e-6)
    # Tokens without a vector ([UNK], "b") are uniform(-0.05, 0.05), seeded.
    assert np.all(np.abs(out[[1, 3]]) <= 0.05)
    np.testing.assert_array_equal(
        out, ner.embedding_matrix(vocab, words, vectors, scale=0.05, seed=3)
    )
    with pytest.raises(ValueError, match="scale"):
        ner.embedding_matrix(vocab, words, vectors, scale=0)
    with pytest.raises(ValueError, match="vectors"):
        ner.embedding_matrix(vocab, words[:2], vectors)
    with pytest.raises(ValueError, match="finite"):
        ner.embedding_matrix(vocab, words, np.where(vectors > 6, np.nan, vectors))


def test_builder_starts_from_the_weights_and_freezes(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(12, 6)).astype("float32")
    model = ner.build_span_tagger(
        12, 2, encoder="idcnn", embedding_weights=weights, **SMALL
    )
    layer = model.get_layer("token_embedding")
    assert layer.output_dim == 6 and layer.trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.embeddings), weights)

    frozen = ner.build_span_tagger(
        12,
        2,
        encoder="idcnn",
        embedding_weights=weights,
        trainable_embeddings=False,
        **SMALL,
    )
    assert not frozen.get_layer("token_embedding").trainable
    frozen.compile("adam", ner.tagger_loss(frozen))
    ids = np.array([[3, 4, 5, 0]], "int32")
    y = np.zeros((1, 2, 4, 4), "float32")
    y[0, 1, 0, 1] = 1.0
    frozen.train_on_batch(ids, y)
    after = frozen.get_layer("token_embedding").embeddings
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(after), weights)
    path = tmp_path / "frozen.keras"
    frozen.save(path)
    again = keras.saving.load_model(path)
    assert not again.get_layer("token_embedding").trainable
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again.predict_on_batch(ids)),
        keras.ops.convert_to_numpy(frozen.predict_on_batch(ids)),
        rtol=1e-6,
        atol=1e-6,
    )


def test_builder_rejects_mismatched_weights():
    weights = np.zeros((12, 6), "float32")
    with pytest.raises(ValueError, match=r"embedding_weights.*\[10, \.\.\.\]"):
        ner.build_span_tagger(10, 2, embedding_weights=weights, **SMALL)
    with pytest.raises(ValueError, match="embedding_dim"):
        ner.build_span_tagger(12, 2, embedding_dim=8, embedding_weights=weights)
    with pytest.raises(ValueError, match="finite"):
        ner.build_span_tagger(12, 2, embedding_weights=weights + np.inf)
    assert (
        ner.build_span_tagger(12, 2, **SMALL).get_layer("token_embedding").output_dim
        == 128
    )
