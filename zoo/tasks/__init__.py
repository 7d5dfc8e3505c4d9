"""LightningModules, one per task (not per model): the model registry says which task a model is for."""

from zoo.errors import UnknownNameError
from zoo.tasks.classification import ImageClassifier
from zoo.tasks.language_modeling import LanguageModel

TASKS = {"classification": ImageClassifier, "language_modeling": LanguageModel}


def get_task(name: str) -> type:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownNameError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}") from None


__all__ = ["ImageClassifier", "LanguageModel", "TASKS", "get_task"]
