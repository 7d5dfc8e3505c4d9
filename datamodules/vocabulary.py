"""Tokens <-> ids for the language models: characters, or words split on whitespace with ``<eos>``
closing every line (pytorch/examples' ``word_language_model`` convention)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

import torch

from zoo.errors import DataFileError, TextEncodingError, VocabularyError, first_line

LEVELS = ("char", "word")
END_OF_LINE = "<eos>"
UNKNOWN = "<unk>"


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """A text file's content, or one line naming it: unreadable, not in ``encoding``, or binary (NUL bytes)."""
    try:
        data = Path(path).read_bytes()
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise TextEncodingError(
            f"{path} is not {encoding}: byte {error.start} is {data[error.start:error.start + 1]!r};"
            f" convert it (iconv -f latin1 -t utf-8) or set data.encoding (e.g. latin-1)"
        ) from None
    except LookupError:
        raise TextEncodingError(
            f"data.encoding={encoding!r} is not a text encoding Python knows: use e.g. utf-8 or latin-1"
        ) from None
    except OSError as error:
        raise DataFileError(f"cannot read {path} ({first_line(error)}): pass a readable text file") from None
    if "\0" in text:
        raise DataFileError(
            f"{path} holds NUL bytes (byte {data.index(0)}): it is a binary file, not text; pass a UTF-8 text file"
        )
    return text


def tokenize(text: str, level: str) -> list[str]:
    """Characters (newlines included), or the words of each line followed by ``<eos>``."""
    if level == "char":
        return list(text)
    if level == "word":
        return [token for line in text.splitlines() for token in (*line.split(), END_OF_LINE)]
    raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


class Vocabulary:
    """An ordered token list; ``unknown`` (e.g. ``<unk>``) stands for tokens outside it, if set."""

    def __init__(self, tokens: list[str], level: str, unknown: str | None = None) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        self.tokens, self.level, self.unknown = list(tokens), level, unknown
        self.index = {token: i for i, token in enumerate(self.tokens)}
        if unknown is not None and unknown not in self.index:
            raise ValueError(f"the unknown token {unknown!r} is not in the vocabulary")

    @classmethod
    def build(cls, tokens: Iterable[str], level: str, unknown: str | None = None) -> "Vocabulary":
        """Tokens in order of first appearance (sorted for characters, like char-rnn), plus ``unknown``."""
        counts = Counter(tokens)
        ordered = sorted(counts) if level == "char" else list(counts)
        if unknown is not None and unknown not in counts:
            ordered.append(unknown)
        return cls(ordered, level, unknown)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def missing(self, tokens: Iterable[str]) -> list[str]:
        """The distinct tokens of ``tokens`` that the vocabulary does not have, in order."""
        return list(dict.fromkeys(token for token in tokens if token not in self.index))

    def encode(self, tokens: list[str], on_unknown: str = "error") -> torch.Tensor:
        """Ids of ``tokens``; tokens outside the vocabulary raise (``error``), are dropped (``skip``)
        or become the unknown token (``unknown``; the default behaviour when the vocabulary has one)."""
        if on_unknown not in ("error", "skip", "unknown"):
            raise ValueError(f"on_unknown must be error, skip or unknown, not {on_unknown!r}")
        missing = self.missing(tokens)
        if missing:
            if on_unknown == "error" and self.unknown is None:
                shown = ", ".join(repr(token) for token in missing[:10])
                more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                count = f"1 {self.level} is" if len(missing) == 1 else f"{len(missing)} {self.level}s are"
                raise VocabularyError(
                    f"{count} not in the model's vocabulary ({shown}{more}): remove them, or drop them with"
                    " on_unknown='skip' (generate.py --skip-unknown)"
                )
            if on_unknown == "skip" or self.unknown is None:
                tokens = [token for token in tokens if token in self.index]
            else:
                unknown_id = self.index[self.unknown]
                return torch.tensor([self.index.get(token, unknown_id) for token in tokens], dtype=torch.long)
        return torch.tensor([self.index[token] for token in tokens], dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> str:
        """Text from ids: characters joined, or words joined by spaces with ``<eos>`` as a line break."""
        tokens = [self.tokens[i] for i in ids]
        if self.level == "char":
            return "".join(tokens)
        return "\n".join(line.strip(" ") for line in " ".join(tokens).split(END_OF_LINE))
