"""What every task shares, so that a task file holds only its steps, its metrics and its figures.

A task is a ``LightningModule`` built from plain settings (the model config, the data's info record,
the optimizer and schedule configs, the data config, and the task's own settings), which is what a
checkpoint stores and what ``zoo.tasks.get_task`` rebuilds it from. The base class creates and
(optionally) compiles the model, checks that it fits the data on a dummy batch, sets up the
optimizer and schedule, logs on the steps the loggers write, and stops on a non-finite loss. Each
task declares its name (the registry's ``task=`` and ``configs/task/<name>.yaml``), the kinds of data
it takes, the metrics a finished run prints, and what ``zoo.load`` returns for its models.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Iterable, Mapping

import lightning as L
import torch
from torch import nn

from datamodules.info import DataInfo, info_from_dict
from zoo.errors import ModelDataMismatchError, SettingError, ZooError, first_line
from zoo.optim import build_optimizer, build_scheduler
from zoo.plain_values import check_arguments
from zoo.registry import create_model, get_model_entry
from zoo.tasks.finite_loss import FiniteLossCheck

TASKS: dict[str, type["Task"]] = {}
# what every task is built from, besides its own settings
STRUCTURE = ("model", "data_info", "optimizer", "scheduler", "data_config")


class Task(FiniteLossCheck, L.LightningModule):
    """Base of the zoo's tasks. Subclasses set the class attributes below and define their steps.

    Args:
        model: registry name and builder arguments, e.g. ``{"name": "lenet5", "num_classes": 10}``.
        data_info: the data module's info as a dict (``datamodules.info``).
        optimizer: ``{"name": "adam", "lr": ...}`` (``zoo.optim``).
        scheduler: ``{"name": "cosine", "interval": "epoch", ...}`` or None for a constant rate;
            ``T_max``/``total_steps`` left None are filled from the run's length, and
            ``ReduceLROnPlateau`` follows its ``monitor`` (the run's ``optimized_metric``).
        compile: ``torch.compile`` the network (measure first: it is slower on small CPU models).
        data_config: the data module's config, kept in checkpoints so evaluation and notebooks can
            rebuild the same test set.
    """

    name: ClassVar[str] = ""
    # the kinds of data (``DataInfo.modality``) this task trains on
    modalities: ClassVar[tuple[str, ...]] = ()
    # what a finished run prints, in this order, when logged
    headline_metrics: ClassVar[tuple[str, ...]] = ()
    # what ``zoo.load`` wraps a trained model in, "module:attribute" called with (model, config); read
    # from this file's source by ``zoo.tasks.notebook_object`` so that loading imports no Lightning
    notebook_object: ClassVar[str] = ""
    # what a non-finite loss message tells the user to change
    remedy: ClassVar[str] = "lower optimizer.lr or set trainer.gradient_clip_val"
    # validation asks the test's questions (no held-out split, like word2vec's analogies): then no epoch
    # may be chosen by it (best.ckpt is the last epoch's, nothing stops early: ``zoo.training.serving``)
    validation_is_test: ClassVar[bool] = False

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets this around every hook call (~50 a step); nn.Module's __setattr__ takes ~1.2 us
        # to find that a string is not a parameter, buffer or module (zoo.lightning_overhead)
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            TASKS[cls.name] = cls

    def __init__(
        self,
        model: dict[str, Any],
        data_info: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        compile: bool = False,
        data_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # the loggers get the run's config with its final metrics (zoo.training.finish_run)
        self.info: DataInfo = info_from_dict(data_info)
        try:
            self.model = create_model(**model)
        except ZooError:
            raise
        except (ValueError, TypeError) as error:  # a builder refusing its arguments (a size it cannot take, ...)
            raise SettingError(f"model {model['name']!r}: {first_line(error)}") from None
        self.check_model_fits_data()
        if compile:
            self.model.compile()

    # --- declarations a subclass may extend -----------------------------------------------------
    @classmethod
    def model_arguments(cls, info: DataInfo) -> dict[str, Any]:
        """The model's data-dependent arguments this task derives from the data (sizes flow data -> model)."""
        return {}

    @classmethod
    def run_settings_problem(cls, optimizer: dict[str, Any], scheduler: dict[str, Any] | None, settings: dict[str, Any]) -> str | None:
        """A combination of optimizer, schedule and task settings this task cannot honour (one line), or None."""
        return None

    @classmethod
    def fill_model_config(cls, model: dict[str, Any], info: DataInfo) -> dict[str, Any]:
        """``model`` with the data-dependent arguments its builder takes and the config leaves unset."""
        builder = get_model_entry(model["name"]).builder
        accepted = inspect.signature(builder).parameters
        derived = {k: v for k, v in cls.model_arguments(info).items() if k in accepted and k not in model}
        return {**model, **derived}

    @classmethod
    def notebook(cls, model: nn.Module, config: dict[str, Any]) -> nn.Module | Any:
        """What ``zoo.load`` returns for a trained model of this task (its ``notebook_object``)."""
        from zoo.tasks import make_notebook_object

        return make_notebook_object(cls.notebook_object, model, config)

    @classmethod
    def setting_owners(cls) -> dict[str, Any]:
        """Each constructor setting of this task (its own, its parents', ``Task``'s), with the ``__init__`` declaring it."""
        owners: dict[str, Any] = {}
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is not None:
                for parameter in inspect.signature(init).parameters.values():
                    if parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
                        owners.setdefault(parameter.name, init)
            if klass is Task:
                break
        owners.pop("self", None)
        return owners

    @classmethod
    def settings_problem(cls, settings: Mapping[str, Any]) -> str | None:
        """What is wrong with the task's own settings (``configs/task/<name>.yaml``'s keys), or None."""
        owners = cls.setting_owners()
        for key, value in settings.items():
            if key not in owners or key in STRUCTURE:
                valid = sorted(k for k in owners if k not in STRUCTURE)
                return f"{key} is not a setting of task {cls.name!r} (valid: {', '.join(valid)})"
            problem = check_arguments(owners[key], {key: value})
            if problem:
                return problem
        return None

    # --- the fit check ----------------------------------------------------------------------------
    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        """A dummy batch of two samples of the data's shape."""
        return (torch.zeros(2, *self.info.input_shape),)

    def described_inputs(self) -> str:
        """The data's samples in words, for the one-line mismatch errors."""
        return f"inputs of data set {self.info.name!r}"

    def fit_hint(self) -> str:
        return "choose a model for this data"

    def output_problem(self, outputs: Any) -> str | None:
        """What is wrong with the model's outputs for the dummy batch (phrased after "model 'x'"), or None."""
        return None

    def check_model_fits_data(self) -> None:
        """Run the dummy batch through the model; one line (``ModelDataMismatchError``) if it does not fit."""
        name = self.hparams.model["name"]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                outputs = self.model(*self.example_inputs())
        except Exception as error:
            raise ModelDataMismatchError(
                f"model {name!r} cannot take the {self.described_inputs()} ({first_line(error)}); {self.fit_hint()}"
            ) from None
        finally:
            self.model.train(was_training)
        problem = self.output_problem(outputs)
        if problem:
            raise ModelDataMismatchError(f"model {name!r} {problem}")

    # --- steps: a task defines shared_step(batch, split) and log_epoch(split) ---------------------
    def shared_step(self, batch: Any, split: str) -> dict[str, Any]:
        """One batch of ``split`` (``train``, ``val``, ``test``): updates the split's metrics and
        returns at least ``{"loss": ...}`` (what the figure callbacks read besides)."""
        raise NotImplementedError

    def log_epoch(self, split: str) -> dict[str, torch.Tensor] | None:
        """Log the split's epoch metrics (computed once, synchronised across processes) and reset them."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.shared_step(batch, "train")["loss"]
        self.check_finite_loss(loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        return self.shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        return self.shared_step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self.read_finite_checks()
        self.log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self.log_epoch("test")

    # --- training plumbing ------------------------------------------------------------------------
    def logger_writes_this_batch(self) -> bool:
        """Whether the loggers write what this training batch logs, by Lightning's rule (every
        ``trainer.log_every_n_steps``-th optimizer step, counted from 1; every batch in ``fast_dev_run``),
        from public counters. Values logged on other batches cost time (~10% of a small model's step)
        and would be drawn batches later, under the step of the next batch that is written."""
        trainer = self.trainer
        if trainer.fast_dev_run:
            return True
        if not trainer.log_every_n_steps:
            return False
        return (self.logger_step() + 1) % trainer.log_every_n_steps == 0

    def logger_step(self) -> int:
        """The step the loggers draw this training batch's values at: Lightning's count of the batches
        that stepped before it, from public counters."""
        if self.automatic_optimization:  # the optimizer steps done (one optimizer): Lightning's count
            return self.trainer.global_step
        # the batches done before this one (manual steps may be several per batch or none)
        return self.trainer.fit_loop.epoch_loop.batch_progress.total.ready - 1

    def log_step(self, values: Mapping[str, torch.Tensor]) -> None:
        """Log training-step values (to the loggers and the progress bar) on the batches the loggers
        write only: each ``self.log`` costs Lightning ~0.3 ms, 7% of a LeNet-5 step on 2 CPU cores.
        Epoch values come from the task's metrics (``log_epoch``)."""
        if self.logger_writes_this_batch():
            self.log_dict(dict(values), on_step=True, on_epoch=False, prog_bar=True)

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        """What the optimizer updates: every parameter that requires a gradient (a frozen backbone stays out)."""
        return [parameter for parameter in self.parameters() if parameter.requires_grad]

    def schedule_length(self) -> tuple[int, int]:
        """``(steps, epochs)`` a schedule's ``T_max``/``total_steps`` left None are filled from: the whole run."""
        return int(self.trainer.estimated_stepping_batches), int(self.trainer.max_epochs or 1)

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.hparams.optimizer, self.trainable_parameters())
        config = self.hparams.scheduler
        if not config:
            return optimizer
        steps, epochs = self.schedule_length()
        scheduler, interval = build_scheduler(config, optimizer, steps, epochs)
        monitor = config.get("monitor") or "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval, "monitor": monitor}}
