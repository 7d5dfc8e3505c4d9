"""Text corpora for language models, served for truncated backpropagation through time (TBPTT).

A split's token ids are cut into ``batch_size`` contiguous streams, laid side by side; batch ``k``
is the ``k``-th window of ``seq_len`` tokens of every stream, and its targets are the same
window shifted by one token. Consecutive batches therefore continue each other, so the task can
carry the recurrent state from one batch to the next (pytorch/examples' ``batchify``/``get_batch``).

A corpus is either one text file split by fractions (Tiny Shakespeare: first 90% train, last 10%
validation), or a folder with ``train.txt``, ``valid.txt`` and ``test.txt`` (WikiText-2's layout).
Characters are the vocabulary of the whole corpus (it is the alphabet); words come from the
training split only, and other words of valid/test become ``<unk>``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.base import SplitDataModule
from datamodules.files import default_root
from datamodules.info import TextInfo
from datamodules.vocabulary import UNKNOWN, Vocabulary, read_text_file, tokenize
from datamodules.registry import register_data_module
from zoo.errors import DatasetNotFoundError, VocabularyError, first_line

log = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}


class StreamWindows(Dataset):
    """Item ``k``: ``(inputs, targets)``, each ``(streams, <= seq_len)``, the ``k``-th TBPTT window."""

    def __init__(self, streams: torch.Tensor, seq_len: int) -> None:
        if streams.shape[1] < 2:
            raise VocabularyError(
                f"a split is too short to cut into {streams.shape[0]} streams of at least 2 tokens:"
                " lower data.batch_size / data.eval_batch_size, or give a longer text"
            )
        self.streams, self.seq_len = streams, seq_len

    def __len__(self) -> int:
        return -(-(self.streams.shape[1] - 1) // self.seq_len)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * self.seq_len
        end = min(start + self.seq_len, self.streams.shape[1] - 1)
        return self.streams[:, start:end], self.streams[:, start + 1 : end + 1]


def to_streams(ids: torch.Tensor, count: int) -> torch.Tensor:
    """``ids`` cut into ``count`` contiguous rows (the tail that does not fill a row is dropped)."""
    length = len(ids) // count
    return ids[: length * count].view(count, length)


@register_data_module("text")
class TextDataModule(SplitDataModule):
    """A character- or word-level corpus for the language-modelling task.

    Args:
        path: a text file (split by ``val_fraction``/``test_fraction``, in that order from its end) or a
            folder holding ``train.txt``, ``valid.txt`` and ``test.txt``; a relative path that does not
            exist from the working directory is looked up under ``root``.
        level: ``char`` or ``word``.
        name: the corpus's name (the run's and checkpoint's label).
        root: the data root for a relative ``path`` (``$ZOO_DATA_DIR``, else ``./data``).
        seq_len: TBPTT window: tokens per stream per batch (pytorch/examples' ``bptt``).
        batch_size: parallel streams in training, per process.
        eval_batch_size: streams in validation and test (default: ``batch_size``).
        val_fraction, test_fraction: for a single file; a test fraction of 0 scores "test" on the validation text.
        url: where to download a missing file (a single file's URL, or a folder's URL prefix for the three files).
        encoding: of the text files.
        vocabulary: a trained model's tokens (evaluation on another text); unknown words become
            ``<unk>``, unknown characters are dropped with a warning.
    """

    def __init__(
        self,
        path: str | Path,
        level: str = "char",
        name: str = "text_file",
        root: str | Path | None = None,
        seq_len: int = 100,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        url: str | None = None,
        encoding: str = "utf-8",
        vocabulary: list[str] | None = None,
    ) -> None:
        super().__init__()
        if level not in ("char", "word"):
            raise ValueError(f"data.level must be char or word, not {level!r}")
        if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 - val_fraction:
            raise ValueError("data.val_fraction must be in (0, 1) and val_fraction + test_fraction below 1")
        if seq_len < 1:
            raise ValueError(f"data.seq_len must be at least 1, not {seq_len}")
        self.root = Path(root) if root else default_root()
        given = Path(path).expanduser()
        self.path = given if given.is_absolute() or given.exists() else self.root / given
        self.level, self.name, self.seq_len = level, name, seq_len
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.url, self.encoding = url, encoding
        self.vocabulary: Vocabulary | None = None
        if vocabulary is not None:
            self.vocabulary = Vocabulary(vocabulary, level, unknown=UNKNOWN if level == "word" else None)
        self.ids: dict[str, torch.Tensor] = {}

    # --- files -------------------------------------------------------------------------------
    def is_folder_corpus(self) -> bool:
        return self.path.is_dir() or (not self.path.suffix and not self.path.exists())

    def files(self) -> list[Path]:
        return [self.path / name for name in SPLIT_FILES.values()] if self.is_folder_corpus() else [self.path]

    def prepare_data(self) -> None:
        missing = [path for path in self.files() if not path.is_file()]
        if missing and self.url:
            self._download(missing)
            missing = [path for path in self.files() if not path.is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"text corpus {self.name!r}: {', '.join(str(path) for path in missing)} not found: put the text there,"
                " or set data.path (a .txt file, or a folder with train.txt, valid.txt and test.txt) or $ZOO_DATA_DIR"
            )

    def _download(self, missing: list[Path]) -> None:
        from torchvision.datasets.utils import download_url

        try:
            for path in missing:
                url = f"{self.url.rstrip('/')}/{path.name}" if self.is_folder_corpus() else self.url
                download_url(url, root=str(path.parent), filename=path.name)
        except Exception as error:
            raise DatasetNotFoundError(
                f"text corpus {self.name!r} is not at {self.path} and could not be downloaded from {self.url}"
                f" ({first_line(error)}): copy it there, or set data.path or $ZOO_DATA_DIR"
            ) from None

    def read_splits(self) -> dict[str, list[str]]:
        """The tokens of each split."""
        texts = [read_text_file(path, self.encoding) for path in self.files()]
        if self.is_folder_corpus():
            return {split: tokenize(text, self.level) for split, text in zip(SPLIT_FILES, texts)}
        tokens = tokenize(texts[0], self.level)
        n_val, n_test = int(len(tokens) * self.val_fraction), int(len(tokens) * self.test_fraction)
        n_train = len(tokens) - n_val - n_test
        val, test = tokens[n_train : n_train + n_val], tokens[n_train + n_val :]
        return {"train": tokens[:n_train], "val": val, "test": test if n_test else val}

    # --- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.ids:
            return
        self.prepare_data()
        splits = self.read_splits()
        empty = [split for split, tokens in splits.items() if not tokens]
        if empty:
            raise VocabularyError(
                f"text corpus {self.name!r} at {self.path} has no {self.level}s in its {'/'.join(empty)} split:"
                " give a longer text, or lower data.val_fraction/test_fraction"
            )
        if self.vocabulary is None and self.level == "char":
            self.vocabulary = Vocabulary.build([c for tokens in splits.values() for c in tokens], "char")
        elif self.vocabulary is None:
            self.vocabulary = Vocabulary.build(splits["train"], "word", unknown=UNKNOWN)
        for split, tokens in splits.items():
            unknown = self.vocabulary.missing(tokens)
            if unknown:
                replaced = f"read as {UNKNOWN}" if self.vocabulary.unknown else "dropped"
                log.warning("%s %s: %d distinct %ss outside the vocabulary %s", self.name, split, len(unknown), self.level, replaced)
            self.ids[split] = self.vocabulary.encode(tokens, on_unknown="unknown")

    @property
    def info(self) -> TextInfo:
        self.setup()
        assert self.vocabulary is not None
        return TextInfo(
            name=self.name, level=self.level, vocabulary=self.vocabulary.tokens, unknown=self.vocabulary.unknown,
            seq_len=self.seq_len,
        )  # fmt: skip

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        self.setup()
        trainer = self.trainer
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        streams = to_streams(self.ids[split], batch_size * world_size)[rank * batch_size : (rank + 1) * batch_size]
        return DataLoader(StreamWindows(streams, self.seq_len), batch_size=None, shuffle=False)

    def transfer_batch_to_device(self, batch: tuple[torch.Tensor, torch.Tensor], device: torch.device, dataloader_idx: int):
        return tuple(tensor.to(device, non_blocking=True) for tensor in batch)
