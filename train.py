"""Train a model of the zoo: ``python train.py model=lenet5 data=fashion_mnist trainer.max_epochs=5``.

Configs live in ``configs/`` (``train.yaml`` is the entry); ``-m`` sweeps, e.g.
``python train.py -m optimizer=sgd,adam``. See the README for the recipes in ``configs/experiment``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("ZOO_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from zoo.cli import run_cli, run_job  # noqa: E402


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from zoo.training import train

    metrics = run_job(lambda: train(cfg))
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    run_cli(main)
