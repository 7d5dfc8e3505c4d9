"""Older zoo checkpoints in today's format: plain-data rewrites of their settings, importing nothing they name.

Two generations: checkpoints that recorded Hydra ``_target_`` class paths (refused on reading, converted
by ``python -m zoo.checkpoint upgrade``, because a class path in a file is code), and checkpoints written
before the task layer (``zoo/tasks/base.py``), whose settings are renamed on reading (``renamed_settings``):
an audio model's ``in_channels`` is its ``n_features``; word2vec's ``lr`` task setting is its SGD
optimizer's ``lr``; size arguments a builder used to accept and ignore are dropped; the data info becomes
its modality's record (``datamodules.info``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Mapping

import torch

from zoo.checkpoint import read_checkpoint, refuse_metadata, task_class_of
from zoo.errors import RefusedFileError

# The class paths older zoo checkpoints recorded, and the names that replace them. Matched as exact
# strings: converting a file imports nothing it names.
OLD_CLASS_PATHS = {
    "data_config": {
        "datamodules.DigitsDataModule": "digits", "datamodules.MNISTDataModule": "mnist",
        "datamodules.FashionMNISTDataModule": "fashion_mnist", "datamodules.CIFAR10DataModule": "cifar10",
        "datamodules.CIFAR100DataModule": "cifar100", "datamodules.ImageNetDataModule": "imagenet",
        "datamodules.ImageFolderDataModule": "image_folder", "datamodules.FSDDDataModule": "fsdd",
        "datamodules.TextDataModule": "text", "datamodules.WordCorpusDataModule": "word_corpus",
    },
    "optimizer": {
        "torch.optim.SGD": "sgd", "torch.optim.Adam": "adam", "torch.optim.AdamW": "adamw",
        "torch.optim.Adadelta": "adadelta", "torch.optim.Adagrad": "adagrad", "torch.optim.RMSprop": "rmsprop",
    },
    "scheduler": {
        "torch.optim.lr_scheduler.StepLR": "step", "torch.optim.lr_scheduler.MultiStepLR": "multistep",
        "torch.optim.lr_scheduler.CosineAnnealingLR": "cosine", "torch.optim.lr_scheduler.OneCycleLR": "one_cycle",
        "torch.optim.lr_scheduler.ReduceLROnPlateau": "plateau",
    },
}  # fmt: skip
NAME_KEY = {"data_config": "module", "optimizer": "name", "scheduler": "name"}


def upgrade_hyperparameters(hparams: dict[str, Any], path: Path) -> dict[str, Any]:
    """Hyper-parameters with the known class paths of an older zoo checkpoint replaced by names."""
    upgraded = dict(hparams)
    for key, table in OLD_CLASS_PATHS.items():
        config = upgraded.get(key)
        if not isinstance(config, Mapping) or "_target_" not in config:
            continue
        target = config["_target_"]
        if target not in table:
            raise RefusedFileError(f"refused: {path}: {key}._target_ {str(target)[:80]!r} is not a class the zoo ever wrote")
        rest = {k: v for k, v in config.items() if k not in ("_target_", "_partial_")}
        upgraded[key] = {NAME_KEY[key]: table[target], **rest}
    return upgraded


def upgrade_checkpoint(source: str | Path, destination: str | Path | None = None) -> Path:
    """Rewrite a checkpoint of an older zoo (class paths) in today's format (names), atomically."""
    from zoo.atomic import atomic_write

    source = Path(source)
    checkpoint = read_checkpoint(source, check_settings=False)
    checkpoint["hyper_parameters"] = renamed_settings(upgrade_hyperparameters(checkpoint["hyper_parameters"], source))
    refuse_metadata(checkpoint["hyper_parameters"], source, task_class_of(checkpoint["hyper_parameters"]))
    return atomic_write(Path(destination or source), lambda handle: torch.save(checkpoint, handle))


# builder arguments that older builders accepted and ignored (sizes now follow the data)
IGNORED_SIZES = ("input_size", "in_channels")


def renamed_settings(hparams: Any) -> Any:
    """Settings written before the task layer, as today's code reads them (anything else unchanged)."""
    if not isinstance(hparams, Mapping) or not isinstance(hparams.get("model"), Mapping):
        return hparams
    settings = dict(hparams)
    model = dict(settings["model"])
    if model.get("name") == "audio_rnn" and "in_channels" in model and "n_features" not in model:
        model["n_features"] = model.pop("in_channels")
    if model.get("name") == "word2vec" and "lr" in settings:
        settings["optimizer"] = {"name": "sgd", "lr": settings.pop("lr"), "momentum": 0.0}
        settings["scheduler"] = None
    settings["model"] = _without_ignored_sizes(model)
    if isinstance(settings.get("data_info"), Mapping):
        settings["data_info"] = _current_info(settings["data_info"])
    return settings


def _without_ignored_sizes(model: dict[str, Any]) -> dict[str, Any]:
    from zoo.registry import get_model_entry, list_models

    if model.get("name") not in list_models():
        return model
    accepted = inspect.signature(get_model_entry(model["name"]).builder).parameters
    return {k: v for k, v in model.items() if k not in IGNORED_SIZES or k in accepted}


def _current_info(record: Mapping[str, Any]) -> Any:
    from datamodules.info import info_from_dict

    try:
        return info_from_dict(record).to_dict()
    except (TypeError, ValueError):
        return record  # not a record of ours: the settings check refuses it, naming the key
