"""Writes bert4keras 0.11.5 GlobalPointer fixtures for tests/layers/test_bert4keras_parity.py.

bert4keras needs Keras 2 (tf.keras), so this runs in its own virtualenv,
never in the project's Keras 3 one:

    python3 -m venv .venv-b4k
    .venv-b4k/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0
    .venv-b4k/bin/pip install --no-deps bert4keras==0.11.5
    TF_KERAS=1 TF_USE_LEGACY_KERAS=1 .venv-b4k/bin/python tools/make_bert4keras_fixtures.py

For each layer (GlobalPointer, EfficientGlobalPointer), RoPE on/off and
tril mask on/off, it builds the bert4keras layer, sets random weights
(biases included, so their layout is exercised), runs a random batch with a
padding mask and saves inputs, mask, weights (in `get_weights()` order) and
logits to tests/fixtures/b4k_<layer>_rope<0|1>_tril<0|1>.npz. One extra case
per layer runs without a mask; b4k_sinusoidal.npz holds SinusoidalPositionEmbedding
outputs (add / mul / zero) and one rotary application.
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_KERAS", "1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import bert4keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bert4keras.layers import (
    EfficientGlobalPointer,  # noqa: E402
    GlobalPointer,  # noqa: E402
)

BATCH, LENGTH, HIDDEN, HEADS, HEAD_SIZE = 2, 7, 12, 3, 8
LAYERS = {"gp": GlobalPointer, "egp": EfficientGlobalPointer}


def make_case(name, rope, tril, masked, seed, out_dir):
    rng = np.random.default_rng(seed)
    cls = LAYERS[name]
    layer = cls(HEADS, HEAD_SIZE, RoPE=rope, tril_mask=tril)
    x = rng.normal(size=(BATCH, LENGTH, HIDDEN)).astype("float32")
    lengths = np.array([LENGTH, 4])
    mask = (np.arange(LENGTH)[None, :] < lengths[:, None]).astype("float32")
    layer(x)  # builds the weights
    weights = [
        rng.normal(scale=0.5, size=w.shape).astype("float32")
        for w in layer.get_weights()
    ]
    layer.set_weights(weights)
    logits = layer(x, mask=tf.constant(mask) if masked else None).numpy()
    tag = f"b4k_{name}_rope{int(rope)}_tril{int(tril)}" + ("" if masked else "_nomask")
    arrays = {
        "inputs": x,
        "logits": logits,
        "heads": np.array(HEADS),
        "head_size": np.array(HEAD_SIZE),
        "rope": np.array(rope),
        "tril_mask": np.array(tril),
        "n_weights": np.array(len(weights)),
    }
    if masked:
        arrays["mask"] = mask
    for i, w in enumerate(weights):
        arrays[f"weight_{i}"] = w
    np.savez_compressed(out_dir / f"{tag}.npz", **arrays)
    return tag


def make_sinusoidal(seed, out_dir):
    """SinusoidalPositionEmbedding in its three same-width modes, and RoPE."""
    from bert4keras.backend import apply_rotary_position_embeddings
    from bert4keras.layers import SinusoidalPositionEmbedding

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, LENGTH, HEAD_SIZE)).astype("float32")
    arrays = {"inputs": x}
    for mode in ("add", "mul", "zero"):
        arrays[mode] = SinusoidalPositionEmbedding(HEAD_SIZE, mode)(x).numpy()
    heads_x = rng.normal(size=(BATCH, LENGTH, HEADS, HEAD_SIZE)).astype("float32")
    arrays["rotary_inputs"] = heads_x
    arrays["rotary"] = apply_rotary_position_embeddings(
        tf.constant(arrays["zero"]), tf.constant(heads_x)
    ).numpy()
    np.savez_compressed(out_dir / "b4k_sinusoidal.npz", **arrays)
    return "b4k_sinusoidal"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--out", default=str(root / "tests" / "fixtures"))
    args = parser.parse_args()
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print("bert4keras", bert4keras.__version__)
    seed = 0
    for name in LAYERS:
        for rope in (True, False):
            for tril in (True, False):
                print("wrote", make_case(name, rope, tril, True, seed, out_dir))
                seed += 1
        print("wrote", make_case(name, True, True, False, seed, out_dir))
        seed += 1
    print("wrote", make_sinusoidal(seed, out_dir))


if __name__ == "__main__":
    main()
