"""Backend-specific code sits behind one seam: keras_rdkl/_kernels.py.

Every other module is written in `keras.ops` and never asks which backend
runs (`keras.backend.backend()`) nor imports a backend library, except where
a file format needs one (reading a TensorFlow checkpoint).
"""

import ast
import pathlib

import keras_rdkl

ROOT = pathlib.Path(keras_rdkl.__file__).parent
SEAM = {"_kernels.py", "_torch_kernels.py", "_autodiff.py"}
BACKEND_LIBRARIES = {"torch", "jax", "jaxlib", "tensorflow"}
# Modules that import a backend library for a file format, not for numerics.
FORMAT_READERS = {("compat/_bert.py", "tensorflow")}
# Modules that ask which backend runs to pick Keras' exporter for a file
# format (which backends export which format), not to pick numerics.
EXPORTERS = {"ner/serving.py"}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name not in SEAM:
            yield name, ast.parse(path.read_text(encoding="utf-8"))


def _is_backend_call(node):
    """`keras.backend.backend()` or `backend.backend()`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "backend"
        and isinstance(node.func.value, (ast.Attribute, ast.Name))
        and getattr(node.func.value, "attr", getattr(node.func.value, "id", None))
        == "backend"
    )


def _imported_libraries(node):
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return {node.module.split(".")[0]}
    return set()


def test_no_module_but_the_seam_branches_on_the_backend():
    found = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if name not in EXPORTERS
        for node in ast.walk(tree)
        if _is_backend_call(node)
    ]
    assert found == [], "call keras_rdkl._kernels instead of branching here"


def test_no_module_but_the_seam_imports_a_backend_library():
    found = [
        f"{name}:{node.lineno} imports {library}"
        for name, tree in _modules()
        for node in ast.walk(tree)
        for library in _imported_libraries(node) & BACKEND_LIBRARIES
        if (name, library) not in FORMAT_READERS
    ]
    assert found == []


def test_the_checks_would_fail():
    tree = ast.parse(
        "import keras\nif keras.backend.backend() == 'torch':\n import torch\n"
    )
    assert any(_is_backend_call(node) for node in ast.walk(tree))
    assert any("torch" in _imported_libraries(node) for node in ast.walk(tree))
