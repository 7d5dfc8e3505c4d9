"""Reading checkpoints with errors a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.errors import CheckpointError


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint written by this project onto the CPU (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: pass the path of a .ckpt file (e.g. <run>/checkpoints/last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} ({reason[:160]}): the file is truncated or corrupt;"
            " use another checkpoint of the run (e.g. last.ckpt) or train again"
        ) from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise CheckpointError(
            f"{path} is not a checkpoint written by this project's train.py (no state_dict/hyper_parameters)"
        )
    return checkpoint
