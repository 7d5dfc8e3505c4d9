"""Mikolov et al.'s word-analogy questions (``questions-words.txt``: ``: section`` headers, then
``a b c d`` lines meaning "a is to b as c is to d"), read and turned into vocabulary ids with the
protocol of gensim's ``KeyedVectors.evaluate_word_analogies``: only the ``restrict`` most frequent
words take part, case-insensitively (the most frequent spelling stands for all its casings), and a
question with any other word is skipped and counted as such."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from datamodules.vocabulary import read_text_file
from zoo.errors import VocabularyError

Section = tuple[str, list[tuple[str, str, str, str]]]


def read_analogies(path: str | Path) -> list[Section]:
    """The sections of an analogy file, each ``(name, [(a, b, c, d), ...])``."""
    sections: list[Section] = []
    for number, line in enumerate(read_text_file(Path(path)).splitlines(), start=1):
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
        elif line.strip():
            words = line.split()
            if len(words) != 4 or not sections:
                raise VocabularyError(
                    f"{path}, line {number}: expected a ': section' header before lines of 4 words, got {line[:60]!r}:"
                    " use Mikolov's questions-words.txt format"
                )
            sections[-1][1].append(tuple(words))  # type: ignore[arg-type]
    if not any(questions for _, questions in sections):
        raise VocabularyError(f"{path} holds no analogy questions: use Mikolov's questions-words.txt format")
    return sections


def case_groups(words: list[str], restrict: int, case_insensitive: bool = True) -> tuple[dict[str, int], torch.Tensor]:
    """gensim's ``ok_vocab``: key -> the id standing for it among the first ``restrict`` words (upper-cased
    keys: the most frequent casing wins), and each of those words' standing id."""
    kept = words[:restrict]
    keys = [word.upper() if case_insensitive else word for word in kept]
    lookup: dict[str, int] = {}
    for index in reversed(range(len(kept))):
        lookup[keys[index]] = index
    return lookup, torch.tensor([lookup[key] for key in keys], dtype=torch.long)


@dataclass
class AnalogyQuestions:
    """Questions as standing ids ``(Q, 4)``, each one's section index, and the skipped count per section."""

    names: list[str]
    questions: torch.Tensor
    sections: torch.Tensor
    skipped: list[int]
    groups: torch.Tensor


def encode_analogies(
    sections: list[Section], words: list[str], restrict: int = 30000, case_insensitive: bool = True
) -> AnalogyQuestions:
    """The questions whose four words are all among the ``restrict`` most frequent ``words``."""
    lookup, groups = case_groups(words, restrict, case_insensitive)
    rows, section_ids, skipped = [], [], []
    for index, (_, questions) in enumerate(sections):
        missed = 0
        for question in questions:
            keys = [word.upper() if case_insensitive else word for word in question]
            if all(key in lookup for key in keys):
                rows.append([lookup[key] for key in keys])
                section_ids.append(index)
            else:
                missed += 1
        skipped.append(missed)
    questions_t = torch.tensor(rows, dtype=torch.long).reshape(-1, 4)
    return AnalogyQuestions([name for name, _ in sections], questions_t, torch.tensor(section_ids, dtype=torch.long), skipped, groups)
