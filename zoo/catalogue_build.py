"""``python -m zoo.weights build <model>.<tag> | all``: retrain a published weight from its recorded
recipe (``weights/recipes/``) and write its file and its catalogue entry (``zoo.catalogue``)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from zoo.catalogue import ROOT, WEIGHTS_DIR, CatalogueError, index, recipes, write_index

def train_command(recipe: dict[str, Any]) -> list[str]:
    """The ``train.py`` overrides that reproduce a recipe."""
    return [f"experiment={recipe['experiment']}", *recipe.get("overrides", []), f"seed={recipe['seed']}"]


BUILD_DIR = ROOT / "logs" / "weights"


def build(name: str, extra_overrides: tuple[str, ...] = (), write: bool = True) -> dict[str, Any]:
    """Train entry ``name`` from its recipe, publish its best-validation checkpoint, score the published
    file on the official test split as the tests do, and record it; returns its entry. The run stays
    under ``logs/weights/<name>/`` (TensorBoard logs, checkpoints). ``extra_overrides`` are for smoke
    tests; ``write=False`` publishes nothing and returns the entry with the file's bytes (``"blob"``)."""
    from zoo.config import compose_config
    from zoo.training import train

    known = recipes()
    if name not in known:
        raise CatalogueError(f"no recipe {name!r} in weights/recipes/ (recipes: {', '.join(known)})")
    recipe = known[name]
    output_dir = BUILD_DIR / name / time.strftime("%Y-%m-%d_%H-%M-%S")
    for attempt in range(2, 1000):  # two builds in one second (a test's build and verify) get two folders
        if not output_dir.exists():
            break
        output_dir = output_dir.with_name(f"{output_dir.name.split('+')[0]}+{attempt}")
    cfg = compose_config("train", [*train_command(recipe), *extra_overrides], output_dir)
    start = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - start
    summary = json.loads((output_dir / "metrics.json").read_text())
    if not summary.get("best_checkpoint"):
        raise CatalogueError(f"recipe {name!r} saved no best checkpoint: its experiment must keep model_checkpoint")
    return publish(name, recipe, summary["best_checkpoint"], wall, output_dir, str(cfg.paths.data_dir), write)


def publish(
    name: str, recipe: dict[str, Any], checkpoint: str, wall: float, folder: Path, data_root: str, write: bool = True
) -> dict[str, Any]:
    """Write ``weights/<name>.safetensors`` from a checkpoint and its entry into ``weights/index.json``.
    The recorded metrics are those of the published file itself, scored by ``evaluate`` in full precision
    on the official test split (what the tests re-measure). A recipe's ``dtype: float16`` stores half
    precision only when the headline metric is the same to 4 decimals as in float32: within half a unit
    of the 4th decimal, the tests' tolerance (else float32, said)."""
    import torch

    from zoo.atomic import atomic_write_bytes
    from zoo.checkpoint import network_state_dict, read_checkpoint
    from zoo.inference import safetensors_bytes
    from zoo.registry import get_model_entry
    from zoo.tasks import get_task

    saved = read_checkpoint(checkpoint)
    settings, network = dict(saved["hyper_parameters"]), network_state_dict(saved["state_dict"])
    model, tag = name.split(".", 1)
    if settings["model"]["name"] != model:
        raise CatalogueError(f"recipe {name!r} trained model {settings['model']['name']!r}, not {model!r}: rename the recipe")
    task_cls = get_task(get_model_entry(settings["model"]["name"]).task)
    metric = recipe.get("metric") or task_cls.headline_metrics[0]
    scores = {"float32": score(safetensors_bytes(network, settings), folder / "float32", data_root)}
    dtype = recipe.get("dtype", "float32")
    if dtype not in ("float32", "float16"):
        raise CatalogueError(f"{name}: dtype must be float32 or float16, not {dtype!r}")
    if dtype == "float16":
        scores["float16"] = score(safetensors_bytes(network, settings, torch.float16), folder / "float16", data_root)
        if abs(scores["float16"][metric] - scores["float32"][metric]) >= 5e-5:  # what the tests hold a file to
            print(f"{name}: float16 changes {metric} ({scores['float32'][metric]:.6f} in float32, {scores['float16'][metric]:.6f}"
                  " in float16): publishing float32", file=sys.stderr)  # fmt: skip
            dtype = "float32"
    metrics = scores[dtype]
    record = {
        "model": model, "tag": tag, "data": settings["data_info"]["name"], "task": task_cls.name,
        "metric": metric, "value": round(float(metrics[metric]), 6), "paper": recipe.get("paper"),
        "test_metrics": {k: round(float(v), 6) for k, v in sorted(metrics.items())},
        "dtype": dtype, "metric_by_dtype": {k: round(float(v[metric]), 6) for k, v in scores.items()},
        "command": f"python -m zoo.weights build {name}",
        "train_command": "python train.py " + " ".join(train_command(recipe)),
        "description": recipe.get("description", ""),
        "parameters": parameter_count(settings, network),
        "wall_time_s": round(wall, 1), "threads": torch_threads(), **provenance(),
    }  # fmt: skip
    blob = safetensors_bytes(network, settings, getattr(torch, dtype), zoo_entry=record)
    entry = {**record, "file": f"{name}.safetensors", "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    if not write:
        return {**entry, "blob": blob}
    WEIGHTS_DIR.mkdir(exist_ok=True)
    atomic_write_bytes(WEIGHTS_DIR / f"{name}.safetensors", blob)
    entries = index()
    entries[name] = entry  # a new file: the rebuild records of the old one (python -m zoo.weights verify) go
    write_index(entries)
    return entry


def score(blob: bytes, folder: Path, data_root: str) -> dict[str, float]:
    """``evaluate``'s metrics for a weights file (written into ``folder``) on its own test split."""
    from zoo.config import compose_config
    from zoo.training import evaluate

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.safetensors").write_bytes(blob)
    overrides = [f"ckpt_path={folder / 'weights.safetensors'}", f"data_root={data_root}"]
    return evaluate(compose_config("eval", overrides, folder / "eval"))


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def parameter_count(settings: dict[str, Any], network: dict[str, Any]) -> int:
    """The network's trainable parameters (a tied weight counted once), as ``zoo.load``'s model has them."""
    from zoo.inference import _model_from_config

    model = _model_from_config(settings, network, Path("checkpoint"))
    return sum(p.numel() for p in model.parameters())


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
    # the build's own outputs (weights/*.safetensors, weights/index.json) do not make the source dirty
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!weights/*.safetensors", ":!weights/index.json"))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
    }


USAGE = """usage: python -m zoo.weights build <model>.<tag> [...] | all   retrain from the recipe, publish, record
       python -m zoo.weights list                                 the published weights
       python -m zoo.weights readme                               regenerate the README's tables
       python -m zoo.weights verify <model>.<tag> [...] | all     rebuild without publishing: same tensors? (recorded)
       python -m zoo.weights offload <model>.<tag> <url>          record a URL to publish the file off the repository"""


def main(argv: list[str] | None = None) -> None:
    """``python -m zoo.weights build|list|readme|offload`` (see ``USAGE``)."""
    from zoo.errors import ZooError

    argv = sys.argv[1:] if argv is None else argv
    commands = {"build": (build_command, 2, None), "list": (list_command, 1, 1), "readme": (readme_command, 1, 1),
                "offload": (offload_command, 3, 3), "verify": (verify_command, 2, None)}  # fmt: skip
    command, least, most = commands.get(argv[0] if argv else "", (None, 0, 0))
    if command is None or len(argv) < least or (most is not None and len(argv) > most):
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    try:
        command(argv[1:])
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def build_command(names: list[str]) -> None:
    for name in list(recipes()) if names == ["all"] else names:
        entry = build(name)
        print(f"built {name}: {entry['metric']} {entry['value']:.4f} in {entry['wall_time_s']:.0f} s -> weights/{entry['file']}")


def list_command(_: list[str]) -> None:
    from zoo.catalogue import list_weights

    for row in list_weights():
        print(f"{row['name']:<32} {row['data']:<22} {row['metric']} {row['value']:.4f}  {row['parameters']:>10,} parameters  {row['bytes']:>11,} bytes")


def readme_command(_: list[str]) -> None:
    from zoo.atomic import atomic_write_text
    from zoo.catalogue_tables import README, readme_with_tables

    atomic_write_text(README, readme_with_tables(README.read_text()))
    print(f"wrote the generated tables of {README}")


def offload_command(arguments: list[str]) -> None:
    from zoo.weights_download import offload

    entry = offload(*arguments)
    print(f"recorded {entry['url']} for {arguments[0]}: upload weights/{entry['file']} there, then delete the local copy")


def verify_command(names: list[str]) -> None:
    from zoo.catalogue_verify import verify

    for name in list(index()) if names == ["all"] else names:
        record = verify(name)
        same = "bit-identical tensors" if record["identical"] else f"tensors differ (max abs diff {record['max_abs_diff']:.3g})"
        print(f"rebuilt {name}: {same}; {record['metric']} {record['value']:.4f} (published {index()[name]['value']:.4f})")
