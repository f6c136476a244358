"""The package as it was at an earlier commit, importable beside today's.

`load(commit)` extracts `keras_rdkl/` at `commit` from this repository's git
history into a temporary folder as `keras_rdkl_prev` (every `keras_rdkl`
in its source renamed, registered Keras names included, so nothing
collides with today's package) and imports it. Benchmarks use it to time
the previous code side by side with the current one in one process.
"""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "keras_rdkl_prev"


def extract(commit):
    """Writes `keras_rdkl/` at `commit` into a new temporary folder as
    `keras_rdkl_prev`; returns the folder (to put on `sys.path`)."""
    folder = tempfile.mkdtemp(prefix="keras_rdkl_prev_")
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", commit, "keras_rdkl"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    os.rename(os.path.join(folder, "keras_rdkl"), os.path.join(folder, NAME))
    for base, _, files in os.walk(os.path.join(folder, NAME)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(base, name)
                with open(path, encoding="utf-8") as f:
                    source = f.read()
                with open(path, "w", encoding="utf-8") as f:
                    f.write(re.sub(r"\bkeras_rdkl\b", NAME, source))
    return folder


def load(commit):
    """Imports and returns `keras_rdkl` as of `commit`, named `keras_rdkl_prev`."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    sys.path.insert(0, extract(commit))
    import importlib

    return importlib.import_module(NAME)
