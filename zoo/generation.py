"""Text from a trained language model: ``zoo.load(ckpt).generate("ROMEO:", 500)``.

Sampling follows char-rnn: feed the prompt, then draw each next token from the softmax of the
logits divided by ``temperature`` (lower: safer, more repetitive; 0: always the likeliest),
optionally only among the ``top_k`` likeliest tokens, feeding every drawn token back in.

One call draws at most ``MAX_LENGTH`` tokens (the text is built in memory and returned whole);
generate longer texts in pieces, each prompted with the end of the last.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import nn

from datamodules.info import TextInfo
from datamodules.vocabulary import END_OF_LINE, Vocabulary, tokenize
from zoo.data_info import read_data_info
from zoo.errors import InputError, VocabularyError

MAX_LENGTH = 100_000  # tokens one generate() call draws at most


def _shown(value: Any) -> str:
    """A setting as a message shows it: numbers as written (``-1``, not ``np.int64(-1)``), the rest by repr."""
    return str(value) if isinstance(value, numbers.Number) else repr(value)


def _whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_sampling(length: Any, temperature: Any, top_k: Any, vocabulary_size: int | None = None) -> None:
    """Refuse, in one ``InputError`` line, sampling settings ``generate`` cannot honour: ``length`` must be
    a whole number from 0 to ``MAX_LENGTH``, ``temperature`` a finite number >= 0, ``top_k`` ``None`` or a
    whole number from 1 to the vocabulary's size (not checked when ``vocabulary_size`` is ``None``)."""
    if not _whole(length) or length < 0:
        raise InputError(f"length must be a whole number of tokens from 0 to {MAX_LENGTH:,}, got {_shown(length)}")
    if length > MAX_LENGTH:
        raise InputError(
            f"length {length:,} is over the {MAX_LENGTH:,} tokens one call draws: generate in pieces,"
            " each prompted with the end of the last"
        )
    real = isinstance(temperature, numbers.Real) and not isinstance(temperature, bool)
    if not real or not math.isfinite(temperature) or temperature < 0:
        raise InputError(
            f"temperature must be a finite number >= 0 (0: always the likeliest token), got {_shown(temperature)}"
        )
    if top_k is None:
        return
    if not _whole(top_k) or top_k < 1 or (vocabulary_size is not None and top_k > vocabulary_size):
        bound = f" to the vocabulary's {vocabulary_size}" if vocabulary_size is not None else ""
        raise InputError(f"top_k must be a whole number of tokens from 1{bound} (or None: all), got {_shown(top_k)}")


class TextGenerator(nn.Module):
    """An eval-mode language model with its vocabulary: ``generate`` text, or ``score`` it."""

    def __init__(self, model: nn.Module, config: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.info: TextInfo = read_data_info(config, (TextInfo,), "language model")
        self.vocabulary = Vocabulary(self.info.vocabulary or [], self.info.level, self.info.unknown)
        self.eval()

    @property
    def data_config(self) -> dict[str, Any] | None:
        """The training run's data module config (a Hydra ``_target_`` dict)."""
        return self.config.get("data_config")

    def forward(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        return self.model(tokens, state)

    def encode(self, text: str, on_unknown: str = "error") -> torch.Tensor:
        """Token ids of ``text``; a word-level prompt only ends with ``<eos>`` if it ends a line."""
        tokens = tokenize(text, self.vocabulary.level)
        if self.vocabulary.level == "word" and tokens and not text.endswith("\n"):
            tokens = tokens[:-1]
        return self.vocabulary.encode(tokens, on_unknown=on_unknown)

    def _start(self, prompt: str, on_unknown: str) -> torch.Tensor:
        ids = self.encode(prompt, on_unknown)
        if len(ids):
            return ids
        start = "\n" if self.vocabulary.level == "char" else END_OF_LINE  # begin as if after a line break
        if start not in self.vocabulary:
            raise VocabularyError("give a prompt: the vocabulary has no line break to start from")
        return self.vocabulary.encode([start])

    @torch.no_grad()
    def generate(
        self,
        prompt: str = "",
        length: int = 500,
        temperature: float = 0.8,
        top_k: int | None = None,
        seed: int | None = None,
        on_unknown: str = "error",
    ) -> str:
        """``prompt`` followed by ``length`` sampled tokens (characters or words).

        ``length``: 0 to ``MAX_LENGTH`` (100,000) tokens; ``temperature``: a finite number >= 0;
        ``top_k``: ``None`` (all tokens) or 1 to the vocabulary's size. Other values raise a one-line
        ``InputError`` (a ``ValueError``). Tokens of the prompt outside the vocabulary raise
        ``VocabularyError`` naming them; ``on_unknown="skip"`` drops them instead (``<unk>`` stands in
        for unknown words when the vocabulary has it).
        """
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a string, got {type(prompt).__name__}")
        check_sampling(length, temperature, top_k, len(self.vocabulary))
        device = next(self.model.parameters()).device
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
        ids = self._start(prompt, on_unknown).to(device)
        logits, state = self.model(ids.unsqueeze(0), None)
        drawn: list[int] = []
        for _ in range(length):
            scores = logits[0, -1].float()
            if temperature == 0:
                token = scores.argmax().view(1)
            else:
                scores = scores / temperature
                if top_k:
                    threshold = scores.topk(min(top_k, len(scores))).values[-1]
                    scores = scores.masked_fill(scores < threshold, -math.inf)
                token = torch.multinomial(scores.softmax(dim=0), 1, generator=generator)
            drawn.append(int(token))
            logits, state = self.model(token.view(1, 1), state)
        continuation = self.vocabulary.decode(drawn)
        if self.vocabulary.level == "word" and prompt and not prompt.endswith(("\n", " ")) and continuation:
            continuation = " " + continuation if not continuation.startswith("\n") else continuation
        return prompt + continuation

    @torch.no_grad()
    def score(self, text: str, on_unknown: str = "error") -> dict[str, float]:
        """Mean negative log-likelihood of ``text`` (nats per token after the first), perplexity and bits."""
        ids = self.encode(text, on_unknown).to(next(self.model.parameters()).device)
        if len(ids) < 2:
            raise VocabularyError("score needs a text of at least two tokens")
        logits, _ = self.model(ids[:-1].unsqueeze(0), None)
        loss = float(nn.functional.cross_entropy(logits[0].float(), ids[1:]))
        return {"loss": loss, "ppl": math.exp(min(loss, 50)), "bits_per_token": loss / math.log(2)}
