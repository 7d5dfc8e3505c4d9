"""Audio on whole batches: WAV files read with the standard library, resampling, and the
MFCC / log-mel features computed per batch on the training device.

``torchaudio`` is imported only when audio is actually used (it is the optional ``audio``
dependency), so ``import datamodules`` works without it. The same ``AudioPreprocess`` travels
with a checkpoint (its settings and normalisation sit in the ``AudioInfo``), so
``zoo.load(...).predict`` takes raw waveforms.
"""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from datamodules.info import AudioInfo
from zoo.errors import DataFileError, first_line

FEATURES = ("mfcc", "logmel")
LOG_FLOOR = 1e-6  # added to mel power before the log: digital silence (padding) sits at log(1e-6)


class AudioDataError(DataFileError):
    """An audio file in a format we do not read, or a recording longer than allowed."""


def require_torchaudio() -> Any:
    """``torchaudio``, or one line saying how to install it."""
    try:
        import torchaudio
    except ImportError as error:
        raise ImportError(
            f"audio data needs torchaudio ({error}): pip install torchaudio, the version matched to torch in"
            " requirements.txt"
        ) from None
    return torchaudio


SAMPLE_RATES = (1000, 768_000)  # the plausible range, in Hz: a rate outside it is a corrupt header


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """The int16 samples and the sample rate of a 16-bit PCM mono WAV file (standard library only), or one
    line naming the file: unreadable, another format, an implausible rate, truncated or empty."""
    try:
        with wave.open(io.BytesIO(Path(path).read_bytes()), "rb") as handle:  # in memory: a huge size field reserves nothing
            channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
            count = handle.getnframes()
            frames = handle.readframes(count)
    except (wave.Error, EOFError, OSError, RuntimeError, ValueError, struct.error) as error:
        reason = first_line(error) if str(error).strip() else f"its chunks are cut short or malformed, {type(error).__name__}"
        raise AudioDataError(f"{path} is not a readable WAV file ({reason}): delete or replace it") from None
    if channels != 1 or width != 2:
        raise AudioDataError(
            f"{path} has {channels} channel(s) of {8 * width}-bit samples; only 16-bit PCM mono WAV is read:"
            " convert it (e.g. sox in.wav -b 16 -c 1 out.wav) or remove it"
        )
    if not SAMPLE_RATES[0] <= rate <= SAMPLE_RATES[1]:
        raise AudioDataError(f"{path} declares a sample rate of {rate} Hz: its header is corrupt; delete or replace it")
    if len(frames) != 2 * count or not count:
        raise AudioDataError(
            f"{path} holds {len(frames) // 2} of the {count} samples its header declares: the file is truncated or"
            " empty; delete or replace it"
        )
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate


def resample(samples: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """``samples`` (int16 or float, time last) at ``new_rate``, with torchaudio's band-limited resampling."""
    if orig_rate == new_rate:
        return samples
    torchaudio = require_torchaudio()
    as_int16 = samples.dtype == torch.int16
    x = samples.float() / 32768.0 if as_int16 else samples.float()
    y = torchaudio.functional.resample(x, orig_rate, new_rate)
    return (y * 32768.0).round().clamp(-32768, 32767).to(torch.int16) if as_int16 else y


def fit_length(waveforms: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad or cut the last dimension to ``length``."""
    size = waveforms.shape[-1]
    if size >= length:
        return waveforms[..., :length]
    return torch.nn.functional.pad(waveforms, (0, length - size))


def pad_waveforms(waveforms: Sequence[Any]) -> torch.Tensor:
    """One ``(N, L)`` batch from 1-D waveforms of different lengths (zero-padded at the end)."""
    tensors = [w if isinstance(w, torch.Tensor) else torch.as_tensor(np.asarray(w)) for w in waveforms]
    if any(t.ndim != 1 for t in tensors):
        raise ValueError("a list of waveforms must hold 1-D arrays (one recording each)")
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)


class AudioPreprocess(nn.Module):
    """Waveforms ``(N, L)`` (int16, or float in [-1, 1]) -> normalised features ``(N, T, n_features)``.

    Every waveform is zero-padded or cut to ``max_samples``, then a mel power spectrogram
    (``n_fft``-point STFT every ``hop_length`` samples) is taken to ``log(mel + 1e-6)``: the
    log-mel features, or their first ``n_features`` DCT-II coefficients (MFCC, Davis &
    Mermelstein 1980). Each feature is then normalised with ``mean``/``std`` (those of the
    training frames; none given: left as they are). Every utterance is transformed on its own,
    so a prediction never depends on the rest of its batch.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        max_samples: int = 8000,
        features: str = "mfcc",
        n_features: int = 40,
        n_mels: int = 40,
        n_fft: int = 256,
        hop_length: int = 80,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, not {features!r}")
        if features == "logmel" and n_features != n_mels:
            n_mels = n_features
        if n_features > n_mels:
            raise ValueError(f"n_features={n_features} MFCC need at least as many mel bands (n_mels={n_mels})")
        torchaudio = require_torchaudio()
        self.sample_rate, self.max_samples, self.features = sample_rate, max_samples, features
        self.n_features, self.n_mels, self.n_fft, self.hop_length = n_features, n_mels, n_fft, hop_length
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0
        )
        dct = torchaudio.functional.create_dct(n_features, n_mels, norm="ortho") if features == "mfcc" else None
        self.register_buffer("dct", dct, persistent=False)
        self.register_buffer("mean", torch.zeros(n_features), persistent=False)
        self.register_buffer("std", torch.ones(n_features), persistent=False)
        if mean is not None and std is not None:
            self.set_normalisation(torch.as_tensor(mean), torch.as_tensor(std))

    @classmethod
    def from_info(cls, info: AudioInfo) -> "AudioPreprocess":
        """The transform an ``AudioInfo`` (a checkpoint's ``data_info``, read by ``info_from_dict``) describes."""
        return cls(**info.preprocess_settings())

    def settings(self) -> dict[str, Any]:
        """The constructor's arguments except the normalisation (``AudioInfo``'s audio fields)."""
        names = ("sample_rate", "max_samples", "features", "n_features", "n_mels", "n_fft", "hop_length")
        return {name: getattr(self, name) for name in names}

    @property
    def num_frames(self) -> int:
        """Time steps of every output sequence (the STFT is centred)."""
        return self.max_samples // self.hop_length + 1

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean.float())
        self.std.copy_(std.float().clamp_min(1e-5))

    def to_float(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``(N, max_samples)`` float waveforms in [-1, 1] from int16 or float ``(N, L)`` or ``(L,)``."""
        if waveforms.ndim == 1:
            waveforms = waveforms.unsqueeze(0)
        if waveforms.ndim != 2:
            raise ValueError(f"expected waveforms shaped (N, samples) or (samples,), got {tuple(waveforms.shape)}")
        x = waveforms.float() / 32768.0 if waveforms.dtype == torch.int16 else waveforms.float()
        return fit_length(x, self.max_samples)

    def unnormalised(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Log-mel or MFCC features ``(N, T, n_features)`` before normalisation."""
        x = self.to_float(waveforms)
        logmel = torch.log(self.mel(x) + LOG_FLOOR).transpose(1, 2)  # (N, T, n_mels)
        return logmel @ self.dct if self.dct is not None else logmel

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return (self.unnormalised(waveforms) - self.mean) / self.std

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.settings().items())


class WaveformAugment(nn.Module):
    """Training-time augmentation of a float waveform batch: a random delay of up to
    ``max_shift`` samples (zeros in front, the end cut) and a random gain within ±``gain_db`` dB."""

    def __init__(self, max_shift: int = 0, gain_db: float = 0.0) -> None:
        super().__init__()
        self.max_shift, self.gain_db = max_shift, gain_db

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        n, length = waveforms.shape
        device = waveforms.device
        if self.max_shift:
            shift = torch.randint(0, self.max_shift + 1, (n, 1), device=device)
            source = torch.arange(length, device=device) - shift
            waveforms = waveforms.gather(1, source.clamp_min(0)) * (source >= 0)
        if self.gain_db:
            decibels = (torch.rand(n, 1, device=device) * 2 - 1) * self.gain_db
            waveforms = waveforms * torch.pow(10.0, decibels / 20)
        return waveforms
