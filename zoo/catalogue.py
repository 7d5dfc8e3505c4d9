"""Published weights: zoo-trained networks that load offline in one call, each with its exact recipe.

A recipe is ``weights/recipes/<model>.<tag>.yaml`` (the experiment, its overrides and seed, and the
paper's number to compare with). ``python -m zoo.weights build <model>.<tag>`` trains it through
``train.py``'s code, tests the best-validation checkpoint on the official test split, and writes
``weights/<model>.<tag>.safetensors``: the network's tensors with the settings ``zoo.load`` rebuilds
it from (metadata ``zoo``, as ``zoo.export_safetensors`` writes) and the entry's record (metadata
``zoo_entry``: command, commit, library versions, machine, wall time, test metrics). The file's
sha256 and size go into ``weights/index.json``; loading checks them, so a tampered or truncated file
is refused in one line.

An entry may instead be published off the repository: with a ``"url"`` (https:// or file://) its file
is downloaded once into the torch hub cache (``$TORCH_HOME/hub/checkpoints/zoo/<file>``) and checked
against the same size and sha256 there; ``zoo.weights_download`` does that, and ``offload`` records
a URL in an entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = ROOT / "weights"
RECIPES_DIR = WEIGHTS_DIR / "recipes"
INDEX = WEIGHTS_DIR / "index.json"


class CatalogueError(ZooError, ValueError):
    """An unknown model or tag, or a published file that is missing, tampered with or truncated."""


def recipes() -> dict[str, dict[str, Any]]:
    """Every recipe by entry name (``<model>.<tag>``), from ``weights/recipes/``."""
    from omegaconf import OmegaConf

    return {path.stem: OmegaConf.to_container(OmegaConf.load(path)) for path in sorted(RECIPES_DIR.glob("*.yaml"))}


def index() -> dict[str, dict[str, Any]]:
    """The published entries (what ``build`` recorded), by entry name."""
    return json.loads(INDEX.read_text()) if INDEX.is_file() else {}


def list_weights(model: str | None = None) -> list[dict[str, Any]]:
    """One row per published weight: model, tag, data, headline metric and value, parameters, file size."""
    rows = []
    for name, entry in sorted(index().items()):
        if model is None or entry["model"] == model:
            keep = ("model", "tag", "data", "metric", "value", "paper", "parameters", "bytes", "sha256")
            rows.append({"name": name, **{key: entry.get(key) for key in keep}})
    return rows


def write_index(entries: dict[str, dict[str, Any]]) -> None:
    """Write ``weights/index.json`` atomically, in its one format (sorted keys, two-space indent)."""
    from zoo.atomic import atomic_write_text

    atomic_write_text(INDEX, json.dumps(entries, indent=2, sort_keys=True) + "\n")


def mismatch(path: Path, entry: dict[str, Any]) -> str | None:
    """None when ``path`` has the entry's size and sha256, else both, as found and as recorded."""
    size, digest = path.stat().st_size, sha256_of(path)
    if size == entry["bytes"] and digest == entry["sha256"]:
        return None
    return f"{size} bytes, sha256 {digest[:12]}..., recorded {entry['bytes']} bytes, {entry['sha256'][:12]}..."


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(model: str, tag: str) -> Path:
    """The checked file of ``<model>.<tag>`` (one line when the tag is unknown or the file does not match the index):
    ``weights/<file>``, or for an entry with a ``url`` its copy in the torch hub cache, downloaded if absent."""
    entries = index()
    name = f"{model}.{tag}"
    if name not in entries:
        tags = sorted(entry["tag"] for entry in entries.values() if entry["model"] == model)
        known = f"published tags of {model!r}: {', '.join(tags)}" if tags else f"the zoo publishes no weights of {model!r}"
        raise CatalogueError(f"no weights {tag!r} for {model!r} ({known}); zoo.list_weights() lists them all")
    entry = entries[name]
    if entry.get("url"):  # published off the repository: downloaded once into the torch hub cache
        from zoo.weights_download import cached_file

        return cached_file(name, entry)
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise CatalogueError(f"{path} is missing: restore it (git checkout -- {shown(path)}) or rebuild it"
                             f" with python -m zoo.weights build {name}")  # fmt: skip
    problem = mismatch(path, entry)
    if problem:
        raise CatalogueError(f"{path} does not match the catalogue ({problem}): it was changed or truncated; restore"
                             f" it (git checkout -- {shown(path)}) or rebuild it with python -m zoo.weights build {name}")  # fmt: skip
    return path


def shown(path: Path) -> Path:
    """``path`` relative to the repository when it is inside it (for ``git checkout -- <path>``)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def load_published(model: str, tag: str) -> Any:
    """What ``zoo.load(model, weights=tag)`` returns: the notebook object of the model's task."""
    from zoo.checkpoint import read_safetensors
    from zoo.inference import _model_from_config, _wrap

    path = weights_file(model, tag)
    config, state_dict = read_safetensors(path, vouched=True)  # its sha256 is the catalogue's
    return _wrap(_model_from_config(config, state_dict, path), config)
