"""``python -m zoo.weights build <model>.<tag> | all``: retrain a published weight from its recorded
recipe (``weights/recipes/``) and write its file and its catalogue entry (``zoo.catalogue``)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zoo.catalogue import INDEX, ROOT, WEIGHTS_DIR, CatalogueError, index, recipes

def train_command(recipe: dict[str, Any]) -> list[str]:
    """The ``train.py`` overrides that reproduce a recipe."""
    return [f"experiment={recipe['experiment']}", *recipe.get("overrides", []), f"seed={recipe['seed']}"]


def build(name: str) -> dict[str, Any]:
    """Train entry ``name`` from its recipe, test its best-validation checkpoint, publish it; returns its entry."""
    from zoo.config import compose_config
    from zoo.training import train

    known = recipes()
    if name not in known:
        raise CatalogueError(f"no recipe {name!r} in weights/recipes/ (recipes: {', '.join(known)})")
    recipe = known[name]
    with tempfile.TemporaryDirectory() as folder:
        cfg = compose_config("train", [*train_command(recipe), f"paths.log_dir={folder}"], Path(folder) / "run")
        start = time.perf_counter()
        metrics = train(cfg)
        wall = time.perf_counter() - start
        summary = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
        if not summary.get("best_checkpoint"):
            raise CatalogueError(f"recipe {name!r} saved no best checkpoint: its experiment must keep model_checkpoint")
        return publish(name, recipe, summary["best_checkpoint"], metrics, wall)


def publish(name: str, recipe: dict[str, Any], checkpoint: str, metrics: dict[str, float], wall: float) -> dict[str, Any]:
    """Write ``weights/<name>.safetensors`` from a checkpoint, and its entry into ``weights/index.json``."""
    from zoo.atomic import atomic_write_bytes, atomic_write_text
    from zoo.inference import load, safetensors_bytes
    from zoo.registry import get_model_entry
    from zoo.tasks import get_task

    loaded = load(checkpoint)
    settings = dict(loaded.config)  # every setting the task was built with: checked on reading
    model, tag = name.split(".", 1)
    task_cls = get_task(get_model_entry(settings["model"]["name"]).task)
    metric = recipe.get("metric") or task_cls.headline_metrics[0]
    record = {
        "model": model, "tag": tag, "data": settings["data_info"]["name"], "task": task_cls.name,
        "metric": metric, "value": round(float(metrics[metric]), 6), "paper": recipe.get("paper"),
        "test_metrics": {k: round(float(v), 6) for k, v in sorted(metrics.items()) if k.startswith("test/")},
        "command": f"python -m zoo.weights build {name}",
        "train_command": "python train.py " + " ".join(train_command(recipe)),
        "description": recipe.get("description", ""),
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "wall_time_s": round(wall, 1), **provenance(),
    }  # fmt: skip
    blob = safetensors_bytes(loaded.model, settings, zoo_entry=record)
    WEIGHTS_DIR.mkdir(exist_ok=True)
    atomic_write_bytes(WEIGHTS_DIR / f"{name}.safetensors", blob)
    entries = index()
    entries[name] = {**record, "file": f"{name}.safetensors", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write_text(INDEX, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries[name]


def provenance() -> dict[str, Any]:
    """The commit, library versions and machine a weight was trained with."""
    import lightning
    import torch

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
    }


README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- weights table: python -m zoo.weights readme -->", "<!-- end of weights table -->"


def weights_table() -> str:
    """The README's table of published weights, from the catalogue (no number typed by hand)."""
    lines = ["| weights | data | test metric | paper | parameters | file | trained | command |", "|---|---|---:|---|---:|---:|---:|---|"]
    for name, entry in sorted(index().items()):
        paper = entry.get("paper") or {}
        reference = f"{paper['value']:.4f} ({paper['source']})" if paper else ""
        lines.append(
            f"| `zoo.load(\"{entry['model']}\", weights=\"{entry['tag']}\")` | {entry['data']} | {entry['metric']} {entry['value']:.4f}"
            f" | {reference} | {entry['parameters']:,} | {entry['bytes'] / 2**20:.2f} MB | {entry['wall_time_s'] / 60:.1f} min"
            f" on {entry['machine']} | `{entry['command']}` |"
        )
    return "\n".join(lines)


def readme_with_table(text: str) -> str:
    """The README text with its weights table regenerated between the two markers."""
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    return text[:start] + "\n" + weights_table() + "\n" + text[end:]


def main(argv: list[str] | None = None) -> None:
    """``python -m zoo.weights build <model>.<tag> [...] | all``, ``list`` and ``readme`` (regenerate its table)."""
    from zoo.errors import ZooError

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["readme"]:
        from zoo.atomic import atomic_write_text

        atomic_write_text(README, readme_with_table(README.read_text()))
        print(f"wrote the weights table of {README}")
        return
    if argv[:1] == ["list"]:
        from zoo.catalogue import list_weights

        for row in list_weights():
            print(f"{row['name']:<28} {row['data']:<14} {row['metric']} {row['value']:.4f}  {row['parameters']:>10,} parameters  {row['bytes']:>11,} bytes")
        return
    if len(argv) < 2 or argv[0] != "build":
        print("usage: python -m zoo.weights build <model>.<tag> [...] | all   |   python -m zoo.weights list", file=sys.stderr)
        raise SystemExit(2)
    names = list(recipes()) if argv[1:] == ["all"] else argv[1:]
    try:
        for name in names:
            entry = build(name)
            print(f"built {name}: {entry['metric']} {entry['value']:.4f} in {entry['wall_time_s']:.0f} s -> weights/{entry['file']}")
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
