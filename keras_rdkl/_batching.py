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
