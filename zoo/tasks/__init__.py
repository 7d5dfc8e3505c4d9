"""LightningModules, one per task (not per model): the model registry says which task a model is for."""

from zoo.errors import UnknownNameError
from zoo.tasks.classification import ImageClassifier
from zoo.tasks.language_modeling import LanguageModel
from zoo.tasks.layerwise import LayerwisePretraining
from zoo.tasks.reconstruction import Reconstruction
from zoo.tasks.word_embedding import WordEmbedding

TASKS = {
    "classification": ImageClassifier,
    "language_modeling": LanguageModel,
    "reconstruction": Reconstruction,
    "layerwise_pretraining": LayerwisePretraining,
    "word_embedding": WordEmbedding,
}


def get_task(name: str) -> type:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownNameError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}") from None


__all__ = ["ImageClassifier", "LanguageModel", "LayerwisePretraining", "Reconstruction", "TASKS", "WordEmbedding", "get_task"]
