"""Small text-model helpers and run reports, as the examples use them.

- `build_vocab` / `encode_tokens`: a word vocabulary from training tokens
  (id 0 padding, id 1 unknown) and padded id matrices, for classifiers.
  (Span taggers have `keras_rdkl.ner.Vocabulary`, with characters and labels.)
- `build_transformer_encoder`: a compact post-norm Transformer over token
  ids, trained from scratch, whose padding mask reaches the output.
- `run_info` / `write_report`: the command that reproduces a run, the
  machine and the versions, written with the results as JSON and Markdown.

Example:

>>> vocab = build_vocab([["a", "b", "a"], ["c"]])
>>> vocab
{'[PAD]': 0, '[UNK]': 1, 'a': 2, 'b': 3, 'c': 4}
>>> encode_tokens([["a", "z"], ["c", "b", "a"]], vocab, length=2).tolist()
[[2, 1], [4, 3]]
"""

import collections
import json
import os
import pathlib
import platform
import sys

import keras
import numpy as np

from keras_rdkl.layers import SinusoidalPositionEmbedding

__all__ = [
    "PAD",
    "UNK",
    "build_transformer_encoder",
    "build_vocab",
    "encode_tokens",
    "run_info",
    "write_report",
]

PAD, UNK = "[PAD]", "[UNK]"


def build_vocab(token_lists, min_count=1, max_size=None, lowercase=False):
    """Token -> id from training tokens; id 0 is padding, id 1 unknown.

    Args:
        token_lists: iterable of token lists (the training split).
        min_count: keep tokens seen at least this often.
        max_size: optional cap on the vocabulary size (most frequent first).
        lowercase: lower-case tokens before counting.

    Returns:
        A dict `{token: id}` with `PAD -> 0`, `UNK -> 1`.
    """
    counts = collections.Counter(
        t.lower() if lowercase else t for tokens in token_lists for t in tokens
    )
    ordered = sorted((c, t) for t, c in counts.items() if c >= min_count)
    ordered = [t for c, t in sorted(ordered, key=lambda ct: (-ct[0], ct[1]))]
    if max_size is not None:
        ordered = ordered[: max(0, max_size - 2)]
    vocab = {PAD: 0, UNK: 1}
    for t in ordered:
        vocab.setdefault(t, len(vocab))
    return vocab


def encode_tokens(token_lists, vocab, length, lowercase=False):
    """Token lists -> int32 ids `[N, length]`, padded with 0 and truncated at the end."""
    out = np.zeros((len(token_lists), length), dtype="int32")
    unk = vocab[UNK]
    for i, tokens in enumerate(token_lists):
        ids = [vocab.get(t.lower() if lowercase else t, unk) for t in tokens[:length]]
        out[i, : len(ids)] = ids
    return out


def build_transformer_encoder(
    vocab_size, hidden=128, layers=2, heads=4, dropout=0.1, max_length=None, ffn=None
):
    """A small post-norm Transformer encoder trained from scratch.

    Token ids go through `Embedding(mask_zero=True)` plus fixed sin-cos
    positions, then `layers` blocks of self-attention and a feed-forward
    network, each with dropout, a residual connection and layer
    normalization. The padding mask (id 0) propagates to the output, so a
    masking-aware head (GlobalPointer, pooling) can use it.

    Args:
        vocab_size: number of token ids (0 is padding).
        hidden: width of every token vector (even).
        layers: number of Transformer blocks.
        heads: attention heads per block (`hidden` must divide by it).
        dropout: dropout rate after embeddings, attention and FFN.
        max_length: static sequence length of the input, or None for any.
        ffn: inner width of the feed-forward network (default `4 * hidden`).

    Returns:
        A `keras.Model` mapping int ids `[B, L]` to `[B, L, hidden]` with a
        Keras mask `[B, L]`.
    """
    if hidden % heads:
        raise ValueError(
            f"`hidden` must be divisible by `heads`. Received: hidden={hidden}, heads={heads}"
        )
    ffn = ffn or 4 * hidden
    ids = keras.Input((max_length,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        vocab_size, hidden, mask_zero=True, name="token_embedding"
    )(ids)
    x = SinusoidalPositionEmbedding(
        hidden, merge_mode="add", name="position_embedding"
    )(x)
    x = keras.layers.LayerNormalization(name="embedding_norm")(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(layers):
        attn = keras.layers.MultiHeadAttention(
            heads, hidden // heads, dropout=dropout, name=f"block{i}_attention"
        )(x, x)
        attn = keras.layers.Dropout(dropout, name=f"block{i}_attention_dropout")(attn)
        x = keras.layers.LayerNormalization(name=f"block{i}_attention_norm")(
            keras.layers.Add(name=f"block{i}_attention_residual")([x, attn])
        )
        h = keras.layers.Dense(ffn, activation="gelu", name=f"block{i}_ffn_inner")(x)
        h = keras.layers.Dense(hidden, name=f"block{i}_ffn_outer")(h)
        h = keras.layers.Dropout(dropout, name=f"block{i}_ffn_dropout")(h)
        x = keras.layers.LayerNormalization(name=f"block{i}_ffn_norm")(
            keras.layers.Add(name=f"block{i}_ffn_residual")([x, h])
        )
    return keras.Model(ids, x, name="transformer_encoder")


def run_info(script, argv=None):
    """The command that reproduces this run, the machine and the versions, for a report.

    Args:
        script: the running script's `__file__`; the command names it relative
            to the folder above the script's own (the repository root for
            `examples/`).
        argv: the arguments passed to its `main` (default: `sys.argv[1:]`).

    Returns:
        A dict with `command`, `machine` and `versions` (strings).
    """
    import keras_rdkl

    root = pathlib.Path(script).resolve().parents[1]
    args = sys.argv[1:] if argv is None else list(argv)
    return {
        "command": f"KERAS_BACKEND={keras.backend.backend()} python "
        + " ".join([os.path.relpath(script, root), *args]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "versions": {
            "keras": keras.__version__,
            "keras_rdkl": keras_rdkl.__version__,
            "python": platform.python_version(),
            "backend": keras.backend.backend(),
        },
    }


def write_report(out_dir, stem, title, info, body, results):
    """Writes `<stem>.json` (results plus `info`) and `<stem>.md` (title, command, body)."""
    out_dir = pathlib.Path(out_dir)
    (out_dir / f"{stem}.json").write_text(
        json.dumps({**info, **results}, indent=2, default=str)
    )
    (out_dir / f"{stem}.md").write_text(
        f"# {title}\n\nCommand: `{info['command']}`\n\nMachine: {info['machine']}; "
        f"keras {info['versions']['keras']}.\n\n{body}\n"
    )
