"""Score a checkpoint: ``python evaluate.py ckpt_path=logs/.../checkpoints/best.ckpt [data=mnist]``.

Prints a table and writes the metrics as JSON (``metrics_path``, by default in the run folder).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("ZOO_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from zoo.cli import run_cli, run_job  # noqa: E402


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    from zoo.training import evaluate

    run_job(lambda: evaluate(cfg))


if __name__ == "__main__":
    run_cli(main)
