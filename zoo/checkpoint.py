"""Reading checkpoints as data: tensors and plain settings, checked before anything is built from them.

``read_checkpoint`` is the one door for every ``.ckpt`` the zoo reads (evaluate.py, train.py's
``ckpt_path``, ``model.weights_path``, ``model.encoder_ckpt``, ``zoo.load``, generate.py,
``export_safetensors``). It tells apart a file that is missing, truncated or not a checkpoint
(``CheckpointError``) from one that was read and refused because it holds code or names the zoo
does not own (``RefusedFileError``).

Checkpoints written before the zoo named its data modules, optimizers and schedules held Hydra
``_target_`` class paths; ``python -m zoo.checkpoint upgrade <file>`` rewrites the ones the zoo
itself wrote as names (by exact string, importing nothing; ``zoo.upgrade``). Settings renamed since
(the task layer's) are read as they are today without a rewrite.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any, Mapping

import torch

from zoo.errors import CheckpointError, RefusedFileError, first_line

UPGRADE = "python -m zoo.checkpoint upgrade"
# globals a tensor file's pickle legitimately names (torch's rebuild functions and types, OrderedDict, bytes)
DATA_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "builtins.set", "builtins.frozenset",
                "builtins.bytearray", "builtins.slice", "builtins.complex")


def named_globals(path: Path, limit: int = 64 * 2**20) -> list[str]:
    """The ``module.name`` globals a pickle (or a torch zip's ``data.pkl``) asks for, read with
    ``pickletools`` (which parses opcodes and executes nothing); stops at the first broken opcode."""
    import pickletools
    import zipfile

    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(name)[:limit] if name else b""
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            return []
    else:
        with open(path, "rb") as handle:
            data = handle.read(limit)
    found, strings = [], []
    try:
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST"):
                found.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(argument, str):
                strings.append(argument)
            elif opcode.name == "STOP":
                break
    except Exception:  # a truncated or random stream: what was read so far counts
        pass
    return found


def foreign_global(path: Path) -> str | None:
    """The first global of the file's pickle outside the modules tensor files use, or None."""
    return next((name for name in named_globals(path) if not name.startswith(DATA_GLOBALS) or name == "torch."), None)


def refuse_metadata(metadata: Any, path: str | Path, task_cls: type | None = None, model_only: bool = False) -> None:
    """Raise ``RefusedFileError`` naming the file and the key if ``metadata`` (a checkpoint's
    hyper-parameters or a safetensors file's ``zoo`` entry) is not plain settings the zoo owns."""
    from zoo.run_settings import hyperparameter_problem

    if not isinstance(metadata, Mapping):
        raise RefusedFileError(f"refused: {path} holds no settings mapping: it was not written by the zoo")
    problem = hyperparameter_problem(metadata, task_cls, model_only)
    if problem is None:
        return
    hint = f"; if the zoo wrote it before names replaced class paths, convert it with {UPGRADE} {path}"
    raise RefusedFileError(
        f"refused: {path}: {problem}; a zoo checkpoint holds only tensors and plain settings"
        f"{hint if '_target_' in problem else ''}"
    )


def load_tensors_and_data(path: Path, error_type: type[Exception] = CheckpointError) -> Any:
    """``torch.load`` restricted to tensors and plain data; a file asking for anything else is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        foreign = foreign_global(path) if isinstance(error, pickle.UnpicklingError) else None
        if foreign:
            raise RefusedFileError(
                f"refused: {path} asks to build Python objects that are not tensors or plain data ({foreign};"
                " loading it could run code): the zoo never writes such files; do not use it"
            ) from None
        raise error_type(
            f"cannot read checkpoint {path} ({first_line(error)}): the file is truncated or corrupt;"
            " use another checkpoint of the run (e.g. last.ckpt) or train again"
        ) from None


def read_checkpoint(path: str | Path, check_settings: bool = True) -> dict[str, Any]:
    """A Lightning checkpoint written by this project, on the CPU: tensors and plain data only, its
    hyper-parameters checked (``check_settings``) against the zoo's names and types."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: pass the path of a .ckpt file (e.g. <run>/checkpoints/last.ckpt)")
    checkpoint = load_tensors_and_data(path)
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise CheckpointError(
            f"{path} is not a checkpoint written by this project's train.py (no state_dict/hyper_parameters)"
        )
    state = checkpoint["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path} is not a checkpoint written by this project's train.py (its state_dict holds no tensors)")
    from zoo.plain_values import find_code_reference

    where = find_code_reference({k: v for k, v in checkpoint.items() if k != "hyper_parameters"})
    if where:
        raise RefusedFileError(f"refused: {path}: {where}; a zoo checkpoint holds only tensors and plain settings")
    if check_settings:
        from zoo.upgrade import renamed_settings

        checkpoint["hyper_parameters"] = renamed_settings(checkpoint["hyper_parameters"])
        refuse_metadata(checkpoint["hyper_parameters"], path, task_class_of(checkpoint["hyper_parameters"]))
    return checkpoint


def read_safetensors(path: str | Path, vouched: bool = False) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The settings (its ``zoo`` metadata, checked as a checkpoint's are) and tensors of a ``.safetensors``
    file written by ``zoo.export_safetensors``. ``vouched``: the file's sha256 matched the zoo's own
    catalogue (a published weight): only what ``zoo.load`` builds is checked, which keeps it fast."""
    import json

    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}: pass the path of a .safetensors file written by zoo.export_safetensors")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError, OverflowError) as error:
        raise CheckpointError(f"cannot read {path} ({first_line(error)}): the file is truncated or not a safetensors file") from None
    if "zoo" not in metadata:
        raise CheckpointError(f"{path} holds no zoo settings (metadata 'zoo'): export it with zoo.export_safetensors")
    try:
        config = json.loads(metadata["zoo"])
    except ValueError as error:
        raise CheckpointError(f"cannot read the zoo settings of {path} ({first_line(error)}): the file is corrupt") from None
    from zoo.upgrade import renamed_settings

    config = renamed_settings(config)
    refuse_metadata(config, path, None if vouched else task_class_of(config), model_only=vouched)
    return config, with_tied_tensors(state_dict, metadata.get("zoo_tied"), path)


def with_tied_tensors(state_dict: dict[str, torch.Tensor], tied: str | None, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict with the names of tensors stored once under another name (``zoo_tied`` metadata:
    alias -> stored name, e.g. a tied decoder's weight) filled back in."""
    import json

    if tied is None:
        return state_dict
    try:
        aliases = json.loads(tied)
        valid = isinstance(aliases, dict) and all(
            isinstance(k, str) and isinstance(v, str) and v in state_dict and k not in state_dict for k, v in aliases.items()
        )
    except ValueError:
        valid = False
    if not valid:
        raise CheckpointError(f"{path}'s tied-tensor record (metadata 'zoo_tied') is corrupt: re-export the file")
    return {**state_dict, **{alias: state_dict[name] for alias, name in aliases.items()}}


def task_class_of(hparams: Any) -> type | None:
    """The task class the hyper-parameters' model is registered for (None if the name is unknown)."""
    from zoo.registry import get_model_entry, list_models
    from zoo.tasks import get_task

    model = hparams.get("model") if isinstance(hparams, Mapping) else None
    name = model.get("name") if isinstance(model, Mapping) else None
    return get_task(get_model_entry(name).task) if isinstance(name, str) and name in list_models() else None


def network_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's own weights from a task's state_dict (its ``model.`` entries, prefix removed)."""
    prefix = "model."
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}


def main(argv: list[str] | None = None) -> None:
    """``python -m zoo.checkpoint upgrade OLD.ckpt [NEW.ckpt]``."""
    from zoo.errors import ZooError

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3) or argv[0] != "upgrade":
        print(f"usage: {UPGRADE} OLD.ckpt [NEW.ckpt]   (default: rewrite OLD.ckpt in place)", file=sys.stderr)
        raise SystemExit(2)
    from zoo.upgrade import upgrade_checkpoint

    try:
        written = upgrade_checkpoint(*argv[1:])
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"upgraded: {written}")


if __name__ == "__main__":
    main()
