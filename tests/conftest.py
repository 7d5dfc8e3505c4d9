"""Shared fixtures: Hydra configs composed as train.py composes them, and one trained run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from zoo.config import CONFIG_DIR as CONFIGS
from zoo.config import compose_config

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"

os.environ.setdefault("ZOO_ROOT", str(ROOT))


def real_data_dir() -> Path | None:
    """$ZOO_DATA_DIR, else ../shared/datasets beside the checkout, if it exists."""
    candidate = os.environ.get("ZOO_DATA_DIR") or str(SHARED_DATA)
    return Path(candidate) if Path(candidate).is_dir() else None


@pytest.fixture
def make_cfg(tmp_path: Path):
    """``make_cfg(*overrides)`` -> a train config writing into a fresh folder under tmp_path."""
    counter = iter(range(1000))

    def make(*overrides: str, name: str = "train") -> DictConfig:
        return compose_config(name, list(overrides), tmp_path / f"run{next(counter)}")

    return make


def run_script(script: str, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``train.py``/``evaluate.py`` as a user would, from the project root."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default job (LeNet-5 on scikit-learn's digits), trained once through the CLI."""
    log_dir = tmp_path_factory.mktemp("digits_run")
    result = run_script("train.py", f"paths.log_dir={log_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics_file,) = log_dir.glob("*/runs/*/metrics.json")
    summary = json.loads(metrics_file.read_text())
    return {"summary": summary, "stdout": result.stdout, "dir": metrics_file.parent}
