"""Word-level LSTM language model: our train.py stack against pytorch/examples'
``word_language_model`` training loop (its ``RNNModel``, ``batchify``, ``get_batch``,
``repackage_hidden``, manual SGD step, clipping and "lr /= 4" rule, written out below), same sizes,
batch, window, epochs, corpus (the same token ids) and starting weights, measured in one run. The
peer runs in its own fresh process, as ``python main.py`` would, one epoch next to each of ours
(alternately before and after it), so that slow spells of the shared host hit both.

    python benchmarks/word_lm_vs_pytorch_examples.py --epochs 3 [--seed N]   # Grimm from $ZOO_DATA_DIR
    python benchmarks/word_lm_vs_pytorch_examples.py --corpus wikitext-2 --size 650 --dropout 0.5

Prints training tokens/s (forward, backward, clipping, optimiser step, and for ours Lightning's
logging), the median step time (ours: from one batch's end to the next's, data loading and all), the
ratios, and the best validation perplexity and the test perplexity of the best weights of each loop.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import TrainThroughput, minor_page_faults  # noqa: E402
from datamodules import TextDataModule  # noqa: E402
from zoo.allocator import keep_freed_memory  # noqa: E402
from zoo.config import compose_config  # noqa: E402
from zoo.models.language_model import RNNLanguageModel  # noqa: E402
from zoo.training import train  # noqa: E402


# --- the peer: pytorch/examples word_language_model (model.py RNNModel, main.py train/evaluate) ---
class ExamplesRNNModel(nn.Module):
    """pytorch/examples' RNNModel for LSTM: sequence-first, log-softmax output."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float, tie_weights: bool) -> None:
        super().__init__()
        self.ntoken, self.nhid, self.nlayers = ntoken, nhid, nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].view(-1)


def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)


class ExamplesLoop:
    """pytorch/examples' main.py training loop, one epoch per ``train_epoch()`` call."""

    def __init__(self, ids: dict[str, torch.Tensor], vocab: int, args: argparse.Namespace, initial: dict[str, torch.Tensor]) -> None:
        torch.manual_seed(args.seed)
        self.train_data, self.val_data, self.test_data = batchify(ids["train"], 20), batchify(ids["val"], 10), batchify(ids["test"], 10)
        self.model = ExamplesRNNModel(vocab, args.size, args.size, 2, args.dropout, args.tied)
        self.model.load_state_dict(initial)  # the same starting weights as ours (the parameter names are the same)
        self.criterion = nn.NLLLoss()
        self.lr, self.best_val, self.best_state = 20.0, None, None
        self.seconds, self.tokens, self.steps, self.page_faults = 0.0, 0, [], 0

    def evaluate(self, source: torch.Tensor) -> float:
        model = self.model
        model.eval()
        total, hidden = 0.0, model.init_hidden(10)
        with torch.no_grad():
            for i in range(0, source.size(0) - 1, 35):
                data, targets = get_batch(source, i, 35)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total += len(data) * self.criterion(output, targets).item()
        return total / (len(source) - 1)

    def train_epoch(self) -> None:
        model = self.model
        model.train()
        hidden = model.init_hidden(20)
        start, faults = time.perf_counter(), minor_page_faults()
        for i in range(0, self.train_data.size(0) - 1, 35):
            step_start = time.perf_counter()
            data, targets = get_batch(self.train_data, i, 35)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = self.criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-self.lr)
            self.tokens += targets.numel()
            self.steps.append(time.perf_counter() - step_start)
        self.seconds += time.perf_counter() - start
        self.page_faults += minor_page_faults() - faults
        val_loss = self.evaluate(self.val_data)
        if self.best_val is None or val_loss < self.best_val:
            self.best_val, self.best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
        else:
            self.lr /= 4.0

    def result(self) -> tuple[float, float, float, float, float]:
        """Tokens/s, the median step's seconds, page faults a step, the best validation perplexity, the test
        perplexity of the best weights."""
        self.model.load_state_dict(self.best_state)
        return (self.tokens / self.seconds, statistics.median(self.steps), self.page_faults / len(self.steps),
                math.exp(self.best_val), math.exp(self.evaluate(self.test_data)))  # fmt: skip


def peer_process(connection, ids, vocab, args, initial) -> None:
    """The peer in a fresh process, as ``python main.py`` runs: glibc's default allocator (unless
    ``--peer-keeps-freed-memory``) and a heap our run has not touched. It trains one epoch per
    "epoch" message and answers "done"; "result" ends it."""
    torch.set_num_threads(args.threads)
    if args.peer_keeps_freed_memory:
        keep_freed_memory()
    loop = ExamplesLoop(ids, vocab, args, initial)
    for message in iter(connection.recv, "result"):
        loop.train_epoch()
        connection.send("done")
    connection.send(loop.result())


class PeerInLockstep(L.Callback):
    """Runs the peer's epoch k next to our epoch k (before ours on even epochs, after on odd ones), so
    that minutes-long slow spells of the shared host fall on both loops alike."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def _peer_epoch(self) -> None:
        self.connection.send("epoch")
        assert self.connection.recv() == "done"

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch % 2 == 0:
            self._peer_epoch()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch % 2 == 1:
            self._peer_epoch()


# --- ours ----------------------------------------------------------------------------------
class StartFrom(L.Callback):
    """Loads the given initial weights into the task's network when fitting starts."""

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.weights = state_dict

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.model.load_state_dict(self.weights)


class BestValidation(L.Callback):
    """The lowest validation perplexity of the run (the peer reports its best epoch's, and both test the best weights)."""

    def __init__(self) -> None:
        self.ppl = math.inf

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and "val/ppl" in trainer.callback_metrics:
            self.ppl = min(self.ppl, float(trainer.callback_metrics["val/ppl"]))


def ours(args: argparse.Namespace, log_dir: Path, initial: dict[str, torch.Tensor],
         lockstep: L.Callback) -> tuple[float, float, float, float, float]:  # fmt: skip
    meter, best = TrainThroughput(), BestValidation()
    overrides = ["experiment=lstm_word_grimm", f"data.path={args.corpus}", f"data.name={args.corpus}", f"data.root={args.data_dir}",
                 f"model.hidden_size={args.size}", f"model.embedding_size={args.size}", f"model.dropout={args.dropout}",
                 f"model.tie_weights={args.tied}", f"trainer.max_epochs={args.epochs}", f"seed={args.seed}",
                 f"keep_freed_memory={not args.ours_default_allocator}"]  # fmt: skip
    metrics = train(compose_config("train", overrides, log_dir / "ours"), extra_callbacks=[lockstep, meter, best, StartFrom(initial)])
    return meter.rate, meter.median_step, meter.faults_per_step, best.ppl, metrics["test/ppl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ZOO_DATA_DIR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--corpus", default="grimm", help="a folder under --data-dir with train/valid/test.txt")
    parser.add_argument("--size", type=int, default=200, help="embedding and hidden size (pytorch/examples' default: 200)")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--tied", action="store_true")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--peer-keeps-freed-memory", action="store_true",
                        help="give the peer our allocator setting too (zoo/allocator.py; train.py's keep_freed_memory)")
    parser.add_argument("--ours-default-allocator", action="store_true", help="run ours with keep_freed_memory=false")
    args = parser.parse_args()
    args.threads = torch.get_num_threads()
    data = TextDataModule(path=args.corpus, root=args.data_dir, level="word")
    try:
        data.setup()
    except Exception as error:
        raise SystemExit(f"error: {error}") from None
    torch.manual_seed(args.seed)
    initial = RNNLanguageModel(data.info.vocab_size, args.size, args.size, 2, "lstm", args.dropout, args.tied).state_dict()
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=peer_process, args=(there, data.ids, data.info.vocab_size, args, initial))
    process.start()
    with tempfile.TemporaryDirectory() as scratch:
        our = ours(args, Path(scratch), initial, PeerInLockstep(here))
    here.send("result")
    peer = here.recv()
    process.join()
    print(f"\n{args.corpus}: 2-layer LSTM {args.size}, dropout {args.dropout}, {'tied' if args.tied else 'untied'},"
          f" vocabulary {data.info.vocab_size}, SGD lr 20 (/4 on plateau), clip 0.25, batch 20, bptt 35,"
          f" {args.epochs} epochs, seed {args.seed}, epochs in lockstep, peer's allocator:"
          f" {'keeps freed memory' if args.peer_keeps_freed_memory else 'glibc default'},"
          f" torch threads {torch.get_num_threads()}")  # fmt: skip
    print("| loop | train tokens/s | median step | page faults a step | val ppl | test ppl |\n|---|---:|---:|---:|---:|---:|")
    for name, (speed, step, faults, val, test) in (("pytorch/examples word_language_model loop", peer), ("zoo train.py stack", our)):
        print(f"| {name} | {speed:,.0f} | {step * 1000:.1f} ms | {faults:,.0f} | {val:.2f} | {test:.2f} |")
    print(f"\nratio (zoo / pytorch/examples): {our[0] / peer[0]:.3f}x in tokens/s, {peer[1] / our[1]:.3f}x in median step"
          f" (steady against bursts of load from the host's other machines)")  # fmt: skip


if __name__ == "__main__":
    main()
