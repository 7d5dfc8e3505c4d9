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


def run_ours(experiment: str, epochs: int, overrides: list[str], out: Path) -> dict:
    cfg = compose_config("train", [f"experiment={experiment}", f"trainer.max_epochs={epochs}", "callbacks.early_stopping=null",
                                   "callbacks.rich_model_summary=null", *overrides], out)  # fmt: skip
    timer = TrainingTime()
    start = time.perf_counter()
    metrics = train(cfg, extra_callbacks=[timer])
    wall = time.perf_counter() - start
    datamodule = build_datamodule(cfg.data, cache_dir=str(out))
    datamodule.setup()
    return {"cfg": cfg, "train_s": timer.seconds, "validation_s": timer.validation_seconds, "wall_s": wall, "words": len(datamodule.ids) * epochs,
            "accuracy": metrics["test/analogy_acc"], "sentences": datamodule.sentences(), "vectors": out / "vectors.bin"}  # fmt: skip


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="word2vec_wikitext2_valid_test")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="more train.py overrides, e.g. model.architecture=cbow")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("ZOO_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_ours(args.experiment, args.epochs, args.overrides, Path(tmp) / "run")
        peer = run_gensim(ours["sentences"], ours["cfg"], args.epochs, args.threads, ours["cfg"].seed)
        questions = Path(ours["cfg"].data.root) / ours["cfg"].data.analogy_path
        gensim_accuracy = peer["model"].wv.evaluate_word_analogies(str(questions), restrict_vocab=30000)[0]
        # our evaluation of gensim's vectors and gensim's of ours: the protocols agree
        ours_by_gensim = None
        from gensim.models import KeyedVectors

        ours_by_gensim = KeyedVectors.load_word2vec_format(str(ours["vectors"]), binary=True).evaluate_word_analogies(
            str(questions), restrict_vocab=30000)[0]  # fmt: skip
        ours_by_ours = WordVectors.load_word2vec_format(ours["vectors"]).evaluate_word_analogies(questions)["accuracy"]
        gensim_by_ours = WordVectors(list(peer["model"].wv.index_to_key), torch.from_numpy(peer["model"].wv.vectors)).evaluate_word_analogies(questions)["accuracy"]

    print(f"\n{args.experiment}, {args.epochs} epochs, {args.threads} threads, {len(ours['sentences'])} lines\n")
    print("| implementation | training time | whole run | training words/s | analogy accuracy (ours / gensim's evaluation) |")
    print("|---|---:|---:|---:|---:|")
    for name, result, accuracy in (("zoo (train.py)", ours, f"{ours['accuracy']:.2%} / {ours_by_gensim:.2%}"),
                                   ("gensim 4.4 Word2Vec", peer, f"{gensim_by_ours:.2%} / {gensim_accuracy:.2%}")):  # fmt: skip
        print(f"| {name} | {result['train_s']:.2f} s | {result['wall_s']:.2f} s | {result['words'] / result['train_s']:,.0f} | {accuracy} |")
    print(f"\nour exported vectors scored by zoo.WordVectors: {ours_by_ours:.2%}; our {args.epochs} analogy validations took"
          f" {ours['validation_s']:.2f} s (in the whole run, not the training time)")  # fmt: skip
    print(f"training time ratio (ours / gensim): {ours['train_s'] / peer['train_s']:.2f}x;"
          f" whole run: {ours['wall_s'] / peer['wall_s']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
