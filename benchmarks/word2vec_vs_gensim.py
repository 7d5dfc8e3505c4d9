"""word2vec: our train.py stack against gensim's ``Word2Vec`` on the same corpus and settings
(skip-gram, negative 5, window 5, 100 dimensions, min_count 5, sample 1e-3, the same epochs, 2
threads), measured in one run, each scored with gensim's analogy protocol (3CosAdd, 30,000 words).

    ZOO_DATA_DIR=../shared/datasets python benchmarks/word2vec_vs_gensim.py            # WikiText-2 valid+test
    ZOO_DATA_DIR=../shared/datasets python benchmarks/word2vec_vs_gensim.py --experiment word2vec_shakespeare --epochs 5

Prints a markdown table: training time (ours: the training batches; gensim: ``train()``), the whole
run's wall time (ours: train.py's ``train()`` with vocabulary, per-epoch analogy validation, test and
export; gensim: vocabulary and training), corpus words/s of training, and analogy accuracy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.config import compose_config  # noqa: E402
from zoo.training import build_datamodule, train  # noqa: E402
from zoo.word_vectors import WordVectors  # noqa: E402


class TrainingTime(L.Callback):
    """Seconds spent in the training epochs, less the validations Lightning runs inside them (the
    analogy questions), so that it compares with gensim's ``train()``; ``validation_seconds`` apart."""

    def __init__(self) -> None:
        self.seconds, self.validation_seconds, self._start, self._validation_start = 0.0, 0.0, 0.0, 0.0
        self._in_epoch = False

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start, self._in_epoch = time.perf_counter(), True

    def on_validation_start(self, trainer, pl_module) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        elapsed = time.perf_counter() - self._validation_start
        self.validation_seconds += elapsed
        if self._in_epoch:  # Lightning validates before the epoch ends: take it back out of the epoch's time
            self.seconds -= elapsed

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds += time.perf_counter() - self._start
        self._in_epoch = False


def run_ours(experiment: str, epochs: int, overrides: list[str], out: Path, corpus_words: int) -> dict:
    """train.py's run (``corpus_words``: the corpus's words in the vocabulary, for words/s)."""
    cfg = compose_config("train", [f"experiment={experiment}", f"trainer.max_epochs={epochs}", "callbacks.early_stopping=null",
                                   "callbacks.rich_model_summary=null", *overrides], out)  # fmt: skip
    timer = TrainingTime()
    start = time.perf_counter()
    metrics = train(cfg, extra_callbacks=[timer])
    wall = time.perf_counter() - start
    return {"train_s": timer.seconds, "validation_s": timer.validation_seconds, "wall_s": wall, "words": corpus_words * epochs,
            "accuracy": metrics["test/analogy_acc"], "vectors": out / "vectors.bin"}  # fmt: skip


def run_gensim(sentences: list[list[str]], cfg, epochs: int, workers: int, seed: int) -> dict:
    from gensim.models import Word2Vec

    data, model_cfg = cfg.data, cfg.model
    start = time.perf_counter()
    model = Word2Vec(vector_size=model_cfg.embedding_size, window=data.window, min_count=data.min_count, sample=data.sample,
                     sg=int(model_cfg.architecture == "skipgram"), negative=model_cfg.negative, hs=int(model_cfg.hs),
                     cbow_mean=int(model_cfg.cbow_mean), alpha=cfg.optimizer.lr, min_alpha=cfg.task.min_lr, workers=workers, seed=seed)  # fmt: skip
    model.build_vocab(sentences)
    trained = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    done = time.perf_counter()
    return {"model": model, "train_s": done - trained, "wall_s": done - start, "words": model.corpus_total_words * epochs}


def one_repeat(args: argparse.Namespace, seed: int, gensim_first: bool, scratch: Path) -> dict:
    """Both sides once with ``seed`` (gensim first when asked): training times, accuracies (each side's
    own evaluation and the other's: the protocols agree) and our validation time."""
    from gensim.models import KeyedVectors

    out = scratch / f"run{seed}"
    overrides = [f"seed={seed}", *args.overrides]
    cfg = compose_config("train", [f"experiment={args.experiment}", *overrides], out)
    datamodule = build_datamodule(cfg.data, cache_dir=str(out))
    datamodule.setup()
    sentences = datamodule.sentences()
    peer = run_gensim(sentences, cfg, args.epochs, args.threads, seed) if gensim_first else None
    ours = run_ours(args.experiment, args.epochs, overrides, out, len(datamodule.ids))
    peer = peer or run_gensim(sentences, cfg, args.epochs, args.threads, seed)
    questions = Path(cfg.data.root) / cfg.data.analogy_path
    return {
        "ours": ours, "gensim": peer, "lines": len(sentences),
        "ours_accuracy": (ours["accuracy"], KeyedVectors.load_word2vec_format(str(ours["vectors"]), binary=True).evaluate_word_analogies(
            str(questions), restrict_vocab=30000)[0]),
        "gensim_accuracy": (WordVectors(list(peer["model"].wv.index_to_key), torch.from_numpy(peer["model"].wv.vectors)).evaluate_word_analogies(
            questions)["accuracy"], peer["model"].wv.evaluate_word_analogies(str(questions), restrict_vocab=30000)[0]),
    }  # fmt: skip


def spread(values: list[float], form: str) -> str:
    return f"{format(statistics.median(values), form)} ({format(min(values), form)}-{format(max(values), form)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="word2vec_wikitext2_valid_test")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="runs of both sides, with seeds seed, seed+1, ...; the side that goes first alternates")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("overrides", nargs="*", help="more train.py overrides, e.g. model.architecture=cbow")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("ZOO_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            rows.append(one_repeat(args, args.seed + repeat, gensim_first=repeat % 2 == 1, scratch=Path(tmp)))

    print(f"\n{args.experiment} {' '.join(args.overrides)}, {args.epochs} epochs, {args.threads} threads, {rows[0]['lines']} lines\n")
    print("| seed | implementation | training time | whole run | training words/s | analogy accuracy (ours / gensim's evaluation) |")
    print("|---|---|---:|---:|---:|---:|")
    for repeat, row in enumerate(rows):
        for name, side in (("zoo (train.py)", "ours"), ("gensim 4.4 Word2Vec", "gensim")):
            result, (by_ours, by_gensim) = row[side], row[f"{side}_accuracy"]
            print(f"| {args.seed + repeat} | {name} | {result['train_s']:.2f} s | {result['wall_s']:.2f} s"
                  f" | {result['words'] / result['train_s']:,.0f} | {by_ours:.2%} / {by_gensim:.2%} |")  # fmt: skip
    ratios = [row["ours"]["train_s"] / row["gensim"]["train_s"] for row in rows]
    ours_accuracy = [row["ours_accuracy"][1] for row in rows]
    gensim_accuracy = [row["gensim_accuracy"][1] for row in rows]
    print(f"\nour {args.epochs} analogy validations took {spread([row['ours']['validation_s'] for row in rows], '.2f')} s (in the whole run, not the training time)")
    print(f"training time ratio (ours / gensim), median (range) over {len(rows)} run(s): {spread(ratios, '.2f')}x;"
          f" whole run: {spread([row['ours']['wall_s'] / row['gensim']['wall_s'] for row in rows], '.2f')}x")
    print(f"analogy accuracy by gensim's evaluation, mean over the runs: ours {statistics.mean(ours_accuracy):.2%},"
          f" gensim {statistics.mean(gensim_accuracy):.2%}, difference {statistics.mean(ours_accuracy) - statistics.mean(gensim_accuracy):+.2%}"
          f" (per run: {', '.join(f'{o - g:+.2%}' for o, g in zip(ours_accuracy, gensim_accuracy))})")  # fmt: skip


if __name__ == "__main__":
    main()
