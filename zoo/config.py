"""Compose the project's Hydra configs from Python (tests, benchmarks, notebooks), as ``train.py`` would."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def task_of_model(choice: str) -> str:
    """The task a model config (``configs/model/<choice>.yaml``) is for, as its model's registry entry
    says: ``train.yaml``'s defaults list picks ``configs/task/<task>.yaml`` with it. An unknown model
    name gives ``classification`` here; the model config's check then reports the name in one line."""
    from zoo.registry import task_of

    path = CONFIG_DIR / "model" / f"{choice}.yaml"
    config = OmegaConf.load(path) if path.is_file() else {}
    name = config.get("name") or (config.get("model") or {}).get("name") or choice
    return task_of(name) or "classification"


OmegaConf.register_new_resolver("task_of_model", task_of_model, replace=True)


def compose_config(name: str, overrides: list[str], output_dir: str | Path) -> DictConfig:
    """``configs/<name>.yaml`` with ``overrides``, writing its run into ``output_dir``."""
    os.environ.setdefault("ZOO_ROOT", str(CONFIG_DIR.parent))
    output_dir = Path(output_dir)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg
