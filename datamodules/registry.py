"""Data-module classes by name: a data config (and a checkpoint's record of it) says ``module: mnist``,
never a class path, so rebuilding a run's data from a file can only reach the classes registered here.

A data module registers itself with ``@register_data_module("name")`` in its own file of this
package; ``data_modules()`` imports every file of the package, so a new data set is one file here
and its config in ``configs/data/``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Callable, TypeVar

import lightning as L

DATA_MODULES: dict[str, type[L.LightningDataModule]] = {}
Module = TypeVar("Module", bound=type)


def register_data_module(name: str) -> Callable[[Module], Module]:
    """Class decorator: the data module that a data config's ``module: <name>`` builds."""

    def decorate(cls: Module) -> Module:
        if DATA_MODULES.get(name, cls) is not cls:
            raise ValueError(f"data module {name!r} is registered twice")
        DATA_MODULES[name] = cls
        return cls

    return decorate


@functools.cache
def _import_package_files() -> None:
    import datamodules

    for module in pkgutil.iter_modules(datamodules.__path__):
        importlib.import_module(f"datamodules.{module.name}")


def data_modules() -> dict[str, type[L.LightningDataModule]]:
    """Every registered data module by name (the package's files imported once)."""
    _import_package_files()
    return DATA_MODULES


def data_module_names() -> list[str]:
    return sorted(data_modules())
