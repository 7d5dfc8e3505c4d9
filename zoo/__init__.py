"""zoo: classic deep-learning architectures as clean PyTorch references, with recipes.

>>> import zoo
>>> zoo.list_models()
>>> net = zoo.create_model("lenet5", num_classes=10)
>>> model = zoo.load("logs/.../checkpoints/best.ckpt"); model.predict(uint8_images)
>>> zoo.load("logs/lstm_char_shakespeare/.../best.ckpt").generate("ROMEO:", 500)
"""

from zoo.errors import (
    CheckpointError,
    DatasetNotFoundError,
    InputError,
    ModelDataMismatchError,
    NonFiniteLossError,
    RefusedFileError,
    RunInterruptedError,
    SettingError,
    UnknownNameError,
    UnsupportedOperationError,
    TextEncodingError,
    VocabularyError,
    ZooError,
)
# Loaded on first use (PEP 562), so that `import zoo` and `import zoo.errors` (which the data modules
# do) import no torch, no model, no Lightning and no data module: no import loop with `datamodules`.
_LAZY = {
    "create_model": "zoo.registry",
    "get_model_entry": "zoo.registry",
    "list_models": "zoo.registry",
    "register_model": "zoo.registry",
    "get_task": "zoo.tasks",
    "list_tasks": "zoo.tasks",
    "AutoencoderModel": "zoo.autoencoding",
    "TextGenerator": "zoo.generation",
    "Classifier": "zoo.inference",
    "export_safetensors": "zoo.inference",
    "load": "zoo.inference",
    "build_datamodule": "zoo.run_settings",
    "WeightsError": "zoo.weights",
    "CatalogueError": "zoo.catalogue",
    "list_weights": "zoo.catalogue",
    "WordVectors": "zoo.word_vectors",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


__all__ = [
    "AutoencoderModel",
    "CheckpointError",
    "Classifier",
    "DatasetNotFoundError",
    "InputError",
    "ModelDataMismatchError",
    "NonFiniteLossError",
    "RefusedFileError",
    "RunInterruptedError",
    "SettingError",
    "TextEncodingError",
    "TextGenerator",
    "UnknownNameError",
    "UnsupportedOperationError",
    "VocabularyError",
    "WeightsError",
    "WordVectors",
    "ZooError",
    "CatalogueError",
    "build_datamodule",
    "create_model",
    "export_safetensors",
    "get_model_entry",
    "get_task",
    "list_models",
    "list_tasks",
    "list_weights",
    "load",
    "register_model",
]
