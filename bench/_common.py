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


def train_step_medians(contenders, repeats, warmup):
    """Median `train_on_batch` seconds of each compiled `{name: (model, x, y)}`.

    Each model is warmed up first; then the contenders run interleaved, one
    step each per round, so drift on a shared machine hits all alike.
    """
    import time

    import numpy as np

    for model, x, y in contenders.values():
        for _ in range(warmup):
            model.train_on_batch(x, y)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (model, x, y) in contenders.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def versions():
    out = {}
    for mod in ("keras", "tensorflow", "jax", "torch", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - report what is installed
            out[mod] = "n/a"
    return out


def machine_line():
    """Machine, cores, load average and versions, for a results page."""
    return (
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
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
