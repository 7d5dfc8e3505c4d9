"""What ``train.py`` and ``evaluate.py`` do, as functions that tests and benchmarks call too.

Seed -> data module -> task (the LightningModule the model's registry entry names) ->
callbacks, loggers, trainer -> fit -> test the best checkpoint -> metrics.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from datamodules.info import info_from_dict
from zoo.allocator import keep_freed_memory
from zoo.callbacks.base import TaskCallback
from zoo.callbacks.checkpointing import AtomicCheckpointIO, LastCheckpoint, choosing_nothing_on_test
from zoo.atomic import atomic_write_text
from zoo.checkpoint import network_state_dict, read_checkpoint, task_class_of
from zoo.lightning_overhead import NoProfiler, remember_no_cuda_devices, skip_default_callback_hooks
from zoo.errors import ModelDataMismatchError, RunInterruptedError, SettingError
from zoo.optim import optimizer_problem, scheduler_problem
from zoo.registry import get_model_entry
from zoo.resume import ApplyNewSettings, RunProgress, check_resumable
from zoo.run_settings import build_datamodule, model_problem
from zoo.tasks import get_task
from zoo.weights import without_weight_sources

log = logging.getLogger(__name__)

# Lightning 2.6 calls a torch API that torch 2.14 deprecates, once per batch transfer.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
warnings.filterwarnings("ignore", message=r".*does not have many workers")  # data is in memory: none needed


def instantiate_all(config: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group (``None`` entries switched off)."""
    if not config:
        return []
    return [instantiate(entry) for entry in config.values() if entry is not None and "_target_" in entry]


def plain(config: DictConfig | dict | None) -> Any:
    """A Hydra config as plain Python data, interpolations resolved."""
    return OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else config


def build_task(cfg: DictConfig, datamodule: L.LightningDataModule) -> L.LightningModule:
    """The task the model's registry entry names, with the model's data-dependent sizes filled from the data."""
    info = datamodule.info
    model = plain(cfg.model)
    problem = model_problem(model)
    if problem:
        raise SettingError(f"model.{problem}: choose another model= or fix the setting on the command line")
    entry = get_model_entry(model["name"])
    settings = dict(plain(cfg.task) or {})
    requested = settings.pop("name", entry.task)
    if requested != entry.task:
        raise SettingError(
            f"task={requested} contradicts model {model['name']!r}, a {entry.task.replace('_', ' ')} model:"
            " leave task= out (the model's registry entry picks its task)"
        )
    task_cls = get_task(entry.task)
    if info.modality not in task_cls.modalities:
        raise ModelDataMismatchError(
            f"model {model['name']!r} is a {entry.task.replace('_', ' ')} model for {' or '.join(task_cls.modalities)}"
            f" data, but data set {info.name!r} holds {info.modality}: choose a {info.modality} model"
            f" (zoo.list_models(task=...)) or a data set of {' or '.join(task_cls.modalities)}"
        )
    optimizer, scheduler = plain(cfg.optimizer), plain(cfg.scheduler) or None
    conflict = task_cls.run_settings_problem(optimizer, scheduler, settings)
    if conflict:
        raise SettingError(conflict)
    for group, problem in (("optimizer", optimizer_problem(optimizer)), ("scheduler", scheduler_problem(scheduler)),
                           ("task", task_cls.settings_problem(settings))):  # fmt: skip
        if problem:
            raise SettingError(f"{group}.{problem}: set it on the command line ({group}.<key>=<value>)")
    return task_cls(
        model=task_cls.fill_model_config(model, info),
        data_info=info.to_dict(),
        data_config=plain(cfg.data),
        optimizer=optimizer,
        scheduler=scheduler,
        **settings,
    )


def serving(callbacks: list[L.Callback], task: L.LightningModule) -> list[L.Callback]:
    """The callbacks that serve this task: one callback list fits every model, but Lightning calls every
    hook of every callback on every batch (~10 us each), so the figures of other tasks are left out. Where the
    task's validation is its test, nothing is chosen by it (``choosing_nothing_on_test``)."""
    kept = [callback for callback in callbacks if not isinstance(callback, TaskCallback) or callback.serves(task)]
    return choosing_nothing_on_test(kept) if getattr(task, "validation_is_test", False) else kept


def quiet_profiler(trainer_config: DictConfig) -> dict[str, Any]:
    """Unless the run asks for a profiler: Lightning's no-op one without its per-hook cost, and hook
    dispatch that skips the hooks a callback does not override (``zoo.lightning_overhead``)."""
    if trainer_config.get("profiler") is not None:
        return {}
    skip_default_callback_hooks()
    return {"profiler": NoProfiler()}


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The run's config with every interpolation resolved (Hydra's own settings left out)."""
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


def output_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.output_dir)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items() if torch.as_tensor(value).numel() == 1}


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, float]:
    """Train (and test) one configuration; returns the final metrics.

    ``extra_callbacks`` join the configured ones (for programs that drive training, like benchmarks).
    With ``ckpt_path`` the run resumes (see ``zoo.resume``). A run stopped by SIGTERM writes its
    metrics.json and last.ckpt, then raises ``RunInterruptedError``.
    """
    if cfg.get("keep_freed_memory", True):
        keep_freed_memory()
    remember_no_cuda_devices()
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    resumed = read_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None  # one line for a bad file, before any work
    datamodule = build_datamodule(cfg.data)
    task = build_task(cfg, datamodule)
    callbacks = serving(instantiate_all(cfg.get("callbacks")), task) + list(extra_callbacks or []) + [RunProgress()]
    if resumed is not None:
        check_resumable(resumed, task, cfg.ckpt_path)
        callbacks.append(ApplyNewSettings(resumed["hyper_parameters"].get("optimizer") or {}))
    # with no checkpoint callback (callbacks=none), Lightning would add its own, writing elsewhere
    checkpointing = {} if any(isinstance(c, Checkpoint) for c in callbacks) else {"enable_checkpointing": False}
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=instantiate_all(cfg.get("logger")), **checkpointing,
                                     **quiet_profiler(cfg.trainer))
    trainer.strategy.checkpoint_io = AtomicCheckpointIO()
    out = output_dir(cfg)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(resolved_config(cfg)), out / "config.yaml")

    metrics: dict[str, float] = {}
    interrupted = None
    if cfg.get("train", True):
        threads = torch.get_num_threads()  # a task may change it while it trains (word2vec's kernel)
        try:
            trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
        except SIGTERMException:
            interrupted = "SIGTERM"
        finally:
            torch.set_num_threads(threads)  # also when training fails: the next run here computes as before
        metrics.update(scalar_metrics(trainer.callback_metrics))
    progress = RunProgress.pop(metrics, trainer)
    best = best_checkpoint(trainer)
    if cfg.get("test", True) and interrupted is None:
        ckpt = best or None
        if ckpt is None and not cfg.get("train", True):
            ckpt = cfg.get("ckpt_path")
        trainer.test(task, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
        metrics.update(scalar_metrics(trainer.callback_metrics))

    if trainer.is_global_zero:
        finish_run(cfg, trainer, metrics, best, progress, interrupted)
    if interrupted:
        last = last_checkpoint(trainer)
        raise RunInterruptedError(
            f"the run was stopped by {interrupted} at epoch {progress['epochs']}, step {progress['global_step']};"
            f" resume it with ckpt_path={last}" if last else f"the run was stopped by {interrupted} before any checkpoint"
        )
    return metrics


def best_checkpoint(trainer: L.Trainer) -> str:
    """The path of the best checkpoint (the monitored ``ModelCheckpoint``'s), or "" when there is none."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
            return str(callback.best_model_path)
    return ""


def last_checkpoint(trainer: L.Trainer) -> str | None:
    """The path of last.ckpt if this run wrote one."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, LastCheckpoint) and callback.path.is_file():
            return str(callback.path)
    return None


def finish_run(
    cfg: DictConfig, trainer: L.Trainer, metrics: dict[str, float], best: str, progress: dict[str, int],
    interrupted: str | None = None,
) -> None:
    """Record hparams with the final metrics, write metrics.json and print where everything is."""
    out = output_dir(cfg)
    params = {k: v for k, v in resolved_config(cfg).items() if k not in ("paths", "callbacks", "logger")}
    final = {f"hp/{k}": v for k, v in metrics.items() if k.split("/")[0] in ("train", "val", "test")}
    for logger in trainer.loggers:
        logger.log_hyperparams(params, metrics=final)
        logger.save()
    summary = {
        "metrics": metrics,
        "best_checkpoint": best or None,
        "last_checkpoint": last_checkpoint(trainer),
        "output_dir": str(out),
        **progress,
        "status": f"interrupted by {interrupted}" if interrupted else "finished",
    }
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2))
    from rich.console import Console

    console = Console()
    for key in type(trainer.lightning_module).headline_metrics:
        if key in metrics:
            console.print(f"{key:>14}: {metrics[key]:.4f}")
    console.print(f"    checkpoint: {best or '(none saved)'}", soft_wrap=True)
    tensorboard_dirs = [logger.log_dir for logger in trainer.loggers if getattr(logger, "log_dir", None)]
    for log_dir in tensorboard_dirs:
        console.print(f"   tensorboard: tensorboard --logdir {log_dir}", soft_wrap=True)
    console.print(f"       metrics: {out / 'metrics.json'}", soft_wrap=True)


def evaluation_source(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """The settings and network weights ``evaluate`` scores: a checkpoint (``ckpt_path``) or a published
    weight (``weights=<model>.<tag>``), and how to name it."""
    if cfg.get("weights"):
        from zoo.catalogue import weights_file
        from zoo.checkpoint import read_safetensors

        model, _, tag = str(cfg.weights).partition(".")
        settings, network = read_safetensors(weights_file(model, tag))
        return dict(settings), network, str(cfg.weights)
    if not cfg.get("ckpt_path"):
        raise SettingError("nothing to evaluate: give ckpt_path=<file.ckpt> or weights=<model>.<tag> (zoo.list_weights())")
    if str(cfg.ckpt_path).endswith(".safetensors"):  # an exported or published weights file
        from zoo.checkpoint import read_safetensors

        settings, network = read_safetensors(cfg.ckpt_path)
        return dict(settings), network, Path(cfg.ckpt_path).name
    checkpoint = read_checkpoint(cfg.ckpt_path)
    return dict(checkpoint["hyper_parameters"]), network_state_dict(checkpoint["state_dict"]), Path(cfg.ckpt_path).name


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score a checkpoint or a published weight on the test (or val) split of its own data set or of
    ``cfg.data``; the data module serves what the trained model takes (``DataInfo.fixed_arguments``:
    its image size, its vocabulary)."""
    hparams, network, source = evaluation_source(cfg)
    if cfg.get("data"):
        data_config = plain(cfg.data)
    else:
        data_config = dict(hparams["data_config"])
        if "root" in data_config:
            data_config["root"] = cfg.data_root
    datamodule = build_datamodule(data_config, **info_from_dict(hparams["data_info"]).fixed_arguments())
    hparams["data_info"] = datamodule.info.to_dict()  # checks that the model fits this data
    hparams["model"] = without_weight_sources(hparams["model"])  # the weights come from the checkpoint
    task = task_class_of(hparams)(**hparams)
    task.model.load_state_dict(network)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_model_summary=False, **quiet_profiler(cfg.trainer))
    run = trainer.validate if cfg.split == "val" else trainer.test
    results = scalar_metrics(run(task, datamodule=datamodule, verbose=False)[0])
    if trainer.is_global_zero:
        report = {"checkpoint": cfg.get("ckpt_path"), "weights": cfg.get("weights"), "data": datamodule.info.name,
                  "split": cfg.split, "metrics": results}  # fmt: skip
        atomic_write_text(cfg.metrics_path, json.dumps(report, indent=2))
        print_table(f"{source} on {datamodule.info.name} ({cfg.split})", results)
        log.info("metrics written to %s", cfg.metrics_path)
    return results


def print_table(title: str, metrics: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        table.add_row(key, f"{value:.4f}")
    Console().print(table)
