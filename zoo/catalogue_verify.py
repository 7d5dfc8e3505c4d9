"""``python -m zoo.weights verify <model>.<tag>``: is a published weight reproducible? Retrain it from its
recipe without publishing, compare the tensors with the published file's, and record the rebuild in
``weights/index.json`` (``rebuilds``: when, which commit, identical or how far apart, the metric)."""

from __future__ import annotations

import time
from typing import Any

from zoo.catalogue import CatalogueError, index, weights_file, write_index


def tensor_difference(published: dict[str, Any], rebuilt: dict[str, Any]) -> tuple[bool, float]:
    """Whether two state dicts hold the same tensors bit for bit, and their largest absolute difference."""
    if published.keys() != rebuilt.keys():
        return False, float("inf")
    identical = all(published[k].dtype == rebuilt[k].dtype and published[k].equal(rebuilt[k]) for k in published)
    largest = max(((published[k].double() - rebuilt[k].double()).abs().max().item() for k in published if published[k].numel()), default=0.0)
    return identical, largest


def verify(name: str, extra_overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """Rebuild ``name`` (``<model>.<tag>``) and record how it compares with the published weight
    (``extra_overrides``: for tests, the same as the build's)."""
    from safetensors.torch import load, load_file

    from zoo.catalogue_build import build

    entries = index()
    if name not in entries:
        raise CatalogueError(f"no published weight {name!r} to verify (published: {', '.join(sorted(entries))})")
    model, _, tag = name.partition(".")
    published = load_file(str(weights_file(model, tag)))
    rebuilt_entry = build(name, extra_overrides, write=False)
    identical, largest = tensor_difference(published, load(rebuilt_entry.pop("blob")))
    record = {
        "date": time.strftime("%Y-%m-%d"), "commit": rebuilt_entry["commit"], "versions": rebuilt_entry["versions"],
        "machine": rebuilt_entry["machine"], "threads": rebuilt_entry["threads"], "identical": identical,
        "max_abs_diff": largest, "metric": rebuilt_entry["metric"], "value": rebuilt_entry["value"],
        "wall_time_s": rebuilt_entry["wall_time_s"],
    }  # fmt: skip
    entries = index()  # read again: the build took minutes
    entries[name].setdefault("rebuilds", []).append(record)
    write_index(entries)
    return record


def reproducibility(entry: dict[str, Any]) -> str:
    """The rebuild records of an entry in words, for the README's table."""
    rebuilds = entry.get("rebuilds") or []
    if not rebuilds:
        return "not rebuilt yet"
    if all(r["identical"] for r in rebuilds):
        return f"bit-identical in {len(rebuilds)} rebuild{'s' * (len(rebuilds) > 1)}"
    values = [entry["value"], *(r["value"] for r in rebuilds)]
    return f"{sum(r['identical'] for r in rebuilds)} of {len(rebuilds)} rebuilds identical; {entry['metric']} {min(values):.4f}-{max(values):.4f}"
