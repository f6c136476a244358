"""examples/word_vectors.py: gensim skip-gram vectors on unlabeled text, written for --word-vectors."""

import numpy as np
import pytest

from keras_rdkl import ner
from tests.conftest import load_example


def test_vectors_from_a_text_file_are_repeatable(tmp_path):
    script = load_example("word_vectors")
    text = tmp_path / "text.txt"
    lines = ["The cat sat on the mat.", "A dog sat on the log!", "", "the CAT, the dog"]
    text.write_text("\n".join(lines * 20), encoding="utf-8")
    args = ["--corpus", f"text:{text}", "--dim", "8", "--epochs", "2"]
    first = script.main(args + ["--output", str(tmp_path / "a.txt")])
    words, vectors = ner.load_word_vectors(first)
    assert vectors.shape == (len(words), 8) and np.isfinite(vectors).all()
    assert "cat" in words and "CAT" not in words and "," in words  # lower-cased
    second = script.main(args + ["--output", str(tmp_path / "b.txt")])
    assert second.read_bytes() == first.read_bytes()  # same seed, same file
    kept = script.main(args + ["--keep-case", "--output", str(tmp_path / "c.txt")])
    assert "CAT" in ner.load_word_vectors(kept)[0]


def test_bad_arguments(tmp_path):
    script = load_example("word_vectors")
    with pytest.raises(ValueError, match="--corpus"):
        script.read_corpus("wikipedia")
    with pytest.raises(SystemExit):
        script.parse_args(["--corpus", "goemotions", "--output", "x", "--dim", "0"])
    with pytest.raises(SystemExit):
        script.parse_args(["--output", "x"])  # --corpus is required
