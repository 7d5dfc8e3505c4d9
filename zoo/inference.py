"""``zoo.load``: a trained model back in a notebook, with its preprocessing and class names."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save
from torch import nn

from datamodules.info import AudioInfo, ImageInfo
from datamodules.transforms import ImagePreprocess, as_image_batch
from zoo.atomic import atomic_write_bytes
from zoo.checkpoint import network_state_dict, read_checkpoint, read_safetensors
from zoo.data_info import read_data_info
from zoo.errors import CheckpointError, first_line
from zoo.generation import TextGenerator
from zoo.registry import create_model, get_model_entry, list_models
from zoo.weights import without_weight_sources
from zoo.word_vectors import WordVectors


class Classifier(nn.Module):
    """An eval-mode classifier that takes raw inputs: images, or waveforms for audio models.

    ``predict(images)`` returns class indices, ``predict_proba`` probabilities and
    ``predict_labels`` class names; ``forward`` takes already preprocessed float batches.

    Images (see ``datamodules.transforms.as_image_batch``): a tensor, numpy array, PIL image or
    list of them shaped ``(H, W)``, ``(H, W, C)``, ``(N, H, W)``, ``(N, C, H, W)`` or
    ``(N, H, W, C)``. Integer dtypes (uint8 above all) are pixel values 0-255, float dtypes values
    in [0, 1] (torchvision's convention); lists follow numpy's dtype. Values outside those ranges,
    NaN or infinite values, and bool, complex or object arrays are refused with an ``InputError``.
    Colour images given to a grey model are converted with torchvision's ``rgb_to_grayscale``,
    grey ones given to a colour model repeated to RGB. Sizes: a model whose training images were
    resized (digits, CIFAR, ImageNet) resizes square images of any size the same way; one whose
    training images were padded (MNIST) takes their size (28x28) or its own input size (32x32 for
    LeNet-5) and refuses others in one line naming the size to resize to.

    For audio, ``predict(waveforms, sample_rate=...)`` takes int16 or float waveforms ``(N, L)``,
    one ``(L,)`` or a list of 1-D waveforms of any lengths, resampled to the training rate when
    ``sample_rate`` (a positive whole number) differs; NaN or infinite samples are refused.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.info: ImageInfo | AudioInfo = read_data_info(config, (ImageInfo, AudioInfo), "classifier")
        self.class_names: list[str] = list(self.info.class_names)
        self.modality: str = self.info.modality
        if isinstance(self.info, AudioInfo):
            from datamodules.audio import AudioPreprocess

            self.preprocess = AudioPreprocess.from_info(self.info)
        else:
            self.preprocess = ImagePreprocess.from_info(self.info)
        self.eval()

    @property
    def data_config(self) -> dict[str, Any] | None:
        """The training run's data module config (a Hydra ``_target_`` dict), to rebuild its test set."""
        return self.config.get("data_config")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _as_batch(self, inputs: Any, sample_rate: int | None = None) -> torch.Tensor:
        """A preprocessed float batch from raw images or waveforms (see the class docstring)."""
        device = next(self.model.parameters()).device
        if isinstance(self.info, AudioInfo):
            return self.preprocess.to(device)(self._waveforms(inputs, sample_rate).to(device))
        from zoo.errors import InputError

        if sample_rate is not None:
            raise InputError("sample_rate is for audio models; this one classifies images: leave it out")
        batch = as_image_batch(inputs, self.info.channels)
        self.preprocess.check_input_size(*batch.shape[-2:])
        return self.preprocess(batch.to(device))

    def _waveforms(self, inputs: Any, sample_rate: int | None) -> torch.Tensor:
        """``(N, L)`` waveforms at the training rate from a tensor, an array or a list of 1-D waveforms."""
        from datamodules.audio import pad_waveforms, resample
        from zoo.errors import InputError, ZooError

        rate = self._sample_rate(sample_rate)
        try:
            if isinstance(inputs, (list, tuple)):
                if not inputs:
                    raise InputError("got no waveforms (an empty list)")
                batch = pad_waveforms([self._waveform_tensor(w) for w in inputs])
            else:
                batch = self._waveform_tensor(inputs)
        except ZooError:
            raise
        except (ValueError, TypeError, RuntimeError) as error:
            raise InputError(first_line(error)) from None
        if batch.ndim == 1:
            batch = batch.unsqueeze(0)
        if batch.ndim != 2:
            raise InputError(f"expected waveforms (N, samples), (samples,) or a list of them, got {tuple(batch.shape)}")
        if batch.numel() == 0:
            raise InputError(f"got no samples (waveforms of shape {tuple(batch.shape)})")
        if rate is not None:
            batch = resample(batch, rate, self.preprocess.sample_rate)
        if batch.shape[-1] > self.preprocess.max_samples:
            warnings.warn(
                f"waveforms of {batch.shape[-1]} samples are cut to the {self.preprocess.max_samples} the model was"
                " trained on", stacklevel=3,
            )  # fmt: skip
        return batch

    @torch.no_grad()
    def predict_proba(self, inputs: Any, sample_rate: int | None = None) -> torch.Tensor:
        """Class probabilities ``(N, classes)`` for raw images (uint8 0-255 or float [0, 1]; see the
        class docstring); or, for audio models, waveforms (``sample_rate``: theirs, if not the training rate)."""
        return self.model(self._as_batch(inputs, sample_rate)).float().softmax(dim=1)

    def predict(self, inputs: Any, sample_rate: int | None = None) -> torch.Tensor:
        """Predicted class indices ``(N,)``; inputs as for ``predict_proba``."""
        return self.predict_proba(inputs, sample_rate).argmax(dim=1)

    def predict_labels(self, inputs: Any, sample_rate: int | None = None) -> list[str]:
        """Predicted class names; inputs as for ``predict_proba``."""
        return [self.class_names[i] for i in self.predict(inputs, sample_rate).tolist()]

    @staticmethod
    def _sample_rate(sample_rate: Any) -> int | None:
        """A waveform's sample rate as a positive int, or an ``InputError`` in one line."""
        import math

        from zoo.errors import InputError

        if sample_rate is None:
            return None
        try:
            rate = float(sample_rate)
        except (TypeError, ValueError):
            rate = math.nan
        if isinstance(sample_rate, bool) or not math.isfinite(rate) or rate <= 0 or rate != int(rate):
            raise InputError(f"sample_rate must be a positive whole number of samples per second, got {sample_rate!r}")
        return int(rate)

    @staticmethod
    def _waveform_tensor(waveform: Any) -> torch.Tensor:
        """One tensor of int16 or float samples (any shape); an ``InputError`` for other dtypes or NaN/inf samples."""
        from zoo.errors import InputError

        refused = "waveforms of dtype {} are not taken: give int16 samples or floats in [-1, 1]"
        if isinstance(waveform, torch.Tensor):
            tensor = waveform.detach()
        else:
            array = np.asarray(waveform)
            if array.dtype.kind not in "iuf":
                raise InputError(refused.format(array.dtype))
            wide_unsigned = array.dtype.kind == "u" and array.dtype.itemsize > 1
            tensor = torch.from_numpy(array.astype(np.int64) if wide_unsigned else array.copy())
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise InputError(refused.format(str(tensor.dtype).removeprefix("torch.")))
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise InputError(f"waveforms hold {bad} NaN or infinite samples: replace them (e.g. torch.nan_to_num)")
        return tensor


def _model_from_config(config: dict[str, Any], state_dict: dict[str, torch.Tensor], source: Path) -> nn.Module:
    """The network the settings describe, holding the file's weights (one line naming the file and a
    tensor when they do not fit)."""
    model = create_model(**without_weight_sources(config["model"]))
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state_dict)), sorted(set(state_dict) - set(own))
    mismatched = [f"{k} {tuple(state_dict[k].shape)} for {tuple(own[k].shape)}" for k in own
                  if k in state_dict and own[k].shape != state_dict[k].shape]  # fmt: skip
    problems = [f"missing {missing[0]}" for _ in missing[:1]] + [f"unexpected {unexpected[0]}" for _ in unexpected[:1]]
    if problems or mismatched:
        raise CheckpointError(
            f"the weights in {source} do not fit the model its settings describe ({config['model']['name']!r}:"
            f" {'; '.join(problems + mismatched[:1])}): the file is corrupt or was edited; use another checkpoint"
        )
    model.load_state_dict(state_dict)
    return model


def _wrap(model: nn.Module, config: dict[str, Any]) -> nn.Module | WordVectors:
    """The notebook-facing object the model's task declares (``Task.notebook``): a ``Classifier``,
    ``TextGenerator``, ``AutoencoderModel`` or ``WordVectors``."""
    from zoo.tasks import make_notebook_object, notebook_object

    return make_notebook_object(notebook_object(get_model_entry(config["model"]["name"]).task), model, config)


def load(
    source: str | Path, map_location: str | torch.device = "cpu", weights: str | None = None, **model_kwargs: Any
) -> Classifier | TextGenerator:
    """A trained model, in eval mode, from a training checkpoint (``.ckpt``), an exported
    ``.safetensors`` file, or a registered model name with ``weights=<tag>``: the zoo's published
    weights (``zoo.list_weights()``, offline, e.g. ``zoo.load("lenet5", weights="mnist")``) or
    ``weights="imagenet"`` (torchvision's; ``weights_path=...`` for a local copy of them).

    Image classifiers come back as a ``Classifier`` (``predict`` on raw images), language models
    as a ``TextGenerator`` (``generate("ROMEO:", 500)``)."""
    if weights is not None or (isinstance(source, str) and source in list_models()):
        return _load_named(str(source), weights, **model_kwargs).to(map_location)
    path = Path(source)
    if path.suffix in (".txt", ".vec", ".bin"):  # word2vec text or binary vectors
        return WordVectors.load_word2vec_format(path)
    if path.suffix == ".safetensors":
        config, state_dict = read_safetensors(path)
    else:
        checkpoint = read_checkpoint(path)
        config = checkpoint["hyper_parameters"]
        state_dict = network_state_dict(checkpoint["state_dict"])
    return _wrap(_model_from_config(config, state_dict, path), config).to(map_location)


def _load_named(name: str, weights: str | None, weights_path: str | None = None, **kwargs: Any) -> Classifier:
    if weights is None:
        raise CheckpointError(
            f"{name!r} is a model name: zoo.load({name!r}, weights=<tag>) gives published weights (zoo.list_weights()),"
            f" zoo.create_model({name!r}) an untrained network, and zoo.load(<file.ckpt>) a trained one"
        )
    if weights != "imagenet":
        from zoo.catalogue import load_published

        if kwargs or weights_path:
            raise CheckpointError(f"published weights come with their settings: zoo.load({name!r}, weights={weights!r}) takes no model arguments")
        return load_published(name, weights)
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from datamodules.image_folder import IMAGENET_MEAN, IMAGENET_STD

    model_config = {"name": name, **kwargs}
    model = create_model(pretrained=None if weights_path else "torchvision", weights_path=weights_path, **model_config)
    classes = list(_IMAGENET_CATEGORIES)
    info = ImageInfo(name="imagenet", num_classes=len(classes), class_names=classes, mean=list(IMAGENET_MEAN),
                     std=list(IMAGENET_STD), channels=3, image_size=224, resize="resize", resize_size=256)  # fmt: skip
    return Classifier(model, {"model": model_config, "data_info": info.to_dict()})


def export_safetensors(checkpoint_path: str | Path, output_path: str | Path) -> Path:
    """Write a checkpoint's network weights and config as one ``.safetensors`` file (no pickle)."""
    loaded = load(checkpoint_path)
    keep = ("model", "data_info", "data_config", "optimizer", "scheduler", "loss", "label_smoothing")
    return atomic_write_bytes(output_path, safetensors_bytes(loaded.model, {k: loaded.config[k] for k in keep if k in loaded.config}))


def safetensors_bytes(
    model: nn.Module | dict[str, torch.Tensor], settings: dict[str, Any], dtype: torch.dtype | None = None, **records: Any
) -> bytes:
    """A network's tensors (the module or its state_dict; floating ones cast to ``dtype`` if given) with
    the settings ``zoo.load`` rebuilds it from (metadata ``zoo``) and any further JSON ``records`` (e.g. a
    published weight's ``zoo_entry``), as one ``.safetensors`` file. A tensor shared under two names
    (tied embedding and decoder weights) is stored once; metadata ``zoo_tied`` names its aliases."""
    tensors = model.state_dict() if isinstance(model, nn.Module) else model
    state: dict[str, torch.Tensor] = {}
    tied: dict[str, str] = {}
    first_name: dict[tuple, str] = {}
    for name, tensor in tensors.items():
        storage = (tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
        if tensor.numel() and storage in first_name:
            tied[name] = first_name[storage]
            continue
        first_name[storage] = name
        cast = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
        state[name] = tensor.detach().to(cast).clone().contiguous()
    metadata = {"zoo": json.dumps(settings), **{key: json.dumps(value) for key, value in records.items()}}
    if tied:
        metadata["zoo_tied"] = json.dumps(tied)
    return save(state, metadata=metadata)
