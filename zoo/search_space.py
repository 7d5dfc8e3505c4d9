"""The search space of ``python train.py -m hparams_search=...`` (``zoo.hparams_search``): Optuna
distributions from ``hydra.sweeper.params`` (``key: {type: float|int|categorical, ...}``) and from
sweeps on the command line in Hydra's syntax, and the overrides a trial's values become."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from zoo.errors import SettingError

SPEC_KEYS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}, "categorical": {"choices"}}

# --- the search space ----------------------------------------------------------------------------------


def distribution(key: str, spec: Any) -> Any:
    """An Optuna distribution from a ``hydra.sweeper.params`` entry: ``{type: float, low: 1e-4,
    high: 1e-1, log: true}``, ``{type: int, low: 1, high: 4, step: 1}``, ``{type: categorical,
    choices: [32, 64]}`` (or just the list), or a string in Hydra's sweep syntax."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(spec, (DictConfig, ListConfig)):
        spec = OmegaConf.to_container(spec, resolve=True)
    if isinstance(spec, str):
        return sweep_distribution(key, spec)
    if isinstance(spec, list):
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict) or spec.get("type") not in SPEC_KEYS:
        raise SettingError(
            f"hydra.sweeper.params.{key}: {spec!r} is not a search range; write {{type: float, low: .., high: ..,"
            " log: true}, {type: int, low: .., high: ..} or {type: categorical, choices: [..]}"
        )
    kind = spec["type"]
    unknown = set(spec) - SPEC_KEYS[kind] - {"type"}
    if unknown:
        raise SettingError(
            f"hydra.sweeper.params.{key}: a {kind} range takes {sorted(SPEC_KEYS[kind])}, not {sorted(unknown)}"
        )
    try:
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ValueError("choices must be a non-empty list")
            return CategoricalDistribution(choices)
        if "low" not in spec or "high" not in spec:
            raise ValueError("needs low and high")
        if kind == "float":
            step = None if spec.get("step") is None else float(spec["step"])
            log_scale = bool(spec.get("log", False))
            return FloatDistribution(float(spec["low"]), float(spec["high"]), log=log_scale, step=step)
        return IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                               step=int(spec.get("step") or 1))  # fmt: skip
    except (ValueError, TypeError) as error:
        raise SettingError(f"hydra.sweeper.params.{key}: {error}") from None


def sweep_distribution(key: str, text: str) -> Any:
    """An Optuna distribution from Hydra's sweep syntax: ``choice(a,b)`` or ``a,b``, ``range(start, stop,
    step)`` (stop excluded, as Hydra's), ``interval(low, high)``; ``tag(log, ...)`` for a log scale,
    ``tag(int, interval(...))`` for integers."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (override,) = OverridesParser.create().parse_overrides([f"{key}={text}"])
    except Exception as error:  # Hydra's parser error: one line
        raise SettingError(f"hydra.sweeper.params.{key}: cannot read {text!r}: {str(error).splitlines()[0]}") from None
    found = override_distribution(override)
    if found is None:
        raise SettingError(
            f"hydra.sweeper.params.{key}: {text!r} is one value, not a range:"
            " give choice(..), interval(..) or range(..)"
        )
    return found


def override_distribution(override: Any) -> Any:
    """The distribution of a parsed Hydra sweep override, or None when it is not a sweep."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return None
    value, key = override.value(), override.key_or_group
    tags = set(getattr(value, "tags", ()) or ())
    if isinstance(value, IntervalSweep):
        if "int" in tags:
            return IntDistribution(int(value.start), int(value.end), log="log" in tags)
        return FloatDistribution(float(value.start), float(value.end), log="log" in tags)
    if "log" in tags:
        raise SettingError(f"{key}: tag(log, ...) goes with interval(low, high) only")
    if isinstance(value, RangeSweep):
        values = list(value.range())
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)) and value.step > 0 and values:
            return IntDistribution(values[0], values[-1], step=value.step)
        return CategoricalDistribution(values)
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution([choice_value(v) for v in value.list])
    raise SettingError(f"{key}: {override.input_line!r} is a sweep the Optuna sweeper cannot search (glob)")


def choice_value(value: Any) -> Any:
    """A parsed Hydra choice as Optuna takes it (None, bool, int, float or str)."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def search_space(params: Mapping[str, Any], arguments: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """(the overrides every trial gets, the search space) from the configured params and the command line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space = {str(key): distribution(str(key), spec) for key, spec in (params or {}).items()}
    fixed = []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        found = override_distribution(override)
        if found is not None:
            space[override.key_or_group] = found
        else:
            space.pop(override.key_or_group, None)  # fixed on the command line
            fixed.append(override.input_line)
    return fixed, space


def override_value(value: Any, float_param: bool = False) -> str:
    """A sampled value as the text of a Hydra override: six significant digits for floats (what the
    trial runs with, and what the best trial's command repeats)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) or (float_param and isinstance(value, int)):
        text = f"{float(value):.6g}"
        return text if re.search(r"[.e]|inf|nan", text) else f"{text}.0"
    if isinstance(value, str) and not re.fullmatch(r"[\w.\-/]+", value):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def trial_overrides(params: Mapping[str, Any], space: Mapping[str, Any]) -> list[str]:
    from optuna.distributions import FloatDistribution

    return [f"{key}={override_value(params[key], isinstance(space[key], FloatDistribution))}" for key in space]
