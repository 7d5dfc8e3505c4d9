"""Errors a user can act on: each message is one line that says what went wrong and what to do."""


def first_line(error: BaseException, limit: int = 160) -> str:
    """An exception's message cut to its first line (its type's name if it has none), for one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


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
