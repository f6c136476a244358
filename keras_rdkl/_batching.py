"""Batch orders that every Keras backend can train on.

Keras' TensorFlow data adapter fixes the shapes of a `PyDataset` (or a
generator) from its first two batches
(`keras.src.trainers.data_adapters.data_adapter_utils`, keras-team/keras#19124):
a dimension is left open (`None`) only where those two batches differ. When the
first two batches of a variable-length dataset happen to share one padded
length, every later batch of another length stops `fit` with ``TypeError:
`generator` yielded an element of shape (32, 40) where an element of shape
(None, 24) was expected``. JAX and PyTorch take each batch as it comes.

The datasets of this package put two batches of different lengths first
whenever they have two lengths at all, so that the adapter opens the length
axis on every backend, whatever order shuffling gives.
"""


def bucketed_batches(lengths, batch_size, rng, shuffle=True, bucket=True):
    """Row indices of each batch: shuffled, sentences of similar length together.

    With `shuffle`, the rows are permuted first and the batch order is
    shuffled at the end (drawing from `rng`); with `bucket`, rows are sorted
    by `lengths` within chunks of `50 * batch_size`, so a batch pads little.

    Args:
        lengths: one length per row (a NumPy array).
        batch_size: rows per batch (the last batch may be smaller).
        rng: a `numpy.random.Generator`.
        shuffle: shuffle rows and batches (training).
        bucket: group rows of similar length.

    Returns:
        A list of index arrays.
    """
    import numpy as np

    n = len(lengths)
    order = rng.permutation(n) if shuffle else np.arange(n)
    if bucket:
        chunk = 50 * batch_size
        parts = [
            part[np.argsort(lengths[part], kind="stable")]
            for part in (order[i : i + chunk] for i in range(0, n, chunk))
        ]
        order = np.concatenate(parts) if parts else order
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def lead_with_two_lengths(batches, length):
    """Reorders `batches` in place so that the first two differ in length.

    When `batches[0]` and `batches[1]` have the same `length(batch)`, the first
    later batch of another length swaps places with `batches[1]`; nothing
    moves when they differ already or when every batch has one length.

    Args:
        batches: a list of batches (any objects `length` accepts).
        length: a function from a batch to its padded length.

    Returns:
        `batches`, for chaining.

    Example:

    >>> from keras_rdkl._batching import lead_with_two_lengths
    >>> lead_with_two_lengths([[1, 2], [3, 4], [5, 6, 7], [8]], len)
    [[1, 2], [5, 6, 7], [3, 4], [8]]
    """
    if len(batches) < 3:
        return batches
    first = length(batches[0])
    if length(batches[1]) != first:
        return batches
    for i in range(2, len(batches)):
        if length(batches[i]) != first:
            batches[1], batches[i] = batches[i], batches[1]
            break
    return batches
