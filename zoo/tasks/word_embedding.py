"""Word embedding: word2vec's training (Mikolov et al. 2013) through Lightning, scored on word analogies.

The model computes its own closed-form row updates (``Word2Vec.gradients``); this task applies them
with word2vec's linearly decaying learning rate, ``lr = lr0 - (lr0 - min_lr) * progress`` where
progress is the share of all epochs' corpus words done. On CPU the updates are sparse: added in
place to the touched rows only. On GPU they go into dense ``.grad`` buffers (index_add) that one
fused SGD step applies. Validation and test report 3CosAdd analogy accuracy per section and overall
(gensim's protocol, ``zoo.word_vectors.analogy_correct``); the progress bar shows words/s.
"""

from __future__ import annotations

import re
import time
from typing import Any

import lightning as L
import torch

from zoo.errors import UnsupportedOperationError
from zoo.registry import create_model
from zoo.tasks.common import check_finite_loss, logger_writes_this_batch
from zoo.word_vectors import analogy_correct, groups_for, unit_rows


class WordEmbedding(L.LightningModule):
    """Trains a word2vec model (``windows(words, valid)``, then ``gradients(run, lr, start, end) -> RowUpdates`` per chunk).

    Args:
        model: registry name and builder arguments, e.g. ``{"name": "word2vec", "architecture": "cbow"}``.
        data_info: the corpus's ``WordCorpusInfo`` as a dict (vocabulary, counts, total_words, ...).
        optimizer, scheduler: unused (the configs' optimizer and scheduler groups; word2vec has its own
            plain SGD with the linear decay below).
        lr: the starting learning rate (word2vec's ``alpha``).
        min_lr: the rate at the end of the last epoch (``min_alpha``).
        dense_updates: apply updates through dense gradients and a fused SGD step (default: on GPU only).
        restrict_vocab: analogies are answered among this many most frequent words (gensim's 30,000).
        chunk_size: centres whose updates are computed together from the same vectors (default: 512 with
            negative sampling only, 128 with hierarchical softmax). word2vec applies each pair's update
            before the next pair; the larger the chunk, the staler the vectors. A row that many pairs of
            a chunk share gets their summed updates at once: the Huffman tree's root is on every path, so
            hierarchical softmax diverges with 512 centres on WikiText-2 and needs smaller chunks
            (benchmarks/word2vec_vs_gensim.py; with negative sampling 512 scores as 256 there and on Grimm).
        data_config: the data module's config, kept in checkpoints.
    """

    def __init__(
        self,
        model: dict[str, Any],
        data_info: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        lr: float = 0.025,
        min_lr: float = 1e-4,
        dense_updates: bool | None = None,
        restrict_vocab: int = 30000,
        chunk_size: int | None = None,
        data_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # the loggers get the run's config with its final metrics (zoo.training.finish_run)
        self.model = create_model(**model)
        self.chunk_size = chunk_size or (128 if self.model.hs else 512)
        self.automatic_optimization = False
        self.lr0 = lr
        self.register_buffer("groups", groups_for(data_info["words"], restrict_vocab), persistent=False)
        self.sections = list(data_info["analogy_sections"])
        self.correct = torch.zeros(len(self.sections), dtype=torch.long)
        self.asked = torch.zeros(len(self.sections), dtype=torch.long)
        self.words_done, self.loss_sum, self.terms = 0, 0.0, 0.0

    modalities = ("word_corpus",)

    @staticmethod
    def model_arguments(info: Any) -> dict[str, Any]:
        """The model's data-dependent arguments: the vocabulary size and the word counts."""
        return {"vocab_size": info.vocab_size, "counts": list(info.counts)}

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return self.model(words)

    def setup(self, stage: str) -> None:
        """word2vec trains in one process: its updates are applied in place, not through gradients DDP could average."""
        if stage == "fit" and self.trainer.world_size > 1:
            raise UnsupportedOperationError(
                f"word2vec trains in one process, not {self.trainer.world_size}: use trainer=cpu or trainer=gpu"
                " (one GPU trains it with dense updates)"
            )

    # --- training ------------------------------------------------------------------------------
    def learning_rate(self) -> float:
        """word2vec.c's linear decay over all epochs' words."""
        total = self.hparams.data_info["total_words"] * max(self.trainer.max_epochs or 1, 1)
        progress = min(self.words_done / max(total, 1), 1.0)
        return max(self.lr0 - (self.lr0 - self.hparams.min_lr) * progress, self.hparams.min_lr)

    def on_train_epoch_start(self) -> None:
        self.words_done = self.hparams.data_info["total_words"] * self.current_epoch
        self.epoch_words, self.epoch_start = 0, time.perf_counter()
        self.loss_sum, self.terms = 0.0, 0.0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        words, valid, corpus_words = batch
        lr = self.learning_rate()
        optimizer = self.optimizers()
        for group in optimizer.param_groups:
            group["lr"] = lr
        dense = self.hparams.dense_updates if self.hparams.dense_updates is not None else self.device.type != "cpu"
        loss_sum, terms = words.new_zeros((), dtype=torch.float), words.new_zeros((), dtype=torch.float)
        run = self.model.windows(words, valid)
        for start in range(0, len(words), self.chunk_size):
            updates = self.model.gradients(run, lr, start, min(start + self.chunk_size, len(words)))
            if dense:
                self._dense_step(updates, optimizer)
            else:
                self.model.input.index_add_(0, updates.input_rows, updates.input_delta)
                for name, rows in updates.output_rows.items():
                    getattr(self.model, f"output_{name}").index_add_(0, rows, updates.output_delta[name])
            loss_sum, terms = loss_sum + updates.loss, terms + updates.terms
        if not dense:
            optimizer.step()  # no gradients, so nothing moves: it counts the step (checkpoints, logging)
        done = int(corpus_words)
        self.words_done += done
        self.epoch_words += done
        loss = loss_sum / terms.clamp(min=1)
        self.loss_sum += float(loss_sum)
        self.terms += float(terms)
        check_finite_loss(self, loss, remedy="lower task.lr or task.chunk_size")
        if logger_writes_this_batch(self):
            self.log_dict({"train/lr": lr, "words/s": self.epoch_words / max(time.perf_counter() - self.epoch_start, 1e-9)},
                          on_step=True, on_epoch=False, prog_bar=True)  # fmt: skip
        return loss

    def _dense_step(self, updates: Any, optimizer: Any) -> None:
        """GPU: the updates as dense gradients (``-delta / lr``) and one fused SGD step at rate ``lr``."""
        lr = optimizer.param_groups[0]["lr"]
        pairs = [(self.model.input, updates.input_rows, updates.input_delta)]
        pairs += [(getattr(self.model, f"output_{name}"), rows, updates.output_delta[name]) for name, rows in updates.output_rows.items()]
        for parameter, rows, delta in pairs:
            parameter.grad = torch.zeros_like(parameter).index_add_(0, rows, delta, alpha=-1.0 / lr)
        optimizer.step()

    def on_train_epoch_end(self) -> None:
        self.log("train/loss", self.loss_sum / max(self.terms, 1.0))
        self.log("train/words_per_s", self.epoch_words / max(time.perf_counter() - self.epoch_start, 1e-9))

    def configure_optimizers(self) -> Any:
        """Plain SGD (the dense GPU path's fused step; its rate is set every batch)."""
        fused = self.device.type == "cuda"
        return torch.optim.SGD(list(self.model.parameters()), lr=self.lr0, fused=fused or None)

    # --- analogies -----------------------------------------------------------------------------
    def _analogies(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        questions, sections = batch
        if not len(questions):
            return
        normed = unit_rows(self.model.input[: len(self.groups)])
        hits = analogy_correct(normed, questions, self.groups).cpu()
        self.correct += torch.bincount(sections.cpu()[hits], minlength=len(self.sections))
        self.asked += torch.bincount(sections.cpu(), minlength=len(self.sections))

    def _log_analogies(self, split: str, per_section: bool) -> None:
        metrics = {f"{split}/analogy_acc": float(self.correct.sum()) / max(int(self.asked.sum()), 1)}
        if per_section:
            for name, correct, asked in zip(self.sections, self.correct.tolist(), self.asked.tolist()):
                if asked:
                    metrics[f"{split}/analogy/{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}"] = correct / asked
        self.log_dict(metrics, prog_bar=False)
        self.correct.zero_()
        self.asked.zero_()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._analogies(batch)

    def on_validation_epoch_end(self) -> None:
        self._log_analogies("val", per_section=False)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._analogies(batch)

    def on_test_epoch_end(self) -> None:
        self._log_analogies("test", per_section=True)
