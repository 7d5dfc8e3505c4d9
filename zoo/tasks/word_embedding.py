"""Word embedding: word2vec's training (Mikolov et al. 2013) through Lightning, scored on word analogies.

The model computes its own closed-form row updates (``Word2Vec.gradients``); this task applies them
with word2vec's linearly decaying learning rate, ``lr = lr0 - (lr0 - min_lr) * progress`` where
``lr0`` is ``optimizer.lr`` (plain SGD: word2vec's alpha) and progress is the share of all epochs'
corpus words done; that decay is the schedule, so ``scheduler`` must be none. On CPU a compiled kernel
(``zoo/word2vec_kernel.py``) trains each batch centre by centre in place, in background threads while the
next batch is prepared (``task.kernel=false``: the torch path, sparse updates added in place per chunk).
On GPU the updates go into dense ``.grad`` buffers (index_add) that one fused SGD step applies. Validation and test report 3CosAdd analogy accuracy per section and overall
(gensim's protocol, ``zoo.word_vectors.analogy_correct``); the progress bar shows words/s.
"""

from __future__ import annotations

import re
import time
from typing import Any

import torch

from datamodules.info import DataInfo, WordCorpusInfo
from zoo.errors import ModelDataMismatchError, SettingError, UnsupportedOperationError
from zoo.optim import build_optimizer
from zoo.tasks.base import Task
from zoo.word_vectors import analogy_correct, groups_for, unit_rows

# SGD settings word2vec's update has no place for (``fused`` only changes how the GPU path's step runs)
PLAIN_SGD = {"momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False, "maximize": False}


class WordEmbedding(Task):
    """Trains a word2vec model (``windows(words, valid)``, then ``gradients(run, lr, start, end) -> RowUpdates`` per chunk).

    Args (besides ``Task``'s; ``optimizer`` must be plain ``sgd``, whose ``lr`` is the starting rate,
    and ``scheduler`` none):
        min_lr: the rate at the end of the last epoch (``min_alpha``).
        dense_updates: apply updates through dense gradients and a fused SGD step (default: on GPU only).
        restrict_vocab: analogies are answered among this many most frequent words (gensim's 30,000).
        kernel: train on the CPU with the compiled kernel (``zoo/word2vec_kernel.py``: in place, skip-gram
            pair by pair and CBOW centre by centre, as word2vec.c and gensim; default: on CPU unless
            ``dense_updates``); false: the torch path in chunks (``chunk_size``), on the CPU 2-5x gensim's
            time (skip-gram with negative sampling scores a fresh set of noise words for every pair).
        workers: the kernel's Hogwild threads (default: ``torch.get_num_threads()``; 1 is reproducible bit for bit).
        chunk_size: the torch path's centres whose updates are computed together from the same vectors (default: 512 with
            negative sampling only, 128 with hierarchical softmax). word2vec applies each pair's update
            before the next pair; the larger the chunk, the staler the vectors. A row that many pairs of
            a chunk share gets their summed updates at once: the Huffman tree's root is on every path, so
            hierarchical softmax diverges with 512 centres on WikiText-2 and needs smaller chunks
            (benchmarks/word2vec_vs_gensim.py; with negative sampling 512 scores as 256 there and on Grimm).
    """

    name = "word_embedding"
    notebook_object = "zoo.word_vectors:WordVectors.from_model"
    modalities = ("word_corpus",)
    headline_metrics = ("test/analogy_acc", "val/analogy_acc")
    remedy = "lower optimizer.lr or task.chunk_size"
    validation_is_test = True  # the analogy questions: the test's, and gensim's protocol scores the final vectors

    def __init__(
        self,
        min_lr: float = 1e-4,
        dense_updates: bool | None = None,
        restrict_vocab: int = 30000,
        chunk_size: int | None = None,
        kernel: bool | None = None,
        workers: int | None = None,
        **common: Any,
    ) -> None:
        if kernel and dense_updates:
            raise SettingError("task.kernel=true trains in place on the CPU, task.dense_updates=true through dense gradients: pick one")
        problem = self.run_settings_problem(common.get("optimizer") or {}, common.get("scheduler"), common)
        if problem:
            raise SettingError(problem)
        super().__init__(**common)
        self.info: WordCorpusInfo
        self.chunk_size = chunk_size or (128 if self.model.hs else 512)
        self.automatic_optimization = False
        self.lr0 = float(self.hparams.optimizer["lr"])
        self.register_buffer("groups", groups_for(self.info.words, restrict_vocab), persistent=False)
        self.sections = list(self.info.analogy_sections)
        self.correct = torch.zeros(len(self.sections), dtype=torch.long)
        self.asked = torch.zeros(len(self.sections), dtype=torch.long)
        self.words_done, self.loss_sum, self.terms = 0, 0.0, 0.0
        self.workers = workers or torch.get_num_threads()

    @classmethod
    def run_settings_problem(cls, optimizer: dict[str, Any], scheduler: dict[str, Any] | None, settings: dict[str, Any]) -> str | None:
        """word2vec's update is plain SGD with its own linear decay: the settings it would ignore."""
        if optimizer.get("name") != "sgd":
            return (f"word2vec trains with plain SGD, not {optimizer.get('name')!r}: use optimizer=sgd optimizer.momentum=0"
                    " (optimizer.lr is its starting rate, alpha)")  # fmt: skip
        for key, plain in PLAIN_SGD.items():
            if key in optimizer and optimizer[key] != plain:
                return f"word2vec's update is plain SGD: optimizer.{key}={optimizer[key]!r} would be ignored; set optimizer.{key}={plain}"
        if scheduler:
            return (f"word2vec decays its rate linearly from optimizer.lr to task.min_lr: scheduler={scheduler.get('name')!r}"
                    " would be ignored; use scheduler=none")  # fmt: skip
        if settings.get("compile"):
            return "word2vec computes its updates in closed form, without its forward: task.compile=true would be ignored"
        return None

    @classmethod
    def model_arguments(cls, info: DataInfo) -> dict[str, Any]:
        """The vocabulary size and the word counts."""
        return {"vocab_size": info.vocab_size, "counts": list(info.counts)}

    def check_model_fits_data(self) -> None:
        """word2vec's vocabulary and counts come from the corpus; its ``forward`` (a lookup) needs no dummy batch."""
        if self.model.input.shape[0] != self.info.vocab_size:
            raise ModelDataMismatchError(f"model.vocab_size={self.model.input.shape[0]} but the corpus has {self.info.vocab_size} words:"
                               " leave model.vocab_size unset, it follows the corpus")  # fmt: skip

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return self.model(words)

    def setup(self, stage: str) -> None:
        """word2vec trains in one process: its updates are applied in place, not through gradients DDP could
        average. The CPU kernel is compiled (or loaded from numba's cache) here, before the first batch."""
        if stage == "fit" and self.trainer.world_size > 1:
            raise UnsupportedOperationError(
                f"word2vec trains in one process, not {self.trainer.world_size}: use trainer=cpu or trainer=gpu"
                " (one GPU trains it with dense updates)"
            )
        if stage == "fit" and self.hparams.kernel is not False and not self.hparams.dense_updates:
            from zoo import word2vec_kernel  # numba: imported by word2vec's runs only

            word2vec_kernel.warm_up(self.model)

    def update_path(self) -> str:
        """How this device trains: ``kernel`` (CPU, compiled), ``sparse`` (torch, in place) or ``dense`` (fused SGD step)."""
        dense = self.hparams.dense_updates if self.hparams.dense_updates is not None else self.device.type != "cpu"
        if dense:
            return "dense"
        return "kernel" if self.device.type == "cpu" and self.hparams.kernel is not False else "sparse"

    # --- training ------------------------------------------------------------------------------
    def learning_rate(self, words_done: int | None = None) -> float:
        """word2vec.c's linear decay over all epochs' words (after ``words_done``, by default those done)."""
        total = self.info.total_words * max(self.trainer.max_epochs or 1, 1)
        progress = min((self.words_done if words_done is None else words_done) / max(total, 1), 1.0)
        return max(self.lr0 - (self.lr0 - self.hparams.min_lr) * progress, self.hparams.min_lr)

    def on_train_epoch_start(self) -> None:
        self.words_done = self.info.total_words * self.current_epoch
        self.epoch_words, self.epoch_start = 0, time.perf_counter()
        self.loss_sum, self.terms = 0.0, 0.0
        self._serial_torch(self.update_path() == "kernel")

    def on_validation_epoch_start(self) -> None:
        self._count_loss(*self.finish_kernel_run())
        self._serial_torch(False)

    def on_train_epoch_end(self) -> None:
        self._count_loss(*self.finish_kernel_run())
        self._serial_torch(False)
        super().on_train_epoch_end()

    def on_train_end(self) -> None:
        self.finish_kernel_run()

    def _serial_torch(self, serial: bool) -> None:
        """While the kernel trains (its own ``workers`` threads), torch's ops are the batches' small preparations:
        one thread for them, as a parallel region on 10,000 words costs more than it saves (and far more when
        another process holds a core); the thread count comes back for validation and after the epoch."""
        held = getattr(self, "_torch_threads", None)
        if serial and held is None:
            self._torch_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        elif not serial and held is not None:
            torch.set_num_threads(held)
            self._torch_threads = None

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        words, valid, corpus_words = batch
        lr = self.learning_rate()
        optimizer = self.optimizers()
        for group in optimizer.param_groups:
            group["lr"] = lr
        path = self.update_path()
        run = self.model.windows(words, valid)
        if path == "kernel":  # the kernel trains this run while Lightning fetches and prepares the next one
            loss_sum, terms = self.finish_kernel_run()  # the previous run's loss (none at an epoch's start)
            lr_end = self.learning_rate(self.words_done + int(corpus_words))  # the kernel decays the rate centre by centre
            from zoo import word2vec_kernel

            self._kernel_run = word2vec_kernel.start_run(self.model, run, lr, self.workers, lr_end)
        else:
            loss_sum, terms = self._torch_updates(run, lr, optimizer, dense=path == "dense")
        if path != "dense":
            optimizer.step()  # no gradients, so nothing moves: it counts the step (checkpoints, logging)
        done = int(corpus_words)
        self.words_done += done
        self.epoch_words += done
        loss = self._count_loss(loss_sum, terms)
        self.log_step({"train/lr": lr, "words/s": self.epoch_words / max(time.perf_counter() - self.epoch_start, 1e-9)})
        return loss

    def _count_loss(self, loss_sum: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
        """Add a run's loss to the epoch's; its loss per term, checked for divergence."""
        self.loss_sum += float(loss_sum)
        self.terms += float(terms)
        loss = loss_sum / terms.clamp(min=1)
        self.check_finite_loss(loss)
        return loss

    def finish_kernel_run(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Wait for the run the kernel is training, if any: its loss and terms (zeros if none)."""
        running, self._kernel_run = getattr(self, "_kernel_run", None), None
        return tuple(torch.tensor(float(value)) for value in (running() if running else (0.0, 0.0)))  # type: ignore[return-value]

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """After an epoch's last run (or when the run stops), wait for the kernel: checkpoints and validation read the vectors."""
        trainer = self.trainer
        if batch_idx + 1 >= trainer.num_training_batches or trainer.should_stop or 0 < trainer.max_steps <= trainer.global_step:
            self._count_loss(*self.finish_kernel_run())

    def _torch_updates(self, run: Any, lr: float, optimizer: Any, dense: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The torch path: the run in chunks of ``chunk_size`` centres, applied sparse in place or dense; the loss and terms."""
        loss_sum, terms = run.padded.new_zeros((), dtype=torch.float), run.padded.new_zeros((), dtype=torch.float)
        for start in range(0, len(run.mask), self.chunk_size):
            updates = self.model.gradients(run, lr, start, min(start + self.chunk_size, len(run.mask)))
            if dense:
                self._dense_step(updates, optimizer)
            else:
                self.model.input.index_add_(0, updates.input_rows, updates.input_delta)
                for name, rows in updates.output_rows.items():
                    getattr(self.model, f"output_{name}").index_add_(0, rows, updates.output_delta[name])
            loss_sum, terms = loss_sum + updates.loss, terms + updates.terms
        return loss_sum, terms

    def _dense_step(self, updates: Any, optimizer: Any) -> None:
        """GPU: the updates as dense gradients (``-delta / lr``) and one fused SGD step at rate ``lr``."""
        lr = optimizer.param_groups[0]["lr"]
        pairs = [(self.model.input, updates.input_rows, updates.input_delta)]
        pairs += [(getattr(self.model, f"output_{name}"), rows, updates.output_delta[name]) for name, rows in updates.output_rows.items()]
        for parameter, rows, delta in pairs:
            parameter.grad = torch.zeros_like(parameter).index_add_(0, rows, delta, alpha=-1.0 / lr)
        optimizer.step()

    def log_epoch(self, split: str) -> None:
        """Training: the epoch's loss per term and words/s; validation and test: analogy accuracy (per section at test)."""
        if split != "train":
            return self._log_analogies(split, per_section=split == "test")
        self.log("train/loss", self.loss_sum / max(self.terms, 1.0))
        self.log("train/words_per_s", self.epoch_words / max(time.perf_counter() - self.epoch_start, 1e-9))

    def configure_optimizers(self) -> Any:
        """``optimizer`` (plain SGD: the dense GPU path's step; its rate is set every batch), no schedule."""
        settings = {**self.hparams.optimizer}
        if self.device.type != "cuda":
            settings["fused"] = None  # the sparse CPU path applies its own updates: the step only counts
        return build_optimizer(settings, self.model.parameters())

    # --- analogies -----------------------------------------------------------------------------
    def shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> dict[str, Any]:
        """Validation and test: a batch of analogy questions, answered by 3CosAdd."""
        questions, sections = batch
        if not len(questions):
            return {}
        normed = unit_rows(self.model.input[: len(self.groups)])
        hits = analogy_correct(normed, questions, self.groups).cpu()
        self.correct += torch.bincount(sections.cpu()[hits], minlength=len(self.sections))
        self.asked += torch.bincount(sections.cpu(), minlength=len(self.sections))
        return {}

    def _log_analogies(self, split: str, per_section: bool) -> None:
        metrics = {f"{split}/analogy_acc": float(self.correct.sum()) / max(int(self.asked.sum()), 1)}
        if per_section:
            for name, correct, asked in zip(self.sections, self.correct.tolist(), self.asked.tolist()):
                if asked:
                    metrics[f"{split}/analogy/{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}"] = correct / asked
        self.log_dict(metrics, prog_bar=False)
        self.correct.zero_()
        self.asked.zero_()
