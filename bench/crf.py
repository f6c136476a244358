"""Benchmark: the CRF loss and Viterbi decoding, per form, backend and size.

Two tables, every contender timed in the same process, in interleaved rounds
(one call of each per round), medians in ms:

1. Sweep, batch 32, tags {9, 21} x L {16, 64, 128, 256}, every backend on its
   usual path (jax.jit, tf.function with XLA, torch eager): forward+backward
   of `sum(crf_negative_log_likelihood(...))` with respect to the emissions
   and transitions for `method="sequential"` and `method="parallel"`, and
   `viterbi_decode`. On PyTorch also the `keras.ops` forms that the PyTorch
   kernels replace (`ops seq`, `ops viterbi`) and pytorch-crf (its
   negative log-likelihood, `reduction="sum"`, and `decode`). What
   `method="auto"` picks (`keras_rdkl._kernels.crf_auto_method`) is read
   from this table.
2. Against pytorch-crf on PyTorch at the sizes of issue 28 (batch 32, L = 64
   and 128, 21 tags; batch 8, L = 256, 9 tags): the loss with
   `method="auto"` and `viterbi_decode`, with the per-round ratio to
   pytorch-crf (median and bootstrap 95% interval).

Each backend runs in its own subprocess; writes bench/results/crf.md.

    pip install -e .[bench]                 # pytorch-crf
    .venv/bin/python bench/crf.py            # both tables, every backend
    .venv/bin/python bench/crf.py --quick    # smoke run
"""

import os
import time

import _common

TAGS = (9, 21)
LENGTHS = (16, 64, 128, 256)
PEER_SIZES = ((32, 64, 21), (32, 128, 21), (8, 256, 9))
LOSS_FORMS = ("sequential", "parallel", "ops seq", "pytorch-crf")
DECODE_FORMS = ("viterbi", "ops viterbi", "pytorch-crf decode")


def _data(batch, length, tags, seed=0):
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    e = rng.normal(size=(batch, length, tags)).astype("float32")
    a = rng.normal(size=(tags, tags)).astype("float32")
    y = rng.integers(0, tags, size=(batch, length)).astype("int32")
    t = keras.ops.convert_to_tensor
    return t(y), t(e), t(a)


def _ops_seq_loss(y, e, a):
    from keras_rdkl.losses import crf as crf_mod

    e, a, valid = crf_mod.prepare_emissions(e, a)
    log_z = crf_mod._log_norm_sequential(e, a, valid)
    return log_z - crf_mod.crf_path_score(y, e, a, valid)


def _loss_fn(form):
    from keras import ops

    from keras_rdkl.losses import crf_negative_log_likelihood

    if form == "ops seq":
        return lambda y, e, a: ops.sum(_ops_seq_loss(y, e, a))
    method = "auto" if form == "auto" else form
    return lambda y, e, a: ops.sum(crf_negative_log_likelihood(y, e, a, method=method))


def _fwd_bwd(fn, y, e, a):
    """A callable that runs forward+backward once and waits for the result."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        f = jax.jit(jax.value_and_grad(fn, argnums=(1, 2)))
        return lambda: jax.block_until_ready(f(y, e, a))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def f(y, x, b):
            with tf.GradientTape() as tape:
                tape.watch([x, b])
                v = fn(y, x, b)
            return v, tape.gradient(v, [x, b])

        return lambda: tf.nest.map_structure(lambda t: t.numpy(), f(y, e, a))

    def step():
        x = e.detach().requires_grad_(True)
        b = a.detach().requires_grad_(True)
        fn(y, x, b).backward()
        return x.grad.sum().item()  # waits, as a training step's loss read does

    return step


def _decode(form, y, e, a):
    import keras
    from keras import ops

    from keras_rdkl import viterbi

    backend = keras.backend.backend()
    if form == "ops viterbi":

        def fn(x, b):
            x, b, valid = viterbi.prepare_emissions(x, b)
            zeros = ops.zeros((x.shape[-1],), x.dtype)
            return viterbi._viterbi_ops(x, b, valid, zeros, zeros)

    else:

        def fn(x, b):
            return viterbi.viterbi_decode(x, b)

    if backend == "jax":
        import jax

        f = jax.jit(fn)
        return lambda: jax.block_until_ready(f(e, a))
    if backend == "tensorflow":
        import tensorflow as tf

        f = tf.function(fn, jit_compile=True)
        return lambda: tf.nest.map_structure(lambda t: t.numpy(), f(e, a))
    return lambda: fn(e, a)[0].cpu().numpy()


def _peer(tags, decode):
    import torch
    from torchcrf import CRF

    torch.manual_seed(0)
    crf = CRF(tags, batch_first=True)

    def make(y, e, a):
        y = y.long()
        mask = torch.ones(y.shape, dtype=torch.bool)
        if decode:

            def run():
                with torch.no_grad():
                    return crf.decode(e, mask)

            return run

        def step():
            x = e.detach().requires_grad_(True)
            crf.zero_grad()
            (-crf(x, y, mask, reduction="sum")).backward()
            return x.grad.sum().item()

        return step

    return make


def _contenders(forms, tags):
    """name -> maker(y, e, a) of a callable, for the forms this backend runs."""
    import keras

    torch = keras.backend.backend() == "torch"
    out = {}
    for form in forms:
        if form in ("ops seq", "ops viterbi", "pytorch-crf", "pytorch-crf decode"):
            if not torch:
                continue
        if form.startswith("pytorch-crf"):
            try:
                out[form] = _peer(tags, decode=form.endswith("decode"))
            except ImportError:
                continue
        elif form in ("viterbi", "ops viterbi"):
            out[form] = lambda y, e, a, form=form: _decode(form, y, e, a)
        else:
            out[form] = lambda y, e, a, form=form: _fwd_bwd(_loss_fn(form), y, e, a)
    return out


def _rounds(calls, repeats):
    """Per-contender `(median ms, [ms per round])`, interleaved rounds."""
    import numpy as np

    names = list(calls)
    for name in names:
        calls[name]()  # compile / warm up
        calls[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: (float(np.median(t)), t) for name, t in times.items()}


def _limit_threads(threads):
    """Runs every backend on `threads` intra-op threads (before it is imported).

    On a small machine shared with other jobs, two-thread eager PyTorch waits
    on a busy core at every small kernel and its timings vary tenfold.
    """
    if not threads:
        return
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
    )
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def run_worker(args):
    _limit_threads(args.threads)
    sweep = []
    lengths = LENGTHS[:2] if args.quick else LENGTHS
    for tags in TAGS:
        for length in lengths:
            y, e, a = _data(args.batch, length, tags)
            makers = _contenders(LOSS_FORMS + DECODE_FORMS, tags)
            calls = {name: make(y, e, a) for name, make in makers.items()}
            times = _rounds(calls, args.repeats)
            sweep.append(
                {"tags": tags, "L": length} | {name: t[0] for name, t in times.items()}
            )
    peer = []
    import keras

    if keras.backend.backend() == "torch":
        for batch, length, tags in PEER_SIZES[:1] if args.quick else PEER_SIZES:
            y, e, a = _data(batch, length, tags)
            makers = _contenders(("auto", "pytorch-crf"), tags)
            makers |= {
                "viterbi": _contenders(("viterbi",), tags)["viterbi"],
                "pytorch-crf decode": _contenders(("pytorch-crf decode",), tags)[
                    "pytorch-crf decode"
                ],
            }
            calls = {name: make(y, e, a) for name, make in makers.items()}
            times = _rounds(calls, args.peer_repeats)
            row = {"B": batch, "L": length, "tags": tags}
            row |= {name: t[0] for name, t in times.items()}
            row["loss ratio"] = _common.paired_ratio(times, "auto", "pytorch-crf")
            row["decode ratio"] = _common.paired_ratio(
                times, "viterbi", "pytorch-crf decode"
            )
            peer.append(row)
    _common.emit({"sweep": sweep, "peer": peer})


def _cell(row, name):
    value = row.get(name)
    return "" if value is None else f"{value:.2f}"


def main():
    parser = _common.parser(__doc__, "two lengths, three rounds")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--peer-repeats", type=int, default=15)
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads (0: the default)"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats = args.peer_repeats = 3
    if args.worker:
        run_worker(args)
        return
    forms = LOSS_FORMS + DECODE_FORMS
    sweep = [
        f"Sweep: batch {args.batch}, median ms of {args.repeats} interleaved rounds. "
        "Loss columns: forward+backward of the summed negative log-likelihood; "
        "decode columns: a batch's best paths.",
        "",
        "| backend | tags | L | " + " | ".join(forms) + " |",
        "|---|---|---|" + "---|" * len(forms),
    ]
    peer = [
        f"Against pytorch-crf (PyTorch eager), median ms of {args.peer_repeats} "
        "interleaved rounds; ratio = ours / pytorch-crf, median of the per-round "
        "ratios [bootstrap 95% interval].",
        "",
        "| B | L | tags | loss (auto) | pytorch-crf loss | loss ratio "
        "| viterbi_decode | pytorch-crf decode | decode ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    extra = [
        "--batch",
        str(args.batch),
        "--repeats",
        str(args.repeats),
        "--peer-repeats",
        str(args.peer_repeats),
        "--threads",
        str(args.threads),
    ] + (["--quick"] if args.quick else [])
    for backend in args.backends:
        result = _common.run_worker(__file__, backend, extra)
        for row in result["sweep"]:
            cells = " | ".join(_cell(row, f) for f in forms)
            sweep.append(f"| {backend} | {row['tags']} | {row['L']} | {cells} |")
        for row in result["peer"]:
            lr, dr = row["loss ratio"], row["decode ratio"]
            peer.append(
                f"| {row['B']} | {row['L']} | {row['tags']} | {row['auto']:.2f} "
                f"| {row['pytorch-crf']:.2f} | {lr[0]:.2f} [{lr[1]:.2f}, {lr[2]:.2f}] "
                f"| {row['viterbi']:.2f} | {row['pytorch-crf decode']:.2f} "
                f"| {dr[0]:.2f} [{dr[1]:.2f}, {dr[2]:.2f}] |"
            )
    table = "\n".join(sweep + [""] + peer)
    print(table)
    suffix = "_quick" if args.quick else ""
    if args.threads != 1:
        suffix += f"_threads{args.threads}"
    _common.write_page(
        os.path.join(_common.ROOT, "bench", "results", f"crf{suffix}.md"),
        "CRF loss and Viterbi decoding",
        __file__,
        f"Settings: batch {args.batch} in the sweep; emissions and transitions "
        "N(0, 1), every step unmasked; "
        + (f"{args.threads} intra-op thread(s)" if args.threads else "default threads")
        + " per backend.",
        table,
    )


if __name__ == "__main__":
    main()
