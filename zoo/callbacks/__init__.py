"""Lightning callbacks that write the pictures (and texts) a student looks at in TensorBoard."""

from zoo.callbacks.checkpointing import EarlyStopping, LastCheckpoint, LearningRateMonitor
from zoo.callbacks.autoencoder import CodeEmbeddingLogger, ReconstructionGridLogger
from zoo.callbacks.finetuning import BackboneFinetuning
from zoo.callbacks.prediction_grid import PredictionGridLogger
from zoo.callbacks.progress import RichProgressBar
from zoo.callbacks.recurrent import HiddenStateHistogramLogger, TextSampleLogger
from zoo.callbacks.word_vectors import WordVectorsLogger
from zoo.callbacks.tensorboard import (
    ConfusionMatrixLogger,
    FirstLayerFiltersLogger,
    GradientNormLogger,
    WeightHistogramLogger,
)

__all__ = [
    "BackboneFinetuning",
    "CodeEmbeddingLogger",
    "EarlyStopping",
    "LastCheckpoint",
    "LearningRateMonitor",
    "ConfusionMatrixLogger",
    "FirstLayerFiltersLogger",
    "GradientNormLogger",
    "HiddenStateHistogramLogger",
    "PredictionGridLogger",
    "ReconstructionGridLogger",
    "RichProgressBar",
    "TextSampleLogger",
    "WeightHistogramLogger",
    "WordVectorsLogger",
]
