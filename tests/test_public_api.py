"""Every subpackage declares its public names in `__all__`, and they resolve."""

import importlib
import pkgutil
import types

import pytest

import keras_rdkl


def _subpackages():
    names = ["keras_rdkl"]
    for info in pkgutil.iter_modules(keras_rdkl.__path__, "keras_rdkl."):
        if info.ispkg:
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _subpackages())
def test_subpackage_all_lists_exactly_its_public_names(name):
    package = importlib.import_module(name)
    assert hasattr(package, "__all__"), f"{name} has no __all__"
    exported = list(package.__all__)
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    for symbol in exported:
        assert hasattr(package, symbol), (
            f"{name}.__all__ names {symbol!r}, which is missing"
        )
    # Every public name the package defines or re-exports is listed (submodules
    # that are not re-exported on purpose, such as implementation files, are not).
    public = {
        symbol
        for symbol, value in vars(package).items()
        if not symbol.startswith("_")
        and not (
            isinstance(value, types.ModuleType)
            and not value.__name__.startswith(name + ".")
        )
    }
    submodules = {
        symbol
        for symbol in public
        if isinstance(getattr(package, symbol), types.ModuleType)
    }
    listed_modules = submodules & set(exported)
    missing = public - set(exported) - (submodules - listed_modules)
    assert not missing, (
        f"{name} exports {sorted(missing)} without listing them in __all__"
    )


def test_star_import_gives_the_public_api():
    namespace = {}
    exec("from keras_rdkl.losses import *", namespace)
    assert "MultilabelCategoricalCrossentropy" in namespace
    assert "_checks" not in namespace
