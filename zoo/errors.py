"""Errors a user can act on: each message is one line that says what went wrong and what to do."""

import re

_TRACEBACK_LAST_LINE = re.compile(r"^(?:\w+\.)*\w*(?:Error|Exception): ")
_WORKER = re.compile(r"in (DataLoader worker process \d+)")


def first_line(error: BaseException, limit: int = 160) -> str:
    """An exception's message cut to its first line (its type's name if it has none), for one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def original_line(message: str) -> str:
    """A one-line message from one that may be a re-raised traceback: torch's DataLoader re-raises a
    worker's error as ``type(error)("Caught X in DataLoader worker process 0.\\nOriginal Traceback ...")``,
    whose last line is ``module.X: <the original message>``; that message is kept, with the worker named."""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    worker = _WORKER.search(lines[0])
    text = _TRACEBACK_LAST_LINE.sub("", lines[-1])
    return f"{text} (in {worker[1]})" if worker else text


class ZooError(Exception):
    """Base class for the zoo's user-facing errors."""


class UnknownNameError(ZooError, KeyError):
    """A model, data set or task name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelDataMismatchError(ZooError, ValueError):
    """The model cannot take the data's inputs or produce its classes."""


class DatasetNotFoundError(ZooError, FileNotFoundError):
    """Data files are missing and could not be downloaded."""


class CheckpointError(ZooError, ValueError):
    """A checkpoint that is missing, truncated or not one of ours."""


class NonFiniteLossError(ZooError, FloatingPointError):
    """Training produced a NaN or infinite loss."""


class VocabularyError(ZooError, ValueError):
    """Text holding tokens the model's vocabulary does not have, or a corpus with no tokens."""


class UnsupportedOperationError(ZooError, TypeError):
    """A model asked for something its kind cannot do (e.g. samples from an autoencoder that is not a VAE)."""


class TextEncodingError(ZooError, ValueError):
    """A text file that is not in the expected encoding."""


class RefusedFileError(ZooError, ValueError):
    """A file (checkpoint, weights, metadata) that holds code or names something the zoo does not own.

    Distinct from ``CheckpointError`` (missing, truncated, not a checkpoint): this file was read and refused.
    """


class SettingError(ZooError, ValueError):
    """A setting whose value cannot work (``data.batch_size=0``, ``optimizer.lr=nan``, an unknown key)."""


class RunInterruptedError(ZooError):
    """A run stopped by a signal (SIGTERM from a cluster's time limit): its last.ckpt resumes it."""

    exit_code = 143  # 128 + SIGTERM, as a shell reports a process ended by it


class DataFileError(ZooError, ValueError):
    """A data file that is truncated, corrupt or not in the format its reader expects (its message
    stays one line, also when a DataLoader worker's error is re-raised: see ``original_line``)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(original_line(message))


class InputError(ZooError, ValueError):
    """Inputs to ``predict``, ``encode`` or ``generate`` that the model cannot take as given (type, values, shape, size)."""
