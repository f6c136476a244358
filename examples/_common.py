"""Helpers the example scripts share: the command that reproduces a run, and its report.

Examples are scripts (`python examples/<name>.py`), so this folder is on
`sys.path` and they `import _common`, as the benchmarks import `bench/_common.py`.
A copied example needs this file beside it.
"""

import json
import os
import pathlib
import platform
import sys

import keras

import keras_rdkl


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
