"""Lightning callbacks that write the pictures a student looks at in TensorBoard."""

from zoo.callbacks.finetuning import BackboneFinetuning
from zoo.callbacks.tensorboard import (
    ConfusionMatrixLogger,
    FirstLayerFiltersLogger,
    GradientNormLogger,
    PredictionGridLogger,
    WeightHistogramLogger,
)

__all__ = [
    "BackboneFinetuning",
    "ConfusionMatrixLogger",
    "FirstLayerFiltersLogger",
    "GradientNormLogger",
    "PredictionGridLogger",
    "WeightHistogramLogger",
]
