"""The tasks (and kinds of data) a TensorBoard callback serves, declared rather than guessed."""

from __future__ import annotations

from typing import ClassVar

import lightning as L


class TaskCallback(L.Callback):
    """A callback that draws for some tasks only: ``tasks`` names them (``Task.name``; None: every task)
    and ``modalities`` the kinds of data (``DataInfo.modality``; None: every kind). Its hooks do nothing
    for a module they do not serve, so one callback list fits every model."""

    tasks: ClassVar[tuple[str, ...] | None] = None
    modalities: ClassVar[tuple[str, ...] | None] = None

    def serves(self, pl_module: L.LightningModule) -> bool:
        task = getattr(type(pl_module), "name", None)
        modality = getattr(getattr(pl_module, "info", None), "modality", None)
        return (self.tasks is None or task in self.tasks) and (self.modalities is None or modality in self.modalities)
