"""``zoo.load``: a trained model back in a notebook, with its preprocessing and class names."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from datamodules.transforms import ImagePreprocess, as_image_batch
from zoo.autoencoding import AutoencoderModel
from zoo.checkpoint import network_state_dict, read_checkpoint
from zoo.errors import CheckpointError, first_line
from zoo.generation import TextGenerator
from zoo.registry import create_model, get_model_entry, list_models
from zoo.weights import without_weight_sources
from zoo.word_vectors import WordVectors


class Classifier(nn.Module):
    """An eval-mode classifier that takes raw inputs: uint8 images, or waveforms for audio models.

    ``predict(images)`` returns class indices, ``predict_proba`` probabilities and
    ``predict_labels`` class names; ``forward`` takes already preprocessed float batches.
    For audio, ``predict(waveforms, sample_rate=...)`` takes int16 or float waveforms ``(N, L)``,
    one ``(L,)`` or a list of 1-D waveforms of any lengths, resampled to the training rate when
    ``sample_rate`` differs.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any]) -> None:
        super().__init__()
        info = config["data_info"]
        self.model = model
        self.config = config
        self.class_names: list[str] = list(info["class_names"])
        self.modality: str = info.get("modality", "image")
        if self.modality == "audio":
            from datamodules.audio import AudioPreprocess

            self.preprocess = AudioPreprocess.from_info(info)
        else:
            self.preprocess = ImagePreprocess(
                info["mean"], info["std"], info["image_size"], info["resize"], info.get("resize_size")
            )
        self.eval()

    @property
    def data_config(self) -> dict[str, Any] | None:
        """The training run's data module config (a Hydra ``_target_`` dict), to rebuild its test set."""
        return self.config.get("data_config")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _as_batch(self, inputs: Any, sample_rate: int | None = None) -> torch.Tensor:
        """A preprocessed float batch from raw images or waveforms (see ``predict_proba``)."""
        device = next(self.model.parameters()).device
        if self.modality == "audio":
            return self.preprocess.to(device)(self._waveforms(inputs, sample_rate).to(device))
        if sample_rate is not None:
            raise ValueError("sample_rate is for audio models; this one classifies images")
        return self.preprocess(as_image_batch(inputs, self.config["data_info"]["channels"]).to(device))

    def _waveforms(self, inputs: Any, sample_rate: int | None) -> torch.Tensor:
        """``(N, L)`` waveforms at the training rate from a tensor, an array or a list of 1-D waveforms."""
        from datamodules.audio import pad_waveforms, resample

        if isinstance(inputs, (list, tuple)):
            batch = pad_waveforms(inputs)
        else:
            batch = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
        if batch.ndim == 1:
            batch = batch.unsqueeze(0)
        if batch.ndim != 2:
            raise ValueError(f"expected waveforms (N, samples), (samples,) or a list of them, got {tuple(batch.shape)}")
        if sample_rate is not None:
            batch = resample(batch, int(sample_rate), self.preprocess.sample_rate)
        if batch.shape[-1] > self.preprocess.max_samples:
            warnings.warn(
                f"waveforms of {batch.shape[-1]} samples are cut to the {self.preprocess.max_samples} the model was"
                " trained on", stacklevel=3,
            )  # fmt: skip
        return batch

    @torch.no_grad()
    def predict_proba(self, inputs: Any, sample_rate: int | None = None) -> torch.Tensor:
        """Class probabilities for uint8 images ``(N, H, W)``, ``(N, C, H, W)`` or one ``(H, W)`` image;
        or, for audio models, waveforms (``sample_rate``: theirs, if not the training rate)."""
        return self.model(self._as_batch(inputs, sample_rate)).float().softmax(dim=1)

    def predict(self, inputs: Any, sample_rate: int | None = None) -> torch.Tensor:
        """Predicted class indices."""
        return self.predict_proba(inputs, sample_rate).argmax(dim=1)

    def predict_labels(self, inputs: Any, sample_rate: int | None = None) -> list[str]:
        """Predicted class names."""
        return [self.class_names[i] for i in self.predict(inputs, sample_rate).tolist()]


def _model_from_config(config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> nn.Module:
    model = create_model(**without_weight_sources(config["model"]))
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise CheckpointError(f"the weights do not fit model {config['model']['name']!r}: {first_line(error)}") from None
    return model


def _wrap(model: nn.Module, config: dict[str, Any]) -> Classifier | TextGenerator | AutoencoderModel:
    """The notebook-facing object for the model's task: a ``Classifier``, ``TextGenerator`` or ``AutoencoderModel``."""
    task = get_model_entry(config["model"]["name"]).task
    if task == "language_modeling":
        return TextGenerator(model, config)
    if task == "reconstruction":
        return AutoencoderModel(model, config)
    if task == "word_embedding":
        return WordVectors(config["data_info"]["words"], model.input, config["data_info"]["counts"])
    return Classifier(model, config)


def load(
    source: str | Path, map_location: str | torch.device = "cpu", weights: str | None = None, **model_kwargs: Any
) -> Classifier | TextGenerator:
    """A trained model, in eval mode, from a training checkpoint (``.ckpt``), an exported
    ``.safetensors`` file, or a registered model name with ``weights="imagenet"`` (torchvision's
    published weights; ``weights_path=...`` for a local copy of them).

    Image classifiers come back as a ``Classifier`` (``predict`` on raw images), language models
    as a ``TextGenerator`` (``generate("ROMEO:", 500)``)."""
    if weights is not None or (isinstance(source, str) and source in list_models()):
        return _load_named(str(source), weights, **model_kwargs).to(map_location)
    path = Path(source)
    if path.suffix in (".txt", ".vec", ".bin"):  # word2vec text or binary vectors
        return WordVectors.load_word2vec_format(path)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(f"no weights file at {path}")
        try:
            with safe_open(str(path), framework="pt") as handle:
                config = json.loads(handle.metadata()["zoo"])
            state_dict = load_file(str(path))
        except Exception as error:
            raise CheckpointError(f"cannot read {path} ({error}): the file is truncated or not exported by zoo") from None
    else:
        checkpoint = read_checkpoint(path)
        config = checkpoint["hyper_parameters"]
        state_dict = network_state_dict(checkpoint["state_dict"])
    return _wrap(_model_from_config(config, state_dict), config).to(map_location)


def _load_named(name: str, weights: str | None, weights_path: str | None = None, **kwargs: Any) -> Classifier:
    if weights != "imagenet":
        raise CheckpointError(
            f"{name!r} is a model name: zoo.load({name!r}, weights='imagenet') gives torchvision's ImageNet weights,"
            f" zoo.create_model({name!r}) an untrained network, and zoo.load(<file.ckpt>) a trained one"
        )
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from datamodules.image_folder import IMAGENET_MEAN, IMAGENET_STD
    from datamodules.info import DataInfo

    model_config = {"name": name, **kwargs}
    model = create_model(pretrained=None if weights_path else "torchvision", weights_path=weights_path, **model_config)
    classes = list(_IMAGENET_CATEGORIES)
    info = DataInfo("imagenet", len(classes), classes, 3, 224, list(IMAGENET_MEAN), list(IMAGENET_STD),
                    resize="resize", resize_size=256)  # fmt: skip
    return Classifier(model, {"model": model_config, "data_info": info.to_dict()})


def export_safetensors(checkpoint_path: str | Path, output_path: str | Path) -> Path:
    """Write a checkpoint's network weights and config as one ``.safetensors`` file (no pickle)."""
    loaded = load(checkpoint_path)
    keep = ("model", "data_info", "data_config", "optimizer", "scheduler", "loss", "label_smoothing")
    metadata = {"zoo": json.dumps({k: loaded.config.get(k) for k in keep})}
    # cloned: safetensors keeps no shared tensors (tied embedding and decoder weights are saved twice)
    state = {k: v.detach().clone().contiguous() for k, v in loaded.model.state_dict().items()}
    save_file(state, str(output_path), metadata=metadata)
    return Path(output_path)
