"""Word vectors in a notebook: nearest neighbours, analogies (3CosAdd, Mikolov et al. 2013), and the
word2vec text and binary formats that gensim's ``KeyedVectors.load_word2vec_format`` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from datamodules.analogy import case_groups, encode_analogies, read_analogies
from zoo.errors import CheckpointError, VocabularyError


def analogy_correct(normed: torch.Tensor, questions: torch.Tensor, groups: torch.Tensor, topn: int = 5) -> torch.Tensor:
    """Which questions ``(Q, 4)`` (standing ids ``a b c d``) 3CosAdd answers right, as gensim's
    ``evaluate_word_analogies`` does: the nearest of the restricted words (``normed`` rows, unit length)
    to ``b - a + c`` other than ``a, b, c``, looked for among the ``topn`` best; a word whose standing id
    (``groups``, its case-folded key) is one of the question's is passed over."""
    query = normed[questions[:, 1]] - normed[questions[:, 0]] + normed[questions[:, 2]]
    scores = query @ normed.T
    scores.scatter_(1, questions[:, :3], float("-inf"))
    best = groups[scores.topk(min(topn, scores.shape[1]), dim=1).indices]  # (Q, topn) standing ids
    allowed = ~(best[:, :, None] == questions[:, None, :3]).any(-1)
    first = allowed.int().argmax(1, keepdim=True)
    return allowed.any(1) & (best.gather(1, first).squeeze(1) == questions[:, 3])


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)


class WordVectors:
    """Words, most frequent first, and their vectors ``(V, D)``.

    >>> vectors = zoo.load("logs/word2vec_text8/runs/<time>/checkpoints/best.ckpt")  # or "vectors.bin"
    >>> vectors.most_similar("king"), vectors.analogy("man", "king", "woman"), vectors.similarity("cat", "dog")
    """

    def __init__(self, words: list[str], vectors: torch.Tensor, counts: list[int] | None = None) -> None:
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
        self.words, self.vectors, self.counts = list(words), vectors.detach().float().cpu(), counts
        self.index = {word: i for i, word in enumerate(self.words)}
        self._normed: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.words)

    def to(self, device: str | torch.device) -> "WordVectors":
        """The same vectors on ``device`` (``zoo.load(..., map_location=...)``)."""
        self.vectors, self._normed = self.vectors.to(device), None
        return self

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self._id(word)]

    @property
    def normed(self) -> torch.Tensor:
        if self._normed is None:
            self._normed = unit_rows(self.vectors)
        return self._normed

    def _id(self, word: str) -> int:
        if word not in self.index:
            raise VocabularyError(f"{word!r} is not among the {len(self)} words of these vectors: check its spelling and case")
        return self.index[word]

    def similarity(self, first: str, second: str) -> float:
        """Cosine similarity of two words."""
        return float(self.normed[self._id(first)] @ self.normed[self._id(second)])

    def most_similar(self, positive: str | Iterable[str] = (), negative: Iterable[str] = (), topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words nearest (cosine) to the mean of the unit vectors of ``positive`` minus
        ``negative``, the query words left out (gensim's ``most_similar``)."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = list(negative)
        ids = [self._id(word) for word in positive + negative]
        if not ids:
            raise ValueError("most_similar needs at least one word")
        query = self.normed[[self._id(w) for w in positive]].sum(0) - self.normed[[self._id(w) for w in negative]].sum(0)
        scores = self.normed @ unit_rows(query[None])[0]
        scores[ids] = float("-inf")
        top = scores.topk(min(topn, len(self) - len(set(ids))))
        return [(self.words[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> str | list[tuple[str, float]]:
        """"``a`` is to ``b`` as ``c`` is to ?" by 3CosAdd: the word nearest ``b - a + c`` (``topn`` > 1: a list)."""
        found = self.most_similar(positive=[b, c], negative=[a], topn=topn)
        return found[0][0] if topn == 1 else found

    def evaluate_word_analogies(self, path: str | Path, restrict_vocab: int = 30000, case_insensitive: bool = True) -> dict:
        """Accuracy per section and overall on a ``questions-words.txt`` file, with gensim's protocol
        (questions with a word outside the ``restrict_vocab`` most frequent are skipped and counted)."""
        questions = encode_analogies(read_analogies(path), self.words, restrict_vocab, case_insensitive)
        normed = self.normed[:restrict_vocab]
        correct = torch.cat([analogy_correct(normed, chunk, questions.groups) for chunk in questions.questions.split(1024)]
                            or [torch.zeros(0, dtype=torch.bool)])  # fmt: skip
        sections = []
        for index, name in enumerate(questions.names):
            hits = correct[questions.sections == index]
            sections.append({"section": name, "correct": int(hits.sum()), "incorrect": int((~hits).sum()),
                             "skipped": questions.skipped[index]})  # fmt: skip
        total = int(correct.sum())
        return {"accuracy": total / max(len(correct), 1), "correct": total, "incorrect": len(correct) - total,
                "skipped": sum(questions.skipped), "sections": sections}  # fmt: skip

    # --- the word2vec formats ----------------------------------------------------------------
    def save_word2vec_format(self, path: str | Path, binary: bool = False) -> Path:
        """word2vec.c's format: a ``"V D"`` header, then per word its text and its vector (text: decimal
        numbers; binary: little-endian float32s then a newline)."""
        path = Path(path)
        array = self.vectors.numpy().astype("<f4")
        with path.open("wb") as handle:
            handle.write(f"{len(self)} {array.shape[1]}\n".encode())
            for word, row in zip(self.words, array):
                if binary:
                    handle.write(word.encode() + b" " + row.tobytes() + b"\n")
                else:
                    handle.write((word + " " + " ".join(f"{value:.9g}" for value in row.tolist()) + "\n").encode())
        return path

    @classmethod
    def load_word2vec_format(cls, path: str | Path, binary: bool | None = None) -> "WordVectors":
        """Vectors from a word2vec text or binary file (``binary=None``: told by the ``.bin`` suffix)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no word vectors file at {path}")
        binary = path.suffix == ".bin" if binary is None else binary
        data = path.read_bytes()
        try:
            header, _, body = data.partition(b"\n")
            count, dim = (int(x) for x in header.split())
            words, rows = cls._read_binary(body, count, dim) if binary else cls._read_text(body, count, dim)
        except (ValueError, UnicodeDecodeError) as error:
            kind = "binary" if binary else "text"
            raise CheckpointError(f"{path} is not a word2vec {kind} file ({error}): pass binary={not binary} or check the file") from None
        return cls(words, torch.from_numpy(rows))

    @staticmethod
    def _read_binary(body: bytes, count: int, dim: int) -> tuple[list[str], np.ndarray]:
        words, rows, position = [], np.empty((count, dim), dtype=np.float32), 0
        for i in range(count):
            space = body.index(b" ", position)
            words.append(body[position:space].lstrip(b"\n").decode("utf-8"))
            rows[i] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
            position = space + 1 + 4 * dim
        return words, rows

    @staticmethod
    def _read_text(body: bytes, count: int, dim: int) -> tuple[list[str], np.ndarray]:
        lines = body.decode("utf-8").splitlines()[:count]
        if len(lines) != count:
            raise ValueError(f"{len(lines)} lines for {count} words")
        words = [line.split(" ", 1)[0] for line in lines]
        rows = np.array([line.rstrip().split(" ")[1:] for line in lines], dtype=np.float32)
        if rows.shape != (count, dim):
            raise ValueError(f"vectors of shape {rows.shape}, header says ({count}, {dim})")
        return words, rows


def groups_for(words: list[str], restrict: int) -> torch.Tensor:
    """Each of the first ``restrict`` words' standing id for analogy scoring (case-insensitive)."""
    return case_groups(words, restrict)[1]
