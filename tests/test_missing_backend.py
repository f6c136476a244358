"""`import keras_rdkl` without the selected backend says which one and what to install.

Backend-independent: each case runs Python in a subprocess in which the backend's
package is hidden by a stand-in that raises ModuleNotFoundError, as a machine
without it would.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _import_without(module, tmp_path, keras_backend):
    hidden = tmp_path / "hidden" / module
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{module}'\", name={module!r})\n"
    )
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    if keras_backend is not None:
        env["KERAS_BACKEND"] = keras_backend
    # An empty Keras home: no user keras.json picks another backend.
    env["KERAS_HOME"] = str(tmp_path / "keras_home")
    env["PYTHONPATH"] = os.pathsep.join([str(hidden.parent), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-c", "import keras_rdkl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_missing_backend_names_it_and_the_install_command(backend, tmp_path):
    result = _import_without(backend, tmp_path, keras_backend=backend)
    assert result.returncode != 0
    last = result.stderr[result.stderr.rindex("ModuleNotFoundError: keras_rdkl") :]
    assert f"its backend '{backend}' (KERAS_BACKEND={backend})" in last
    assert f"No module named '{backend}'" in last
    assert f'pip install "keras-rdkl[{backend}]"' in last
    assert "set KERAS_BACKEND=" in last
    # The original error is chained, not swallowed.
    assert "direct cause of the following exception" in result.stderr


def test_missing_default_backend_says_keras_backend_is_unset(tmp_path):
    result = _import_without("tensorflow", tmp_path, keras_backend=None)
    assert result.returncode != 0
    last = result.stderr[result.stderr.rindex("ModuleNotFoundError: keras_rdkl") :]
    assert "its backend 'tensorflow' (KERAS_BACKEND is unset" in last
    assert 'pip install "keras-rdkl[tensorflow]"' in last
    assert 'pip install "keras-rdkl[jax]"   and set KERAS_BACKEND=jax' in last
