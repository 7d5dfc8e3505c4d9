"""word2vec in TensorBoard and on disk: nearest neighbours of a few words after every validation, the
most frequent words' vectors in the embedding projector, and the final vectors as word2vec files."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from zoo.callbacks.base import TaskCallback
from zoo.callbacks.tensorboard import tensorboard_writers


def word_vectors(pl_module: L.LightningModule):
    from zoo.word_vectors import WordVectors

    info = pl_module.info
    return WordVectors(info.words, pl_module.model.input.detach(), info.counts)


class WordVectorsLogger(TaskCallback):
    """Neighbours as a text table (``probes``, default: the 10th to 17th most frequent words), the
    ``projector_words`` most frequent vectors in the projector, and ``vectors.txt``/``vectors.bin``
    (word2vec formats) in the run's folder when training ends."""

    tasks = ("word_embedding",)

    def __init__(self, probes: list[str] | None = None, neighbours: int = 8, projector_words: int = 5000, export: bool = True) -> None:
        self.probes, self.neighbours, self.projector_words, self.export = probes, neighbours, projector_words, export

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self.serves(pl_module):
            return
        vectors = word_vectors(pl_module)
        probes = [w for w in (self.probes or vectors.words[10:18]) if w in vectors]
        lines = ["| word | nearest neighbours |", "|---|---|"]
        for word in probes:
            found = ", ".join(f"{w} ({s:.2f})" for w, s in vectors.most_similar(word, topn=self.neighbours))
            lines.append(f"| {word} | {found} |")
        for writer in tensorboard_writers(trainer):
            writer.add_text("word_vectors/neighbours", "\n".join(lines), trainer.global_step)

    @rank_zero_only
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.serves(pl_module):
            return
        vectors = word_vectors(pl_module)
        count = min(self.projector_words, len(vectors))
        for writer in tensorboard_writers(trainer):
            writer.add_embedding(vectors.vectors[:count], metadata=vectors.words[:count], tag="word_vectors", global_step=trainer.global_step)
        if self.export:
            folder = Path(trainer.default_root_dir)
            folder.mkdir(parents=True, exist_ok=True)
            vectors.save_word2vec_format(folder / "vectors.txt")
            vectors.save_word2vec_format(folder / "vectors.bin", binary=True)
