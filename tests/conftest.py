"""Shared test setup: the backend in use and the real datasets beside the project."""

import importlib.util
import os
import pathlib

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()
ROOT = pathlib.Path(__file__).resolve().parents[1]
# Real corpora live outside the repository (see ../shared/data/README.md). The
# package finds them through $KERAS_RDKL_DATA (as `make test` sets it); set it
# here too for a plain `pytest` run, before any test reads it.
os.environ.setdefault("KERAS_RDKL_DATA", str(ROOT.parent / "shared" / "data"))
DATA_DIR = pathlib.Path(os.environ["KERAS_RDKL_DATA"])


def load_example(name):
    """Imports `examples/<name>.py` as a module (examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "examples" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def requires_data(folder):
    """Skip marker for tests that need a real corpus from ../shared/data."""
    path = DATA_DIR / folder
    return pytest.mark.skipif(
        not path.is_dir(), reason=f"real dataset folder {path} is not present"
    )


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Tests never download a dataset: a missing file fails instead of fetching it."""

    def refuse(fname=None, origin=None, **kwargs):
        raise OSError(f"tests do not download ({fname} from {origin})")

    monkeypatch.setattr(keras.utils, "get_file", refuse)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


def run_on_two_jax_devices(script):
    """Runs `script` in a fresh JAX process with two host CPU devices; returns
    the completed process (for `keras.distribution.DataParallel` tests)."""
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
