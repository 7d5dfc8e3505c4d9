"""zoo: classic deep-learning architectures as clean PyTorch references, with recipes.

>>> import zoo
>>> zoo.list_models()
>>> net = zoo.create_model("lenet5", num_classes=10)
>>> model = zoo.load("logs/.../checkpoints/best.ckpt"); model.predict(uint8_images)
>>> zoo.load("logs/lstm_char_shakespeare/.../best.ckpt").generate("ROMEO:", 500)
"""

from zoo import models  # noqa: F401  (registers the models)
from zoo.errors import (
    CheckpointError,
    DatasetNotFoundError,
    ModelDataMismatchError,
    NonFiniteLossError,
    UnknownNameError,
    UnsupportedOperationError,
    TextEncodingError,
    VocabularyError,
    ZooError,
)
from zoo.autoencoding import AutoencoderModel
from zoo.generation import TextGenerator
from zoo.inference import Classifier, export_safetensors, load
from zoo.registry import create_model, get_model_entry, list_models, register_model
from zoo.weights import WeightsError
from zoo.word_vectors import WordVectors

__all__ = [
    "AutoencoderModel",
    "CheckpointError",
    "Classifier",
    "DatasetNotFoundError",
    "ModelDataMismatchError",
    "NonFiniteLossError",
    "TextEncodingError",
    "TextGenerator",
    "UnknownNameError",
    "UnsupportedOperationError",
    "VocabularyError",
    "WeightsError",
    "WordVectors",
    "ZooError",
    "create_model",
    "export_safetensors",
    "get_model_entry",
    "list_models",
    "load",
    "register_model",
]
