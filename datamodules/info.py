"""What a data set is, as models, tasks and checkpoints need to know it: one type per kind of data.

A data module's ``info`` describes what it serves; ``to_dict()`` is what a checkpoint records and
``info_from_dict`` reads it back (also the records older zoo versions wrote). Nothing here knows
of models: a task reads the fields it needs (an image's ``channels``, an audio clip's
``n_features``, a corpus's ``vocab_size``) and sizes flow one way, data to model.

``fixed_arguments()`` is the one path back: the data-module arguments that a model trained on
this data pins (an image side, a vocabulary), given to the data module that serves it later
(evaluation on the same or another data set, a notebook rebuilding the test split).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, Mapping


@dataclass
class DataInfo:
    """What every kind of data has: a name; and the modality (``image``, ``audio``, ``text``,
    ``word_corpus``) its type declares."""

    name: str
    modality: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint: the fields, and the modality that says how to read them back."""
        return {"modality": self.modality, **asdict(self)}

    def fixed_arguments(self) -> dict[str, Any]:
        """Data-module arguments a model trained on this data fixes (none by default)."""
        return {}


@dataclass
class LabelledInfo(DataInfo):
    """Classes and the per-feature normalisation, shared by images and audio."""

    num_classes: int
    class_names: list[str]
    # per-channel (images) or per-feature (audio) normalisation of the inputs
    mean: list[float]
    std: list[float]


@dataclass
class ImageInfo(LabelledInfo):
    """Square images ``(channels, image_size, image_size)``."""

    modality: ClassVar[str] = "image"
    channels: int = 1
    # side of the square images the model gets (after padding or resizing)
    image_size: int = 28
    # how stored images reach image_size: "pad" (MNIST 28 -> 32) or "resize"
    resize: str = "pad"
    # ImageNet-style evaluation: resize the shorter side to resize_size, then centre-crop image_size
    resize_size: int | None = None
    # side of the stored training images before resizing or padding (28 for MNIST padded to 32);
    # None: images of many sizes (image folders)
    raw_size: int | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One preprocessed sample's shape, as the model gets it (without the batch dimension)."""
        return (self.channels, self.image_size, self.image_size)

    def fixed_arguments(self) -> dict[str, Any]:
        return {"image_size": self.image_size}


@dataclass
class AudioInfo(LabelledInfo):
    """Waveforms at ``sample_rate``, padded or cut to ``max_samples``, served as ``(num_frames, n_features)``
    feature sequences (MFCC or log-mel; ``datamodules.audio.AudioPreprocess`` takes these settings)."""

    modality: ClassVar[str] = "audio"
    sample_rate: int = 8000
    max_samples: int = 8000
    features: str = "mfcc"
    n_features: int = 40
    n_mels: int = 40
    n_fft: int = 256
    hop_length: int = 80

    @property
    def num_frames(self) -> int:
        """Time steps of every feature sequence (the STFT is centred)."""
        return self.max_samples // self.hop_length + 1

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.num_frames, self.n_features)

    def preprocess_settings(self) -> dict[str, Any]:
        """``AudioPreprocess``'s arguments (with the normalisation)."""
        names = ("sample_rate", "max_samples", "features", "n_features", "n_mels", "n_fft", "hop_length", "mean", "std")
        return {name: getattr(self, name) for name in names}


@dataclass
class TextInfo(DataInfo):
    """A token corpus for language modelling: its vocabulary, at the character or word level."""

    modality: ClassVar[str] = "text"
    level: str = "char"
    vocabulary: list[str] | None = None
    unknown: str | None = None
    seq_len: int = 35

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary or [])

    def fixed_arguments(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary}


@dataclass
class WordCorpusInfo(DataInfo):
    """A word corpus for word2vec: the vocabulary (most frequent first), its counts, the window."""

    modality: ClassVar[str] = "word_corpus"
    words: list[str] | None = None
    counts: list[int] | None = None
    total_words: int = 0  # in-vocabulary words per epoch, before subsampling
    window: int = 5
    analogy_sections: list[str] | None = None

    @property
    def vocab_size(self) -> int:
        return len(self.words or [])

    def fixed_arguments(self) -> dict[str, Any]:
        return {"words": self.words, "counts": self.counts}


INFO_TYPES: dict[str, type[DataInfo]] = {cls.modality: cls for cls in (ImageInfo, AudioInfo, TextInfo, WordCorpusInfo)}


def info_from_dict(record: Mapping[str, Any]) -> DataInfo:
    """The info a checkpoint's ``data_info`` record describes; records from before the per-modality
    types (one ``DataInfo`` for images and audio, audio sizes in ``channels``/``image_size``) are read too.
    Raises ``ValueError`` (one line) for a record that is neither."""
    record = dict(record)
    modality = record.pop("modality", "image")
    if modality not in INFO_TYPES:
        raise ValueError(f"data_info.modality {modality!r} is not one of {', '.join(INFO_TYPES)}")
    if modality == "audio" and "audio" in record:  # the single DataInfo of before: the settings nested
        kept = {k: record[k] for k in ("name", "num_classes", "class_names", "mean", "std") if k in record}
        record = {**(record.pop("audio") or {}), **kept}
    for legacy in ("sample_shape", "audio"):  # always None for images in those records
        if record.get(legacy) is None:
            record.pop(legacy, None)
    cls = INFO_TYPES[modality]
    known = {field.name for field in fields(cls)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ValueError(f"data_info has {unknown[0]!r}, which {modality} data does not describe")
    required = [field.name for field in fields(cls) if field.default is MISSING and field.default_factory is MISSING]
    missing = [name for name in required if name not in record]
    if missing:
        raise ValueError(f"data_info has no {missing[0]!r}, which {modality} data needs")
    return cls(**record)
