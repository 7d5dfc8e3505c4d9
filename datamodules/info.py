"""What a model and a checkpoint need to know about a data set."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class DataInfo:
    """What a model and a checkpoint need to know about a data set (no model knowledge here)."""

    name: str
    num_classes: int
    class_names: list[str]
    # image channels; for sequences (modality "audio"): features per time step
    channels: int
    # side of the square images; for sequences: the number of time steps
    image_size: int
    # per-channel (per-feature) normalisation
    mean: list[float]
    std: list[float]
    resize: str = "pad"
    # ImageNet-style evaluation: resize the shorter side to resize_size, then centre-crop image_size
    resize_size: int | None = None
    # "image": (channels, image_size, image_size) inputs; "audio": (steps, features) sequences
    modality: str = "image"
    # one preprocessed sample's shape when it is not (channels, image_size, image_size)
    sample_shape: list[int] | None = None
    # audio only: the feature transform's settings (datamodules.audio.AudioPreprocess arguments)
    audio: dict | None = None
    # side of the stored training images before resizing or padding (28 for MNIST padded to 32);
    # None: images of many sizes (image folders), or a checkpoint older than this field
    raw_size: int | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One preprocessed sample's shape, as the model gets it (without the batch dimension)."""
        if self.sample_shape is not None:
            return tuple(self.sample_shape)
        return (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)
