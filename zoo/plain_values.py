"""Settings read from files are data: plain values, checked against what they configure.

A checkpoint's hyper-parameters, a ``.safetensors`` file's metadata and a weights file are rebuilt
through what the zoo owns (registry names, our data-module classes chosen by name, optimisers and
schedules from a table), never through ``hydra.utils.instantiate``, ``importlib``, ``eval`` or pickle.
``find_code_reference`` spots what a Hydra or OmegaConf reader would have turned into code;
``check_arguments`` checks keyword values against the signature they are passed to.
"""

from __future__ import annotations

import inspect
import math
import os
import types
import typing
from typing import Any, Callable, Iterator, Mapping

# the keys hydra.utils.instantiate acts on
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_args_", "_recursive_", "_convert_"})
PLAIN_SCALARS = (type(None), bool, int, float, str)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, key, value) for every entry of nested dicts, lists and tuples; key is None for items."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, key, item
            yield from _walk(item, where)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            yield where, None, item
            yield from _walk(item, where)


def find_code_reference(value: Any, path: str = "", tensors_allowed: bool = True) -> str | None:
    """Where ``value`` holds something that is not plain data: a Hydra key (``_target_`` at any
    depth), an OmegaConf interpolation (``${...}``, which resolvers turn into lookups and calls),
    or an object other than plain scalars, containers and (if allowed) tensors. None if it is clean."""
    import torch

    for where, key, item in _walk(value, path):
        if isinstance(key, str) and key in HYDRA_KEYS:
            return f"{where} (a Hydra {key} key)"
        if key is not None and not isinstance(key, PLAIN_SCALARS):
            return f"{where} (a key of type {type(key).__name__})"
        if isinstance(item, str) and "${" in item:
            return f"{where} (an interpolation {item[:40]!r})"
        if isinstance(item, (Mapping, list, tuple, *PLAIN_SCALARS)):
            continue
        if tensors_allowed and isinstance(item, torch.Tensor):
            continue
        return f"{where} (an object of type {type(item).__name__})"
    return None


def _matches(value: Any, expected: Any) -> bool:
    """Whether a plain value fits a type annotation (unknown annotations accept any plain value)."""
    if expected is Any or expected is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(expected))
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if expected is type(None) or expected is None:
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence) or expected in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        items = [a for a in typing.get_args(expected) if a is not Ellipsis]
        return len(items) != 1 or all(_matches(item, items[0]) for item in value)
    if origin is dict or expected is dict or origin is Mapping:
        return isinstance(value, Mapping)
    if inspect.isclass(expected):  # a plain value stands for a path, never for a tensor or another object
        return isinstance(value, expected) or (issubclass(expected, os.PathLike) and isinstance(value, str))
    return True  # a construct we do not check (a callable, a type variable): plainness was checked already


def _annotations(function: Callable) -> dict[str, Any]:
    target = function.__init__ if inspect.isclass(function) else function
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references (some torch signatures): fall back to defaults
        return {}


def check_arguments(function: Callable, arguments: Mapping[str, Any]) -> str | None:
    """The problem with calling ``function(**arguments)`` (an unknown keyword, a value of the wrong
    type, a number that is NaN), or None. Parameters without annotations are checked against their
    default's type; ``**kwargs`` accepts any plain value."""
    signature = inspect.signature(function)
    parameters = signature.parameters
    hints = _annotations(function)
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name, value in arguments.items():
        if not isinstance(value, (*PLAIN_SCALARS, list, tuple, Mapping)):
            return f"{name}={value!r} is not a plain value"
        if isinstance(value, float) and math.isnan(value):
            return f"{name} is NaN"
        parameter = parameters.get(name)
        if parameter is None or parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            if open_ended:
                continue
            valid = [p for p in parameters if p not in ("self", "params")]
            return f"{name} is not one of its settings (valid: {', '.join(valid)})"
        expected = hints.get(name, parameter.annotation)
        if isinstance(expected, str) or expected is inspect.Parameter.empty:
            default = parameter.default
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                expected = float  # a number: SGD's momentum defaults to the int 0
            else:
                expected = Any if default is None or default is inspect.Parameter.empty else type(default)
        if not _matches(value, expected):
            shown = getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
            return f"{name}={value!r} is not {'an' if shown[0] in 'aeiou' else 'a'} {shown}"
    return None
