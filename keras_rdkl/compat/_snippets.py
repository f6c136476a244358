"""bert4keras `snippets` helpers: padding, batching for `fit`, text and file utilities.

Written against the signatures and behaviour of `bert4keras.snippets`
(0.11.x) so that scripts port by their import lines; the code is our own.
`DataGenerator.forfit` differs where Keras 3 needs it to: it yields batches
every backend's `fit` accepts (tuples of NumPy arrays, not lists) and puts
two batches of different shapes first, so that TensorFlow's `fit` takes
variable-length batches (keras-team/keras#19124, see `forfit`).

Not provided, and why: `lowercase_and_normalize`, `convert_to_unicode`,
`convert_to_str` and `string_matching` serve bert4keras' own tokenizer and
model loader (no example script imports them; `Tokenizer` here has its
own); `AutoRegressiveDecoder`, `WebServing`, `longest_common_substring`,
`longest_common_subsequence`, `orthogonally_resize`, `insert_arguments`,
`delete_arguments` and `uniout` (a Python 2 printing hook) are outside the
data path these helpers cover. `DataGenerator.to_dataset` raises with a
pointer to `forfit`.
"""

import builtins
import collections
import itertools
import json
import os
import queue

import keras
import numpy as np

from keras_rdkl._batching import lead_with_two_lengths


def to_array(*args):
    """Converts each argument to a NumPy array.

    Args:
        *args: array-likes (nested lists, arrays).

    Returns:
        The array when one argument is given, otherwise a list of arrays.

    Example:

    >>> token_ids, segment_ids = to_array([[2, 5, 3]], [[0, 0, 0]])
    >>> token_ids.shape, segment_ids.tolist()
    ((1, 3), [[0, 0, 0]])
    """
    arrays = [np.array(a) for a in args]
    return arrays[0] if len(arrays) == 1 else arrays


def is_string(s):
    """Whether `s` is a `str`.

    Example:

    >>> is_string("text"), is_string(b"bytes")
    (True, False)
    """
    return isinstance(s, str)


def strQ2B(ustring):
    """Converts full-width characters to their half-width forms.

    The ideographic space U+3000 becomes a space; U+FF01 to U+FF5E become
    U+0021 to U+007E; other characters are kept. (bert4keras' version calls
    Python 2's `unichr` and fails on Python 3.)

    Args:
        ustring: a string.

    Returns:
        The converted string.

    Example:

    >>> strQ2B("ＡＢＣ　１２３！")
    'ABC 123!'
    """
    out = []
    for char in ustring:
        code = ord(char)
        if code == 0x3000:
            code = 0x20
        elif 0xFF01 <= code <= 0xFF5E:
            code -= 0xFEE0
        out.append(chr(code))
    return "".join(out)


def sequence_padding(inputs, length=None, value=0, seq_dims=1, mode="post"):
    """Pads (or truncates) sequences to one length and stacks them.

    The first `seq_dims` axes of every sequence are cut to `length` and then
    padded with `value` up to it, after the values (`mode="post"`) or before
    them (`mode="pre"`); truncation always keeps the leading values. The
    remaining axes must agree between sequences.

    Args:
        inputs: a list of sequences (lists or arrays) of `seq_dims` or more
            axes.
        length: the padded length: None for the longest sequence along each
            of the first `seq_dims` axes, an int (for every one of them), or
            a list of `seq_dims` ints.
        value: the padding value.
        seq_dims: how many leading axes to pad.
        mode: `"post"` or `"pre"`.

    Returns:
        A NumPy array `[len(inputs), *length, *rest]`, of the dtype NumPy
        gives the sequences.

    Example:

    >>> sequence_padding([[1, 2, 3], [4]])
    array([[1, 2, 3],
           [4, 0, 0]])
    >>> sequence_padding([[1, 2, 3], [4]], length=2, mode="pre", value=-1)
    array([[ 1,  2],
           [-1,  4]])
    """
    if mode not in ("post", "pre"):
        raise ValueError(f"`mode` must be 'post' or 'pre'. Received: mode={mode!r}")
    arrays = [np.asarray(x) for x in inputs]
    if not arrays:
        raise ValueError("`inputs` must hold at least one sequence. Received: []")
    if length is None:
        length = np.max([a.shape[:seq_dims] for a in arrays], axis=0)
    elif np.ndim(length) == 0:
        length = [length] * seq_dims
    length = [int(n) for n in length]
    if len(length) != seq_dims:
        raise ValueError(
            f"`length` must hold `seq_dims`={seq_dims} values. Received: "
            f"length={length}"
        )
    cut = tuple(slice(0, n) for n in length)
    padded = []
    for a in arrays:
        a = a[cut]
        missing = [n - have for n, have in zip(length, a.shape[:seq_dims], strict=True)]
        widths = [(0, m) if mode == "post" else (m, 0) for m in missing]
        widths += [(0, 0)] * (a.ndim - seq_dims)
        padded.append(np.pad(a, widths, mode="constant", constant_values=value))
    return np.array(padded)


def truncate_sequences(maxlen, indices, *sequences):
    """Pops items from the longest sequence until the total length fits.

    Empty sequences (and None) are left out first. While the lengths add up
    to more than `maxlen`, the longest sequence (the first of equal ones)
    loses the item at its index in `indices`. The sequences are changed in
    place, as bert4keras' tokenizer relies on.

    Args:
        maxlen: the largest total length.
        indices: the index to pop at (`-1` the end, `0` the start, `-2` the
            item before a trailing `[SEP]`), one for every sequence or a
            list with one per non-empty sequence.
        *sequences: lists.

    Returns:
        The list of non-empty sequences, truncated.

    Example:

    >>> first, second = list("abcde"), list("xyz")
    >>> truncate_sequences(6, -1, first, second)
    [['a', 'b', 'c'], ['x', 'y', 'z']]
    >>> first
    ['a', 'b', 'c']
    """
    kept = [s for s in sequences if s]
    if isinstance(indices, (list, tuple)):
        at = list(indices)
    else:
        at = [indices] * len(kept)
    while sum(len(s) for s in kept) > maxlen:
        longest = max(range(len(kept)), key=lambda i: (len(kept[i]), -i))
        kept[longest].pop(at[longest])
    return kept


def text_segmentate(text, maxlen, seps="\n", strips=None):
    """Splits a text into pieces of at most `maxlen` characters at separators.

    The text is stripped (whitespace, then the characters in `strips`). If
    it is longer than `maxlen` it is split at `seps[0]` (the separator stays
    at the end of its piece) and consecutive pieces are joined again while
    they stay below `maxlen`; each joined part longer than `maxlen` is split
    the same way at `seps[1]`, and so on. A part still too long when the
    separators run out is kept whole.

    Args:
        text: a string.
        maxlen: the largest piece length wanted.
        seps: separators, coarsest first (a string of characters or a list
            of strings).
        strips: characters stripped from both ends of every piece (None:
            whitespace).

    Returns:
        A list of strings.

    Example:

    >>> text_segmentate("ab,cd;ef,gh", 6, seps=";,")
    ['ab,cd;', 'ef,gh']
    >>> text_segmentate("aaa,bbb,ccc", 5, seps=",", strips=",")
    ['aaa', 'bbb', 'ccc']
    """
    text = text.strip().strip(strips)
    if not seps or len(text) <= maxlen:
        return [text]
    sep, finer = seps[0], seps[1:]
    pieces = text.split(sep)
    last = len(pieces) - 1
    out, part = [], ""
    for i, piece in enumerate(pieces):
        # A piece joins the part while both stay below `maxlen` together
        # (its separator not counted); empty pieces always join.
        if part and piece and len(part) + len(piece) >= maxlen:
            out.extend(text_segmentate(part, maxlen, finer, strips))
            part = ""
        part += piece if i == last else piece + sep
    if part:
        out.extend(text_segmentate(part, maxlen, finer, strips))
    return out


class open:
    """bert4keras' `open`: the built-in `open`, optionally indexed by line.

    Iterating yields lines; `read`, `readline`, `readlines`, `write`,
    `flush`, `close`, `tell`, `seek` and `with` work as on a file. With
    `indexable`, the byte offset of every line is recorded when the file is
    opened, and `f[i]` reads line `i` (with its newline) and `len(f)` counts
    lines, without holding the file in memory.

    Args:
        name: the file path.
        mode: as for the built-in `open`.
        encoding: as for the built-in `open`.
        errors: as for the built-in `open`.
        indexable: False; True to index the lines; or the path of a JSON
            file of offsets, read when it exists and written otherwise.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "lines.txt")
    >>> with open(path, "w", encoding="utf-8") as f:
    ...     f.write("first\\nsecond\\n")
    >>> with open(path, encoding="utf-8", indexable=True) as f:
    ...     [line.strip() for line in f], len(f), f[1]
    (['first', 'second'], 2, 'second\\n')
    """

    def __init__(self, name, mode="r", encoding=None, errors="strict", indexable=False):
        self.name = name
        self.encoding = encoding
        self.errors = errors
        if "b" in mode:  # bytes: no encoding
            self.file = builtins.open(name, mode)
        else:
            self.file = builtins.open(name, mode, encoding=encoding, errors=errors)
        self.iterator = None
        if indexable:
            cached = isinstance(indexable, str) and os.path.exists(indexable)
            if cached:
                with builtins.open(indexable) as f:
                    self.offsets = json.load(f)
            else:
                self.create_indexes()
                if isinstance(indexable, str):
                    with builtins.open(indexable, "w") as f:
                        json.dump(self.offsets, f)

    def create_indexes(self):
        """Records the offset of every line in `self.offsets`."""
        self.offsets = []
        self.file.seek(0)
        while True:
            offset = self.file.tell()
            if not self.file.readline():
                break
            self.offsets.append(offset)
        self.file.seek(0)

    def __getitem__(self, index):
        self.file.seek(self.offsets[index])
        return self.file.readline()

    def __len__(self):
        return len(self.offsets)

    def __iter__(self):
        yield from self.file

    def __next__(self):
        if self.iterator is None:
            self.iterator = iter(self)
        return next(self.iterator)

    next = __next__

    def read(self):
        return self.file.read()

    def readline(self):
        return self.file.readline()

    def readlines(self):
        return self.file.readlines()

    def write(self, text):
        self.file.write(text)

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()

    def tell(self):
        return self.file.tell()

    def seek(self, offset=0):
        return self.file.seek(offset)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


_worker_func = None


def _seed_worker(seeds):
    """Seeds NumPy's global generator with the next seed, if any is left."""
    try:
        seed = seeds.get_nowait()
    except queue.Empty:
        return
    np.random.seed(seed)


def _init_worker(func, seeds):
    global _worker_func
    _worker_func = func
    _seed_worker(seeds)


def _call_worker(item):
    return _worker_func(item)


def parallel_apply(
    func,
    iterable,
    workers,
    max_queue_size,
    callback=None,
    dummy=False,
    random_seeds=True,
    unordered=True,
):
    """Applies `func` to every item of `iterable` in `workers` processes or threads.

    At most `max_queue_size` items wait for a worker at a time, so a long
    (or endless) iterable is read as the workers progress. Results come back
    in input order: bert4keras returns them in completion order when
    `unordered=True` (any order is allowed there), so input order serves
    both settings. `func` reaches the processes when they start (as in
    bert4keras), so it may be a closure where processes are forked (Linux'
    default before Python 3.14); elsewhere it must be picklable.

    Args:
        func: a function of one item.
        iterable: the items.
        workers: the number of processes (threads with `dummy=True`).
        max_queue_size: the most items submitted and not yet returned.
        callback: None to return the results; otherwise called with each
            result in turn, and nothing is returned.
        dummy: True for threads (`multiprocessing.dummy`) instead of
            processes.
        random_seeds: True to reseed NumPy's global generator afresh in
            every worker (forked workers otherwise draw the same numbers),
            False or None to leave it, or a list of seeds, one per worker
            (workers beyond the list are left).
        unordered: kept for bert4keras' signature (results are always in
            input order).

    Returns:
        The list of `func(item)` when `callback` is None, otherwise None.

    Example:

    >>> parallel_apply(len, ["a", "bb", "ccc"], workers=2, max_queue_size=2, dummy=True)
    [1, 2, 3]
    """
    del unordered  # input order satisfies both settings
    if dummy:
        from multiprocessing.dummy import Pool

        seeds = queue.Queue()
    else:
        from multiprocessing import Pool
        from multiprocessing import Queue

        seeds = Queue()
    if random_seeds is True:
        random_seeds = [None] * workers
    for seed in random_seeds or []:
        seeds.put(seed)
    if dummy:  # threads share `func`; processes get it when they start
        initializer, initargs, call = _seed_worker, (seeds,), func
    else:
        initializer, initargs, call = _init_worker, (func, seeds), _call_worker
    results = [] if callback is None else None
    pending = collections.deque()
    with Pool(workers, initializer, initargs) as pool:

        def take():
            result = pending.popleft().get()
            if callback is None:
                results.append(result)
            else:
                callback(result)

        for item in iterable:
            pending.append(pool.apply_async(call, (item,)))
            while len(pending) > max_queue_size:
                take()
        while pending:
            take()
    return results


def _is_structure(value):
    """Whether a list/tuple holds several inputs (arrays, dicts, None) or one array."""

    def part(item):
        if isinstance(item, (list, tuple)):
            return _is_structure(item)
        return item is None or isinstance(item, dict) or np.ndim(item) > 0

    return any(part(item) for item in value)


def _to_arrays(value):
    """Lists of arrays become tuples, dicts stay, every leaf a NumPy array.

    float64 leaves (what `sequence_padding` makes of `np.zeros` labels) become
    `keras.config.floatx()`: JAX and PyTorch take them so, and Keras 2 cast
    targets to the metric's dtype, so a script's own metric
    (`K.sum(y_true * y_pred)`) sees one dtype on every backend.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: _to_arrays(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)) and _is_structure(value):
        return tuple(_to_arrays(v) for v in value)
    value = np.asarray(value)
    if value.dtype == np.float64:
        value = value.astype(keras.config.floatx())
    return value


def _keras_batch(batch):
    """A bert4keras batch as Keras 3 takes it: `(x,)`, `(x, y)` or `(x, y, w)`."""
    if not isinstance(batch, (list, tuple)):
        return (_to_arrays(batch),)
    if not 1 <= len(batch) <= 3:
        raise ValueError(
            "A `DataGenerator` batch must be `inputs`, `(inputs, targets)` or "
            "`(inputs, targets, sample_weights)`. Received a batch of "
            f"{len(batch)} parts."
        )
    parts = [_to_arrays(part) for part in batch]
    while len(parts) > 1 and parts[-1] is None:
        parts.pop()  # `yield x, None` (a model with its own loss)
    return tuple(parts)


def _shapes(batch):
    """The shapes of a batch's arrays without their batch axes."""
    leaves = []

    def walk(value):
        if isinstance(value, dict):
            for key in sorted(value):
                walk(value[key])
        elif isinstance(value, tuple):
            for v in value:
                walk(v)
        elif value is not None:
            leaves.append(np.shape(value)[1:])

    walk(batch)
    return tuple(leaves)


class DataGenerator:
    """bert4keras' batch generator template, for `fit` on every backend.

    Subclass it and write `__iter__(self, random=False)` to yield batches,
    drawing examples from `self.sample(random)`, exactly as bert4keras
    scripts do; then `model.fit(gen.forfit(), steps_per_epoch=len(gen),
    epochs=...)` trains, and `for x, y in gen:` walks one epoch in order
    (batches as `__iter__` yields them, lists included).

    Args:
        data: the examples: a sequence (shuffled by permutation), or any
            iterable (shuffled through a buffer; `len(gen)` is then
            unknown).
        batch_size: examples per batch (`len(gen)` counts
            `ceil(len(data) / batch_size)` steps).
        buffer_size: examples held by the shuffling buffer of an iterable
            `data` (default `batch_size * 1000`).

    Example:

    >>> class Batches(DataGenerator):
    ...     def __iter__(self, random=False):
    ...         batch_x, batch_y = [], []
    ...         for is_end, (ids, label) in self.sample(random):
    ...             batch_x.append(ids)
    ...             batch_y.append([label])
    ...             if len(batch_x) == self.batch_size or is_end:
    ...                 yield [sequence_padding(batch_x)], sequence_padding(batch_y)
    ...                 batch_x, batch_y = [], []
    >>> gen = Batches([([1, 2], 0), ([3], 1), ([4, 5, 6], 1)], batch_size=2)
    >>> len(gen)
    2
    >>> [x[0].shape for x, y in gen]
    [(2, 2), (1, 3)]
    >>> x, y = next(gen.forfit(random=False))
    >>> type(x).__name__, x[0].shape, y.shape
    ('tuple', (2, 2), (2, 1))
    """

    def __init__(self, data, batch_size=32, buffer_size=None):
        self.data = data
        self.batch_size = batch_size
        if hasattr(data, "__len__"):
            self.steps = -(-len(data) // batch_size)
        else:
            self.steps = None
        self.buffer_size = buffer_size or batch_size * 1000

    def __len__(self):
        if self.steps is None:
            raise TypeError(
                "`len()` of a `DataGenerator` needs `data` with a length; "
                "pass `steps_per_epoch` to `fit` yourself."
            )
        return self.steps

    def _shuffled(self):
        """The examples in random order (NumPy's global generator)."""
        if self.steps is not None:
            for i in np.random.permutation(len(self.data)):
                yield self.data[i]
            return
        held = []
        for d in self.data:
            held.append(d)
            if len(held) > self.buffer_size:
                yield held.pop(np.random.randint(len(held)))
        while held:
            yield held.pop(np.random.randint(len(held)))

    def sample(self, random=False):
        """Yields `(is_end, example)` over one epoch; `is_end` marks the last.

        Args:
            random: shuffle (`np.random`, so `np.random.seed` repeats it).
        """
        examples = self._shuffled() if random else iter(self.data)
        previous = None
        first = True
        for d in examples:
            if not first:
                yield False, previous
            previous, first = d, False
        if not first:
            yield True, previous

    def __iter__(self, random=False):
        raise NotImplementedError(
            "Subclass `DataGenerator` and write `__iter__(self, random=False)` "
            "to yield batches built from `self.sample(random)`."
        )

    def forfit(self, random=True):
        """Yields batches for `fit`, epoch after epoch, without end.

        Pass it with `steps_per_epoch=len(self)`, as bert4keras scripts do.
        Each batch of `__iter__(random)` comes out as Keras 3 takes it on
        every backend: a tuple `(inputs,)`, `(inputs, targets)` or
        `(inputs, targets, sample_weights)` (a trailing None target is left
        out), in which lists of arrays become tuples (TensorFlow's `fit`
        refuses lists), dicts stay dicts and every leaf is a NumPy array.

        Variable-length batches: Keras' TensorFlow data adapter fixes the
        shapes of the data from its first two batches and leaves a dimension
        open only where they differ (keras-team/keras#19124), so if they
        share their padded length, a later batch of another length stops
        `fit` with a `TypeError`. Hence in the first epoch, when the second
        batch has the first one's shapes (batch size aside), `forfit` reads
        on only until a batch differs from the first and swaps it with the
        second (`keras_rdkl._batching.lead_with_two_lengths`); when every
        batch of the first epoch has the first one's shapes, the search goes
        on into the second epoch (shuffled, it often holds one that differs),
        and that batch trades places with the first epoch's second. Only the order of
        the first two epochs changes; every batch is trained on, once per
        epoch save that one trade. The batches read ahead are held: at most
        the first two epochs and at most `buffer_size` examples' worth (so
        batches of one fixed shape are read that far before the first is
        yielded).
        TensorFlow opens a dimension only where those two batches differ: a
        second padded dimension that varies on its own (say a target
        length padded separately) stays fixed if the two happen to share
        it; pad such a dimension to a fixed length. JAX and PyTorch take
        each batch as it comes and only see the order change.

        Args:
            random: passed to `__iter__` (shuffle every epoch).
        """
        limit = max(2, -(-self.buffer_size // self.batch_size))
        first_two = itertools.chain(self._epoch(random), self._epoch(random))
        yield from _lead_with_two_shapes(first_two, limit)
        while True:
            yield from self._epoch(random)

    def _epoch(self, random):
        """One epoch of `__iter__(random)` as Keras takes it; raises if empty."""
        count = 0
        for batch in self.__iter__(random):
            count += 1
            yield _keras_batch(batch)
        if count == 0:
            raise ValueError("`__iter__` yielded no batch in an epoch.")

    def fortest(self, random=False):
        """Yields the inputs of every batch as `(inputs,)`, epoch after epoch.

        For `model.predict(gen.fortest(), steps=len(gen))`. The batches stay
        in order (predictions line up with the data), so on TensorFlow the
        first two must not share a padded length where later ones differ;
        predict batch by batch (`model.predict_on_batch(x)` in
        `for x, _ in gen:`) otherwise.

        Args:
            random: passed to `__iter__`.
        """
        while True:
            count = 0
            for batch in self.__iter__(random):
                count += 1
                yield (_to_arrays(batch[0]),)
            if count == 0:
                raise ValueError("`__iter__` yielded no batch in an epoch.")

    def to_dataset(self, types, shapes, names=None, padded_batch=False):
        """Not provided: pass `forfit()` to `fit` instead.

        bert4keras builds a `tf.data.Dataset` of single examples here for
        `tf.distribute` (its multi-GPU examples). With Keras 3, write
        `__iter__` to yield padded batches (`sequence_padding`) and pass
        `forfit()` with `steps_per_epoch=len(gen)`; it trains on every
        backend.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            "`DataGenerator.to_dataset` is not provided: yield padded batches "
            "from `__iter__` (with `sequence_padding`) and pass "
            "`model.fit(gen.forfit(), steps_per_epoch=len(gen), ...)`."
        )


def _lead_with_two_shapes(batches, limit):
    """Yields `batches` with the first that differs in shape from the first second.

    Holds back at most `limit` batches looking for it (see `forfit`).
    """
    batches = iter(batches)
    held = []
    for batch in batches:
        held.append(batch)
        differs = len(held) > 1 and _shapes(batch) != _shapes(held[0])
        if differs or len(held) > limit:
            break
    yield from lead_with_two_lengths(held, _shapes)
    yield from batches
