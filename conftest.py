"""Doctest setup: the names every docstring example may use without importing.

`pytest` collects the docstring examples of every module under keras_rdkl/
(`--doctest-modules` in pyproject.toml) and runs them on whichever backend
`KERAS_BACKEND` selects, as the tests are.
"""

import importlib.util
import os

# `jit_compile=True` on PyTorch (torch.compile) compiles in one process: its
# default pool of compile workers takes every core from the other test worker.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _pytest.doctest import DoctestItem  # noqa: E402

# Modules of optional extras (`hub`): their examples run where it is installed.
collect_ignore = [
    path
    for path, needs in [
        ("keras_rdkl/compat/_bert.py", "keras_hub"),
        ("keras_rdkl/compat/_tokenizer.py", "tokenizers"),
    ]
    if importlib.util.find_spec(needs) is None
]


@pytest.fixture(autouse=True)
def _doctest_setup(request, doctest_namespace):
    if not isinstance(request.node, DoctestItem):
        yield
        return
    import keras_rdkl

    doctest_namespace.update(keras=keras, np=np, ops=keras.ops, keras_rdkl=keras_rdkl)
    keras.utils.set_random_seed(0)
    with np.printoptions(precision=4, suppress=True):
        yield
