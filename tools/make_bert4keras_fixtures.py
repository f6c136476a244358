"""Writes bert4keras 0.11.5 fixtures for the parity tests.

The fixtures feed tests/layers/test_bert4keras_parity.py (layers) and
tests/compat/test_bert4keras_loss_parity.py (losses). bert4keras needs
Keras 2 (tf.keras), so this runs in its own virtualenv, never in the
project's Keras 3 one:

    python3 -m venv /tmp/b4k
    /tmp/b4k/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0
    /tmp/b4k/bin/pip install --no-deps bert4keras==0.11.5
    TF_KERAS=1 TF_USE_LEGACY_KERAS=1 /tmp/b4k/bin/python \
        tools/make_bert4keras_fixtures.py [--only layers|losses] [--out DIR]

`--only losses` rewrites just the loss fixtures (the layer fixtures hold
random weights and need not change when a loss case is added).

Layers: for each layer (GlobalPointer, EfficientGlobalPointer), RoPE on/off
and tril mask on/off, it builds the bert4keras layer, sets random weights
(biases included, so their layout is exercised), runs a random batch with a
padding mask and saves inputs, mask, weights (in `get_weights()` order) and
logits to tests/fixtures/b4k_<layer>_rope<0|1>_tril<0|1>.npz. One extra case
per layer runs without a mask; b4k_sinusoidal.npz holds SinusoidalPositionEmbedding
outputs (add / mul / zero) and one rotary application.

Losses: b4k_loss_<case>.npz holds float32 inputs and bert4keras' loss
(computed in float64 from those float32 inputs, so it is exact to ~1e-12)
with its gradient, plus the value bert4keras computes in float32. Cases:
`dense` (`multilabel_categorical_crossentropy`), `sparse_mask0` and
`sparse_mask1` (`sparse_multilabel_categorical_crossentropy` with
`mask_zero` False / True, rank 2 and rank 3 labels, masked negatives, a large
class-0 score, all-padding rows) and `gp_sparse` (the relation-extraction
scripts' GlobalPointer loss: flat indices `start * L + end` into the L x L
grid, `mask_zero=True`, summed over heads, mean over batch). Labels never
repeat an index, where bert4keras is exact (a repeated index makes its loss
negative or NaN), and no positive is masked.
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_KERAS", "1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import bert4keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from bert4keras.backend import multilabel_categorical_crossentropy  # noqa: E402
from bert4keras.backend import sparse_multilabel_categorical_crossentropy  # noqa: E402
from bert4keras.layers import EfficientGlobalPointer  # noqa: E402
from bert4keras.layers import GlobalPointer  # noqa: E402

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


def _loss_and_grad(fn, y_pred):
    """bert4keras' loss (float64 and float32) and its float64 gradient."""
    s64 = tf.constant(y_pred, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(s64)
        loss64 = fn(s64)
        total = tf.reduce_sum(loss64)
    grad = tape.gradient(total, s64).numpy()
    loss32 = fn(tf.constant(y_pred, tf.float32)).numpy()
    return loss64.numpy(), grad, loss32


def _distinct_indices(rng, shape, n, low, k_max, pad):
    """[..., K] indices, each row `k <= k_max` distinct classes in [low, n), padded."""
    idx = np.full(tuple(shape) + (k_max,), pad, "int32")
    for i in np.ndindex(*shape):
        k = int(rng.integers(0, k_max + 1))
        idx[i][:k] = rng.choice(np.arange(low, n), size=k, replace=False)
    return idx


def make_dense_loss(seed, out_dir):
    """`multilabel_categorical_crossentropy` on hard labels, masked negatives."""
    rng = np.random.default_rng(seed)
    y_pred = (rng.normal(size=(4, 9)) * 3).astype("float32")
    y_true = (rng.random((4, 9)) < 0.35).astype("float32")
    y_true[0] = 0  # no positive
    y_true[1] = 1  # all positive
    y_pred[2, y_true[2] == 0] = -np.inf  # every negative masked
    y_pred[3, (y_true[3] == 0) & (np.arange(9) % 2 == 0)] = -np.inf
    y_pred[:, -1] *= 8  # extreme logits (the dense form is exact for any)
    y_true64 = tf.constant(y_true, tf.float64)

    def fn(s):
        return multilabel_categorical_crossentropy(tf.cast(y_true64, s.dtype), s)

    loss, grad, loss32 = _loss_and_grad(fn, y_pred)
    np.savez_compressed(
        out_dir / "b4k_loss_dense.npz",
        y_true=y_true,
        y_pred=y_pred,
        loss=loss,
        grad=grad,
        loss_float32=loss32,
    )
    return "b4k_loss_dense"


def make_sparse_loss(mask_zero, seed, out_dir):
    """`sparse_multilabel_categorical_crossentropy` on [B, K] and [B, H, K] labels."""
    rng = np.random.default_rng(seed)
    n, k = 10, 4
    arrays = {}
    for rank, lead in (("rank2", (5,)), ("rank3", (2, 3))):
        y_pred = (rng.normal(size=lead + (n,)) * 3).astype("float32")
        low = 1 if mask_zero else 0
        y_true = _distinct_indices(rng, lead, n, low, k, pad=0)
        if not mask_zero:
            # Without mask_zero bert4keras has no padding: every slot is a label.
            for i in np.ndindex(*lead):
                y_true[i] = rng.choice(n, size=k, replace=False)
        flat_true = y_true.reshape(-1, k)
        flat_pred = y_pred.reshape(-1, n)
        flat_pred[0, 0] = 9.0  # a large class-0 score
        # Extreme logits on negatives. (A confident positive, say 34, would
        # drive bert4keras' 1 - exp(B - A) below its epsilon clip: there it
        # is not exact, and the port deliberately differs.)
        negatives = np.setdiff1d(np.arange(low, n), flat_true[1])
        flat_pred[1, negatives[:2]] = (30.0, -40.0)
        if mask_zero:
            flat_true[2] = 0  # all padding
            flat_pred[2, 0] = 12.0
        # Masked negatives (-inf, as bert4keras layers write, and -1e12).
        for r, value in ((3, -np.inf), (4, -1e12)):
            negatives = np.setdiff1d(np.arange(low, n), flat_true[r])
            flat_pred[r, negatives[:3]] = value
        y_true = flat_true.reshape(y_true.shape)
        y_pred = flat_pred.reshape(y_pred.shape)

        def fn(s, y_true=y_true):
            return sparse_multilabel_categorical_crossentropy(
                tf.constant(y_true), s, mask_zero
            )

        loss, grad, loss32 = _loss_and_grad(fn, y_pred)
        arrays.update(
            {
                f"{rank}_y_true": y_true,
                f"{rank}_y_pred": y_pred,
                f"{rank}_loss": loss,
                f"{rank}_grad": grad,
                f"{rank}_loss_float32": loss32,
            }
        )
    tag = f"b4k_loss_sparse_mask{int(mask_zero)}"
    np.savez_compressed(out_dir / f"{tag}.npz", mask_zero=np.array(mask_zero), **arrays)
    return tag


def make_gp_sparse_loss(seed, out_dir):
    """The relation-extraction scripts' sparse GlobalPointer loss.

    y_true `[B, H, K, 2]` (start, end) pairs padded with (0, 0), y_pred
    `[B, H, L, L]` with -inf below the diagonal and at padded tokens (as a
    bert4keras GlobalPointer writes them); loss = sum over heads, mean over
    batch of the sparse loss over flat indices `start * L + end`.
    """
    rng = np.random.default_rng(seed)
    batch, heads, length, k = 3, 2, 6, 4
    y_pred = (rng.normal(size=(batch, heads, length, length)) * 3).astype("float32")
    y_pred[:, :, 0, 0] = 7.0  # span (0, 0) = class 0: never counts
    lengths = [length, 4, 5]
    pairs = np.zeros((batch, heads, k, 2), "int32")
    for b in range(batch):
        valid = np.triu(np.ones((length, length), bool))
        valid[lengths[b] :, :] = False
        valid[:, lengths[b] :] = False
        y_pred[b][:, ~valid] = -np.inf
        valid[0, 0] = False  # (0, 0) is padding
        spans = np.argwhere(valid)
        for h in range(heads):
            if b == 1 and h == 0:
                continue  # no span at all
            m = int(rng.integers(1, k + 1))
            pairs[b, h, :m] = spans[rng.choice(len(spans), size=m, replace=False)]
    pairs_t = tf.constant(pairs)

    def fn(s):
        shape = tf.shape(s)
        flat = pairs_t[..., 0] * shape[2] + pairs_t[..., 1]
        scores = tf.reshape(s, (shape[0], shape[1], -1))
        loss = sparse_multilabel_categorical_crossentropy(flat, scores, True)
        return tf.reduce_mean(tf.reduce_sum(loss, axis=1))

    loss, grad, loss32 = _loss_and_grad(fn, y_pred)
    np.savez_compressed(
        out_dir / "b4k_loss_gp_sparse.npz",
        y_true=pairs,
        y_pred=y_pred,
        loss=loss,
        grad=grad,
        loss_float32=loss32,
    )
    return "b4k_loss_gp_sparse"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--out", default=str(root / "tests" / "fixtures"))
    parser.add_argument("--only", choices=("layers", "losses"), default=None)
    args = parser.parse_args()
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print("bert4keras", bert4keras.__version__)
    if args.only in (None, "layers"):
        seed = 0
        for name in LAYERS:
            for rope in (True, False):
                for tril in (True, False):
                    print("wrote", make_case(name, rope, tril, True, seed, out_dir))
                    seed += 1
            print("wrote", make_case(name, True, True, False, seed, out_dir))
            seed += 1
        print("wrote", make_sinusoidal(seed, out_dir))
    if args.only in (None, "losses"):
        print("wrote", make_dense_loss(100, out_dir))
        print("wrote", make_sparse_loss(False, 101, out_dir))
        print("wrote", make_sparse_loss(True, 102, out_dir))
        print("wrote", make_gp_sparse_loss(103, out_dir))


if __name__ == "__main__":
    main()
