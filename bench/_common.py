"""Helpers shared by the benchmarks: worker processes, peak memory, versions, machine line."""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")


def parser(doc, quick_help=None):
    """An argument parser with the options every worker benchmark shares.

    `--quick` (smoke run), `--backends` (default: all three) and the hidden
    `--worker` flag that `run_worker` passes to the child process.
    """
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument(
        "--backends",
        nargs="+",
        default=list(BACKENDS),
        choices=BACKENDS,
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def maxrss_mb():
    """The process' maximum resident set so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result):
    """A worker's answer: one `RESULT <json>` line on stdout."""
    print("RESULT " + json.dumps(result), flush=True)


def run_worker(script, backend, extra):
    """Runs `script --worker *extra` under `backend`; returns what it `emit`ted."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, os.path.abspath(script), "--worker", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{backend} worker failed:\n{proc.stderr[-3000:]}")


def mlp(keras, width):
    """The MLP 256-W-W-10 with dropout 0.1 of the R-Drop benchmarks (a fresh model)."""
    inputs = keras.Input((256,))
    h = inputs
    for _ in range(2):
        h = keras.layers.Dense(width, activation="relu")(h)
        h = keras.layers.Dropout(0.1)(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h), name="mlp")


def transformer_tagger(keras, vocab, length, hidden, layers, types, masked=False):
    """A small Transformer encoder + GlobalPointer (head size 32), dropout 0.1.

    `masked`: the GlobalPointer masks padding (token id 0).
    """
    from keras_rdkl.layers import GlobalPointer

    inputs = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(vocab, hidden)(inputs)
    for _ in range(layers):
        a = keras.layers.MultiHeadAttention(4, hidden // 4, dropout=0.1)(h, h)
        h = keras.layers.LayerNormalization()(h + keras.layers.Dropout(0.1)(a))
        f = keras.layers.Dense(4 * hidden, activation="gelu")(h)
        f = keras.layers.Dense(hidden)(f)
        h = keras.layers.LayerNormalization()(h + keras.layers.Dropout(0.1)(f))
    mask = keras.ops.not_equal(inputs, 0) if masked else None
    return keras.Model(inputs, GlobalPointer(types, 32)(h, mask=mask), name="gp_ner")


def fit_step_times(contenders, rounds, steps):
    """Training-step seconds of each compiled `{name: (model, x, y, batch_size)}` in `fit`.

    `x`, `y` hold `steps` batches. Each round runs one `fit` epoch of
    `steps` steps per contender, the contenders interleaved so that drift on
    a shared machine hits all alike, and in reverse order every other round
    so that no contender always runs first or right after the same model; a
    first round warms up and is dropped.
    A callback times each step from `on_train_batch_begin` to
    `on_train_batch_end`, after the step's loss has been read back (JAX
    dispatches asynchronously), so `fit`'s own setup per epoch is left out.

    Returns `{name: (median step over all rounds, [median step of each
    round])}`; the per-round medians give the paired ratios' spread.
    """
    import time

    import keras
    import numpy as np

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            keras.ops.convert_to_numpy(logs["loss"])
            self.times.append(time.perf_counter() - self.start)

    times = {name: [] for name in contenders}
    order = list(contenders.items())
    for r in range(rounds + 1):
        for name, (model, x, y, batch_size) in order if r % 2 else order[::-1]:
            timer = Timer()
            model.fit(
                x,
                y,
                batch_size=batch_size,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[timer],
            )
            if r:  # round 0 warms up
                times[name].append(timer.times)
    return {
        name: (float(np.median(t)), [float(np.median(row)) for row in t])
        for name, t in times.items()
    }


def paired_ratio(times, name, baseline, resamples=2000):
    """`(median of the per-round ratios name / baseline, 95% interval)`.

    Each round's ratio pairs two contenders timed moments apart, so slow
    drift of a shared machine cancels; the interval is the 2.5th-97.5th
    percentile of the median over bootstrap resamples of the rounds (a
    fixed seed, so a results file is reproducible from its timings).
    """
    import numpy as np

    rounds = np.array(times[name][1]) / np.array(times[baseline][1])
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(rounds, (resamples, rounds.size)), axis=1)
    low, high = np.quantile(medians, [0.025, 0.975])
    return float(np.median(rounds)), float(low), float(high)


def versions():
    out = {}
    for mod in ("keras", "tensorflow", "jax", "torch", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - report what is installed
            out[mod] = "n/a"
    return out


def cpu():
    """The processor's model, e.g. "AMD EPYC (family 23, model 49)".

    Timings of small eager steps differ between processors of one cloud
    (hosts change between sessions), so every results page names it. Linux'
    /proc/cpuinfo where it is readable, else what `platform` knows.
    """
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if not sep:
                    break  # the first processor's block ends at a blank line
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def machine_line():
    """Machine, cores, load average and versions, for a results page."""
    return (
        f"Machine: {platform.platform()}, {cpu()}, "
        f"{os.cpu_count()} CPU cores; 1-minute load average when it finished "
        f"{os.getloadavg()[0]:.1f}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions().items())
    )


def write_page(path, title, script, settings, table):
    """Writes a results page: title, the command that made it, machine, settings, table."""
    command = " ".join([f"python bench/{os.path.basename(script)}", *sys.argv[1:]])
    text = "\n".join(
        [
            f"# {title}",
            "",
            f"Command: `{command}`",
            "",
            machine_line(),
            "",
            settings,
            "",
        ]
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n" + table + "\n")
    print("wrote", path)
