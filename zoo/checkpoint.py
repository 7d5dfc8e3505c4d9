"""Reading checkpoints with errors a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.errors import CheckpointError, first_line


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint written by this project onto the CPU (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: pass the path of a .ckpt file (e.g. <run>/checkpoints/last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read checkpoint {path} ({first_line(error)}): the file is truncated or corrupt;"
            " use another checkpoint of the run (e.g. last.ckpt) or train again"
        ) from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise CheckpointError(
            f"{path} is not a checkpoint written by this project's train.py (no state_dict/hyper_parameters)"
        )
    return checkpoint


def network_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's own weights from a task's state_dict (its ``model.`` entries, prefix removed)."""
    prefix = "model."
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}
