"""Plain-text corpora for word2vec (Mikolov et al. 2013): a file, or every ``*.txt`` of a folder.

Each line is a sentence of whitespace-separated words (windows never cross lines; a line of more
than ``max_sentence_length`` words, like text8's single line, is cut into pieces, as gensim's
``LineSentence`` does). Words seen fewer than ``min_count`` times are dropped before windowing. A
training batch is a run of about ``batch_words`` corpus words, subsampled and windowed afresh every
epoch (``datamodules.word_windows``). Validation and test score the word-analogy questions read
from the data root. The vocabulary (words and counts) is written once into ``cache_dir`` (the run's
folder), never beside the corpus.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.analogy import AnalogyQuestions, encode_analogies, read_analogies
from datamodules.files import default_root
from datamodules.info import WordCorpusInfo
from datamodules.vocabulary import read_text_file
from datamodules.word_windows import block_bounds, context_windows, count_words, encode_sentences, keep_probabilities, select_vocabulary
from datamodules.registry import register_data_module
from zoo.errors import DatasetNotFoundError, VocabularyError

log = logging.getLogger(__name__)

ANALOGY_FILE = "analogy/questions-words.txt"


class WordRuns(Dataset):
    """Item ``k``: run ``k`` of the corpus, subsampled and windowed: ``(words (N,), valid (N, 2W), corpus words)``."""

    def __init__(self, ids: torch.Tensor, sentences: torch.Tensor, keep: torch.Tensor, window: int, shrink: bool, block_words: int) -> None:
        self.ids, self.sentences, self.keep, self.window, self.shrink = ids, sentences, keep, window, shrink
        self.bounds = block_bounds(sentences, block_words)

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        start, end = self.bounds[index]
        words, valid = context_windows(self.ids[start:end], self.sentences[start:end], self.keep, self.window, self.shrink)
        return words, valid, torch.tensor(end - start)


def read_vocabulary_cache(path: Path) -> dict | None:
    """A vocabulary written by ``_vocabulary`` (``key``, ``words``, ``counts``), or None if unreadable (then rebuilt)."""
    try:
        saved = json.loads(path.read_bytes().decode("utf-8"))
        words, counts = saved["words"], saved["counts"]
        if isinstance(words, list) and isinstance(counts, list) and len(words) == len(counts) and "key" in saved:
            if all(isinstance(w, str) for w in words) and all(type(c) is int and c >= 0 for c in counts):
                return saved
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        pass
    log.warning("%s is not a vocabulary this module wrote: it is built again from the corpus", path)
    return None


@register_data_module("word_corpus")
class WordCorpusDataModule(L.LightningDataModule):
    """A word corpus for word2vec, with analogy questions for validation and test.

    Args:
        path: a text file or a folder of ``*.txt`` files; a relative path that does not exist from the
            working directory is looked up under ``root``.
        name: the corpus's name (the run's and checkpoint's label).
        root: the data root (``$ZOO_DATA_DIR``, else ``./data``), also holding ``analogy_path``.
        min_count, max_vocab: drop words seen fewer times; keep at most this many (most frequent).
        sample: subsampling threshold (Mikolov et al.'s ``t``; 0: off).
        window: largest distance between a centre and a context word.
        shrink_windows: draw each centre's window uniformly from ``1..window`` (word2vec.c's default).
        batch_words: corpus words per training batch (the torch path sets the rate per batch, the CPU kernel per centre).
        max_sentence_length: longer lines are cut into pieces of this many words.
        analogy_path: the questions file, relative to ``root`` (gensim's own copy is used when missing).
        restrict_vocab: only the most frequent words answer analogies (gensim's 30,000).
        eval_batch_size: analogy questions per evaluation batch.
        cache_dir: where the vocabulary is written (and read back from, when it matches).
        encoding: of the text files.
        words, counts: a trained model's vocabulary and counts (evaluation); the corpus is then only read for its questions.
    """

    def __init__(
        self,
        path: str | Path,
        name: str = "word_corpus",
        root: str | Path | None = None,
        min_count: int = 5,
        max_vocab: int | None = None,
        sample: float = 1e-3,
        window: int = 5,
        shrink_windows: bool = True,
        batch_words: int = 10000,
        max_sentence_length: int = 10000,
        analogy_path: str = ANALOGY_FILE,
        restrict_vocab: int = 30000,
        eval_batch_size: int = 1024,
        cache_dir: str | Path | None = None,
        encoding: str = "utf-8",
        words: list[str] | None = None,
        counts: list[int] | None = None,
    ) -> None:
        super().__init__()
        if window < 1 or min_count < 1 or batch_words < 1:
            raise ValueError("data.window, data.min_count and data.batch_words must be at least 1")
        self.root = Path(root) if root else default_root()
        given = Path(path).expanduser()
        self.path = given if given.is_absolute() or given.exists() else self.root / given
        self.name, self.min_count, self.max_vocab, self.sample = name, min_count, max_vocab, sample
        self.window, self.shrink, self.batch_words = window, shrink_windows, batch_words
        self.max_sentence_length, self.analogy_path, self.restrict = max_sentence_length, analogy_path, restrict_vocab
        self.eval_batch_size, self.encoding = eval_batch_size, encoding
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.words, self.counts = words, counts
        self.ids: torch.Tensor | None = None
        self.analogies: AnalogyQuestions | None = None

    # --- corpus ------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        if self.path.is_dir():
            found = sorted(self.path.glob("*.txt"))
            if not found:
                raise DatasetNotFoundError(f"corpus folder {self.path} holds no .txt files: put the text there or set data.path")
            return found
        if not self.path.is_file():
            raise DatasetNotFoundError(
                f"corpus {self.name!r}: {self.path} not found: put the text there, or set data.path (a .txt file or a"
                " folder of them) or $ZOO_DATA_DIR"
            )
        return [self.path]

    def sentences(self) -> list[list[str]]:
        """Every non-empty line's words."""
        lines: list[list[str]] = []
        for path in self.files():
            text = read_text_file(path, self.encoding)
            lines.extend(words for words in (line.split() for line in text.splitlines()) if words)
        return lines

    def _cache_key(self) -> dict:
        files = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in self.files()]
        return {"files": files, "min_count": self.min_count, "max_vocab": self.max_vocab}

    def _vocabulary(self, sentences: list[list[str]]) -> tuple[list[str], list[int]]:
        """Words and counts, read from ``cache_dir/vocabulary.json`` when it was built from the same files."""
        cache = self.cache_dir / "vocabulary.json" if self.cache_dir else None
        key = self._cache_key()
        saved = read_vocabulary_cache(cache) if cache is not None and cache.is_file() else None
        if saved is not None and saved["key"] == key:
            return saved["words"], saved["counts"]
        counts = count_words(sentences)
        if not counts:
            raise VocabularyError(f"corpus {self.name!r} at {self.path} holds no words: give a non-empty text")
        words, kept = select_vocabulary(counts, self.min_count, self.max_vocab)
        if not words:
            raise VocabularyError(
                f"no word of corpus {self.name!r} occurs data.min_count={self.min_count} times (the most frequent,"
                f" {counts.most_common(1)[0][0]!r}, occurs {counts.most_common(1)[0][1]}): lower data.min_count or give a longer text"
            )
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"key": key, "words": words, "counts": kept}))
        return words, kept

    def _analogy_file(self) -> Path:
        path = self.root / self.analogy_path
        if path.is_file():
            return path
        try:
            from gensim.test.utils import datapath

            if Path(datapath("questions-words.txt")).is_file():
                return Path(datapath("questions-words.txt"))
        except ImportError:
            pass
        raise DatasetNotFoundError(
            f"analogy questions not found at {path}: copy Mikolov's questions-words.txt there, or set data.analogy_path"
        )

    # --- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.analogies is not None:
            return
        if self.words is None or self.counts is None:  # with a trained model's vocabulary, the corpus is read only to train
            self._encode()
        self.analogies = encode_analogies(read_analogies(self._analogy_file()), self.words, self.restrict)
        skipped, total = sum(self.analogies.skipped), len(self.analogies.questions) + sum(self.analogies.skipped)
        log.info("%s: %d words, vocabulary %d; %d of %d analogy questions skipped (words outside the %d most frequent)",
                 self.name, sum(self.counts), len(self.words), skipped, total, self.restrict)  # fmt: skip

    def _encode(self) -> None:
        """Read the corpus: its vocabulary (unless given) and its words as ids."""
        sentences = self.sentences()
        if self.words is None:
            self.words, self.counts = self._vocabulary(sentences)
        index = {word: i for i, word in enumerate(self.words)}
        self.ids, self.sentence_ids = encode_sentences(sentences, index, self.max_sentence_length)
        if self.counts is None:
            self.counts = torch.bincount(self.ids, minlength=len(self.words)).tolist()
        if len(self.ids) <= self.window:
            raise VocabularyError(
                f"corpus {self.name!r} has {len(self.ids)} words of the vocabulary, not more than the window"
                f" ({self.window}): give a longer text, or lower data.window or data.min_count"
            )

    @property
    def info(self) -> WordCorpusInfo:
        self.setup()
        assert self.words is not None and self.counts is not None and self.analogies is not None
        total = len(self.ids) if self.ids is not None else sum(self.counts)
        return WordCorpusInfo(
            name=self.name, words=self.words, counts=self.counts, total_words=total, window=self.window,
            analogy_sections=self.analogies.names,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        self.setup()
        if self.ids is None:
            self._encode()
        keep = keep_probabilities(torch.tensor(self.counts), self.sample)
        runs = WordRuns(self.ids, self.sentence_ids, keep, self.window, self.shrink, self.batch_words)
        return DataLoader(runs, batch_size=None, shuffle=False)

    def _questions(self) -> DataLoader:
        self.setup()
        assert self.analogies is not None
        questions, sections = self.analogies.questions, self.analogies.sections
        batches = [(questions[i : i + self.eval_batch_size], sections[i : i + self.eval_batch_size])
                   for i in range(0, max(len(questions), 1), self.eval_batch_size)]  # fmt: skip
        return DataLoader(batches, batch_size=None, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._questions()

    def test_dataloader(self) -> DataLoader:
        return self._questions()
