"""What a model and a checkpoint need to know about a data set."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class DataInfo:
    """What a model and a checkpoint need to know about a data set (no model knowledge here)."""

    name: str
    num_classes: int
    class_names: list[str]
    channels: int
    image_size: int
    mean: list[float]
    std: list[float]
    resize: str = "pad"
    # ImageNet-style evaluation: resize the shorter side to resize_size, then centre-crop image_size
    resize_size: int | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)
