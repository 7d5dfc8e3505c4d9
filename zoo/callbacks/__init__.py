"""Lightning callbacks that write the pictures a student looks at in TensorBoard."""

from zoo.callbacks.tensorboard import (
    ConfusionMatrixLogger,
    GradientNormLogger,
    PredictionGridLogger,
    WeightHistogramLogger,
)

__all__ = ["ConfusionMatrixLogger", "GradientNormLogger", "PredictionGridLogger", "WeightHistogramLogger"]
