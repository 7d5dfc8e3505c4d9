"""word2vec's corpus sampling, vectorised over a block of words at once (Mikolov et al. 2013):
vocabulary counts with ``min_count``/``max_vocab``, frequent-word subsampling, and the dynamic
(shrunk) window, which never crosses a sentence boundary. The formulas are word2vec.c's as gensim
writes them (``Word2Vec.prepare_vocab``, ``word2vec_inner.pyx``)."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import torch


def count_words(sentences: Iterable[list[str]]) -> Counter:
    counts: Counter = Counter()
    for sentence in sentences:
        counts.update(sentence)
    return counts


def select_vocabulary(counts: Counter, min_count: int, max_vocab: int | None) -> tuple[list[str], list[int]]:
    """Words seen at least ``min_count`` times, most frequent first (first seen first among equals),
    cut to the ``max_vocab`` most frequent."""
    kept = [(word, count) for word, count in counts.items() if count >= min_count]
    kept.sort(key=lambda item: -item[1])  # stable: ties keep corpus order
    if max_vocab is not None:
        kept = kept[:max_vocab]
    return [word for word, _ in kept], [count for _, count in kept]


def keep_probabilities(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """Probability of keeping each word: ``(sqrt(c / t) + 1) * t / c`` with ``t = sample * total``, at most 1."""
    counts = counts.double()
    if sample <= 0:
        return torch.ones(len(counts))
    threshold = sample * counts.sum()
    return ((torch.sqrt(counts / threshold) + 1) * threshold / counts).clamp(max=1).float()


def encode_sentences(sentences: Iterable[list[str]], index: dict[str, int], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids of the in-vocabulary words (others dropped, as gensim does) and each one's sentence number;
    sentences longer than ``max_length`` words are cut into pieces (gensim's 10,000-word limit)."""
    ids: list[int] = []
    sentence_ids: list[int] = []
    number = 0
    for sentence in sentences:
        known = [index[word] for word in sentence if word in index]
        for start in range(0, len(known), max_length):
            piece = known[start : start + max_length]
            ids.extend(piece)
            sentence_ids.extend([number] * len(piece))
            number += 1
    return torch.tensor(ids, dtype=torch.long), torch.tensor(sentence_ids, dtype=torch.long)


def block_bounds(sentence_ids: torch.Tensor, block_words: int) -> list[tuple[int, int]]:
    """``[start, end)`` blocks of about ``block_words`` words that end on sentence boundaries."""
    n = len(sentence_ids)
    if n == 0:
        return []
    starts = torch.nonzero(torch.diff(sentence_ids, prepend=sentence_ids[:1] - 1)).flatten()
    wanted = torch.arange(0, n, block_words)
    cuts = torch.unique(starts[torch.searchsorted(starts, wanted, right=True) - 1]).tolist() + [n]
    return list(zip(cuts[:-1], cuts[1:]))


def context_windows(
    ids: torch.Tensor,
    sentence_ids: torch.Tensor,
    keep: torch.Tensor,
    window: int,
    shrink: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsample ``ids`` (keeping each with probability ``keep[id]``, then closing the gaps, as gensim
    does) and give every kept word its context: ``(N,)`` kept words and ``(N, 2 * window)`` booleans
    saying whether the kept word at offset ``-window..-1, 1..window`` is in the centre's context: in
    its window shrunk to a uniform ``1..window`` (``shrink``) and in its sentence."""
    kept = torch.rand(len(ids), generator=generator) < keep.index_select(0, ids)
    ids, sentence_ids = ids[kept], sentence_ids[kept]
    n = len(ids)
    offsets = torch.cat([torch.arange(-window, 0), torch.arange(1, window + 1)])
    positions = torch.arange(n)[:, None] + offsets
    inside = (positions >= 0) & (positions < n)
    positions.clamp_(0, max(n - 1, 0))
    if shrink:
        reach = torch.randint(1, window + 1, (n, 1), generator=generator)
        inside &= offsets.abs() <= reach
    inside &= sentence_ids.index_select(0, positions.flatten()).view(positions.shape) == sentence_ids[:, None]
    return ids, inside
