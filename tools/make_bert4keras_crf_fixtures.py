"""Writes bert4keras 0.11.5 CRF fixtures for tests/compat/test_crf_compat.py.

bert4keras needs Keras 2 (tf.keras), so this runs in its own virtualenv,
never in the project's Keras 3 one (see tools/make_bert4keras_fixtures.py):

    TF_KERAS=1 TF_USE_LEGACY_KERAS=1 .venv-b4k/bin/python tools/make_bert4keras_crf_fixtures.py

tests/fixtures/b4k_crf_loss.npz: a `ConditionalRandomField(lr_multiplier=2)`
with a random stored weight, random emissions, right-padded masks (the
layer's call writes bert4keras' mask there), integer and one-hot tags; holds
the masked emissions, `sparse_loss`, `dense_loss`, `sparse_accuracy`,
`dense_accuracy` and the gradients of `sum(sparse_loss)` with respect to the
emissions and the stored weight.

tests/fixtures/b4k_crf_viterbi.npz: `ViterbiDecoder(trans, starts,
ends).decode(nodes)` paths for sequences of several lengths (1 included),
without constraints, with starts only, and with starts and ends.
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_KERAS", "1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import bert4keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bert4keras.layers import ConditionalRandomField  # noqa: E402
from bert4keras.snippets import ViterbiDecoder  # noqa: E402

BATCH, LENGTH, TAGS, MULTIPLIER = 4, 6, 5, 2.0


def loss_case(rng):
    crf = ConditionalRandomField(lr_multiplier=MULTIPLIER)
    emissions = rng.normal(scale=2.0, size=(BATCH, LENGTH, TAGS)).astype("float32")
    lengths = np.array([LENGTH, 4, 2, 1])
    mask = (np.arange(LENGTH)[None] < lengths[:, None]).astype("float32")
    crf(tf.constant(emissions))  # builds the weight
    weight = rng.normal(scale=0.5, size=(TAGS, TAGS)).astype("float32")
    crf.set_weights([weight])
    tags = rng.integers(0, TAGS, size=(BATCH, LENGTH)).astype("int32")
    tags[mask == 0] = 0
    one_hot = np.eye(TAGS, dtype="float32")[tags]
    x = tf.constant(emissions)
    with tf.GradientTape() as tape:
        tape.watch(x)
        masked = crf(x, mask=tf.constant(mask))
        sparse = crf.sparse_loss(tf.constant(tags), masked)
        total = tf.reduce_sum(sparse)
    grad_e, grad_w = tape.gradient(total, [x, crf.trainable_weights[0]])
    return {
        "emissions": emissions,
        "mask": mask,
        "masked_emissions": masked.numpy(),
        "weight": weight,
        "lr_multiplier": np.array(MULTIPLIER),
        "trans": crf.trans.numpy(),
        "tags": tags,
        "sparse_loss": sparse.numpy(),
        "dense_loss": crf.dense_loss(tf.constant(one_hot), masked).numpy(),
        "sparse_accuracy": np.array(
            crf.sparse_accuracy(tf.constant(tags), masked).numpy()
        ),
        "dense_accuracy": np.array(
            crf.dense_accuracy(tf.constant(one_hot), masked).numpy()
        ),
        "grad_emissions": grad_e.numpy(),
        "grad_weight": grad_w.numpy(),
    }


def viterbi_case(rng):
    trans = rng.normal(size=(TAGS, TAGS)).astype("float32")
    out = {"trans": trans}
    variants = {
        "none": (None, None),
        "starts": ([0, 1, 3], None),
        "both": ([0, 1, 3], [0, 2, 4]),
    }
    for i, length in enumerate((1, 2, 5, 9, 16)):
        nodes = rng.normal(scale=2.0, size=(length, TAGS)).astype("float32")
        out[f"nodes_{i}"] = nodes
        for name, (starts, ends) in variants.items():
            decoder = ViterbiDecoder(trans, starts=starts, ends=ends)
            out[f"path_{name}_{i}"] = np.asarray(decoder.decode(nodes.copy()))
    out["starts"] = np.array([0, 1, 3])
    out["ends"] = np.array([0, 2, 4])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    parser.add_argument("--out", type=pathlib.Path, default=default)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261123)
    version = np.array(bert4keras.__version__)
    np.savez(args.out / "b4k_crf_loss.npz", version=version, **loss_case(rng))
    np.savez(args.out / "b4k_crf_viterbi.npz", version=version, **viterbi_case(rng))
    print("wrote", args.out / "b4k_crf_loss.npz", args.out / "b4k_crf_viterbi.npz")


if __name__ == "__main__":
    main()
