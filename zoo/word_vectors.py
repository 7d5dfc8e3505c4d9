"""Word vectors in a notebook: nearest neighbours, analogies (3CosAdd, Mikolov et al. 2013), and the
word2vec text and binary formats that gensim's ``KeyedVectors.load_word2vec_format`` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from datamodules.analogy import case_groups, encode_analogies, read_analogies
from zoo.errors import CheckpointError, VocabularyError, first_line


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

    @classmethod
    def from_model(cls, model: Any, config: dict[str, Any]) -> "WordVectors":
        """A trained word2vec network's input vectors with the words and counts of its corpus (``zoo.load``)."""
        return cls(config["data_info"]["words"], model.input, config["data_info"]["counts"])

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
        """Vectors from a word2vec text or binary file (``binary=None``: told by the ``.bin`` suffix).

        Every bad file ends in a one-line ``CheckpointError`` naming it: a header whose ``count x dim``
        the file's size cannot hold is refused before anything is allocated, and vectors holding NaN or
        infinity are refused too (no training run we accept writes them; they would poison every similarity)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no word vectors file at {path}")
        binary = path.suffix == ".bin" if binary is None else binary
        kind = "binary" if binary else "text"
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CheckpointError(f"cannot read {path} ({first_line(error)}): check the file") from None
        header, _, body = data.partition(b"\n")
        count, dim = _checked_header(path, header, len(body), binary)
        try:
            words, rows = cls._read_binary(body, count, dim) if binary else cls._read_text(body, count, dim)
        except (ValueError, UnicodeDecodeError) as error:
            raise CheckpointError(
                f"{path} is not a word2vec {kind} file ({first_line(error)}): pass binary={not binary} or check the file"
            ) from None
        if not np.isfinite(rows).all():
            row = int(np.flatnonzero(~np.isfinite(rows).all(1))[0])
            raise CheckpointError(
                f"{path} holds NaN or infinite numbers (first in the vector of {words[row]!r}): the vectors are"
                " corrupt; train them again"
            )
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
        lines = body.split(b"\n", count)[:count]
        if len(lines) != count:
            raise ValueError(f"{len(lines)} lines for {count} words")
        words, rows = [], np.empty((count, dim), dtype=np.float32)
        for i, line in enumerate(lines):
            fields = line.rstrip().split(b" ")
            if len(fields) != dim + 1:
                raise ValueError(f"line {i + 2} holds {len(fields) - 1} numbers, the header says {dim}")
            words.append(fields[0].decode("utf-8"))
            rows[i] = np.array(fields[1:], dtype=np.float32)
        return words, rows


def _checked_header(path: Path, header: bytes, body_size: int, binary: bool) -> tuple[int, int]:
    """The ``count dim`` of a word2vec header, refused if the rest of the file (``body_size`` bytes) cannot
    hold that many vectors: a binary row takes at least ``4 * dim + 1`` bytes, a text row ``2 * dim``."""
    fields, kind = header.split(), "binary" if binary else "text"
    if len(fields) != 2 or not all(field.isdigit() for field in fields) or min(int(f) for f in fields) < 1:
        shown = header[:40].decode("utf-8", "replace")
        raise CheckpointError(
            f"{path} is not a word2vec {kind} file: it starts with {shown!r}, not a header of two positive numbers"
            " (vectors, dimension); add one (e.g. to a GloVe file) or check the file"
        )
    count, dim = int(fields[0]), int(fields[1])
    smallest = count * (4 * dim + 1 if binary else 2 * dim)
    if smallest > body_size:
        raise CheckpointError(
            f"{path} is not a word2vec {kind} file: its header promises {count} vectors of {dim} numbers, more than"
            f" its {body_size} bytes can hold; the file is truncated or its header corrupt"
        )
    return count, dim


def groups_for(words: list[str], restrict: int) -> torch.Tensor:
    """Each of the first ``restrict`` words' standing id for analogy scoring (case-insensitive)."""
    return case_groups(words, restrict)[1]
