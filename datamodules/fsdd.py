"""The Free Spoken Digit Dataset (Jakobovski et al., github.com/Jakobovski/free-spoken-digit-dataset):
3,000 recordings of the digits 0-9, 8 kHz mono 16-bit PCM WAV files named
``{digit}_{speaker}_{index}.wav`` (6 speakers x 10 digits x 50). Official split: index 0-4 is
the test set (300 files), 5-49 the train set (2,700), of which a seeded 10% is held out for
validation.

Files are read with the standard library's ``wave`` module from ``<root>/fsdd/recordings``,
resampled to ``sample_rate`` when recorded at another rate, padded or cut to ``max_seconds`` and
held in memory as one int16 tensor. Features (MFCC or log-mel, ``datamodules.audio``) are
computed per batch on the training device and normalised with the per-feature mean and standard
deviation of the training frames.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from datamodules.audio import AudioDataError, AudioPreprocess, WaveformAugment, read_wav, resample
from datamodules.files import default_root
from datamodules.in_memory import InMemoryDataModule
from datamodules.info import AudioInfo
from datamodules.registry import register_data_module
from zoo.errors import DatasetNotFoundError, first_line

log = logging.getLogger(__name__)

URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
FILE_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>.+)_(?P<index>\d+)\.wav$")
TEST_INDICES = range(0, 5)  # the official split: recordings 0-4 of every digit and speaker are the test set
AUGMENTS = ("none", "shift", "gain", "shift_gain")
MAX_RESAMPLING_KERNEL = 1 << 20  # 44.1 kHz -> 8 kHz needs 441 x 80; a 7,919 Hz header would need 7,919 x 8,000


def check_resampling(path: Path, rate: int, target: int) -> None:
    """Refuse a rate whose reduced ratio to ``target`` is large: torchaudio's kernel holds about
    ``(rate / g) * (target / g)`` floats (g: their gcd), 63 million for 7,919 Hz -> 8,000 Hz."""
    orig, new = rate // math.gcd(rate, target), target // math.gcd(rate, target)
    if orig * new > MAX_RESAMPLING_KERNEL:
        raise AudioDataError(
            f"{path} is recorded at {rate} Hz, {orig}:{new} to data.sample_rate={target} Hz: too odd a ratio to"
            f" resample (a corrupt header?); convert it (sox in.wav -r {target} out.wav) or remove it"
        )


@dataclass
class AudioArrays:
    """A whole split: int16 waveforms ``(N, max_samples)``, their true lengths before padding
    (``(N,)``, capped at ``max_samples``), int64 labels ``(N,)`` and the file names."""

    waveforms: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "AudioArrays":
        files = [self.files[i] for i in index.tolist()] if self.files else []
        return AudioArrays(self.waveforms[index], self.lengths[index], self.labels[index], files)

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: ``(waveforms, labels)`` at ``index``."""
        return self.waveforms[index], self.labels[index]


@register_data_module("fsdd")
class FSDDDataModule(InMemoryDataModule):
    """Spoken digits as ``(N, T, n_features)`` feature sequences.

    Args:
        root: the data root holding ``fsdd/recordings/`` (default ``$ZOO_DATA_DIR``, else ``./data``).
        download: fetch the official repository's zip into ``<root>/fsdd`` when the files are missing.
        sample_rate: the rate the features are computed at; other files are resampled to it.
        max_seconds: recordings are zero-padded to this length; longer ones are cut (``too_long="cut"``,
            with one warning counting them) or refused (``"error"``). Real FSDD: 20 of 3,000 exceed 1 s.
        too_long: ``cut`` or ``error``.
        features: ``mfcc`` or ``logmel``; ``n_features`` coefficients (or mel bands) per frame.
        n_mels, n_fft, hop_length: the mel spectrogram (at 8 kHz: 40 bands, 32 ms windows, 10 ms hop).
        augment: training-time ``shift`` (a random delay up to ``max_shift_seconds``), ``gain`` (±``gain_db``
            dB), ``shift_gain`` or ``none``.
        batch_size, eval_batch_size, val_size, split_seed, seed, name: as in ``InMemoryDataModule``.
    """

    name = "fsdd"
    folder = "fsdd"
    class_names = [str(digit) for digit in range(10)]

    def __init__(
        self,
        root: str | Path | None = None,
        download: bool = True,
        sample_rate: int = 8000,
        max_seconds: float = 1.0,
        too_long: str = "cut",
        features: str = "mfcc",
        n_features: int = 40,
        n_mels: int = 40,
        n_fft: int = 256,
        hop_length: int = 80,
        augment: str = "none",
        max_shift_seconds: float = 0.1,
        gain_db: float = 6.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if too_long not in ("cut", "error"):
            raise ValueError(f"too_long must be 'cut' or 'error', not {too_long!r}")
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, not {augment!r}")
        self.root = Path(root) if root else default_root()
        self.download, self.too_long = download, too_long
        self.sample_rate, self.max_samples = sample_rate, int(round(max_seconds * sample_rate))
        self.preprocess = AudioPreprocess(sample_rate, self.max_samples, features, n_features, n_mels, n_fft, hop_length)
        self.augment = WaveformAugment(
            max_shift=int(round(max_shift_seconds * sample_rate)) if "shift" in augment else 0,
            gain_db=gain_db if "gain" in augment else 0.0,
        )
        self.normalised = False

    # --- files -------------------------------------------------------------------------------
    def candidate_folders(self) -> list[Path]:
        return [self.root / self.folder / "recordings", self.root / "free-spoken-digit-dataset" / "recordings"]

    def locate_files(self) -> list[Path]:
        """The recordings' paths (downloading them when missing and allowed), or one clear line."""
        folders = self.candidate_folders()
        files = self._find(folders)
        if not files and self.download:
            self._download()
            files = self._find(folders)
        if not files:
            raise DatasetNotFoundError(
                f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {folders[0]}"
                f"{' and download is off' if not self.download else ''}: put the official recordings/ folder's"
                f" WAV files there, or point data.root (or $ZOO_DATA_DIR) at a folder holding fsdd/recordings/"
            )
        return files

    @staticmethod
    def _find(folders: list[Path]) -> list[Path]:
        for folder in folders:
            files = sorted(path for path in folder.glob("*.wav") if FILE_NAME.match(path.name)) if folder.is_dir() else []
            if files:
                return files
        return []

    def _download(self) -> None:
        from torchvision.datasets.utils import download_and_extract_archive

        target = self.candidate_folders()[0]
        try:
            folder = self.root / self.folder
            folder.mkdir(parents=True, exist_ok=True)
            download_and_extract_archive(URL, download_root=str(folder), filename="fsdd-master.zip", remove_finished=True)
            extracted = folder / "free-spoken-digit-dataset-master"
            shutil.move(str(extracted / "recordings"), str(target))
            shutil.rmtree(extracted, ignore_errors=True)
        except Exception as error:  # offline, a proxy, a read-only root: all end the same way
            raise DatasetNotFoundError(
                f"FSDD is not in {target} and could not be downloaded ({first_line(error)}): copy the official"
                f" recordings/*.wav there, or set data.root (or $ZOO_DATA_DIR) to a folder holding fsdd/recordings/"
            ) from None

    # --- arrays ------------------------------------------------------------------------------
    def load_arrays(self) -> tuple[AudioArrays, AudioArrays]:
        files = self.locate_files()
        waveforms = torch.zeros(len(files), self.max_samples, dtype=torch.int16)
        lengths, labels, test, resampled, too_long = [], [], [], 0, []
        for row, path in enumerate(files):
            match = FILE_NAME.match(path.name)
            samples, rate = read_wav(path)
            samples = torch.from_numpy(samples)
            if rate != self.sample_rate:
                check_resampling(path, rate, self.sample_rate)
                samples, resampled = resample(samples, rate, self.sample_rate), resampled + 1
            if len(samples) > self.max_samples:
                too_long.append(len(samples))
            length = min(len(samples), self.max_samples)
            waveforms[row, :length] = samples[:length]
            lengths.append(length)
            labels.append(int(match["digit"]))
            test.append(int(match["index"]) in TEST_INDICES)
        self._report(files[0].parent, resampled, too_long)
        data = AudioArrays(waveforms, torch.tensor(lengths), torch.tensor(labels), [path.name for path in files])
        is_test = torch.tensor(test)
        train, test_split = data.subset(torch.nonzero(~is_test).flatten()), data.subset(torch.nonzero(is_test).flatten())
        for split, arrays, rule in (("train", train, "5 or more"), ("test", test_split, "0-4")):
            if not len(arrays):
                raise DatasetNotFoundError(
                    f"no {split} recordings (file index {rule}) among the {len(files)} in {files[0].parent}:"
                    " the official split needs both; copy the whole recordings/ folder"
                )
        return train, test_split

    def _report(self, folder: Path, resampled: int, too_long: list[int]) -> None:
        if resampled:
            log.info("%d recordings in %s resampled to %d Hz", resampled, folder, self.sample_rate)
        if not too_long:
            return
        seconds = self.max_samples / self.sample_rate
        longest = max(too_long) / self.sample_rate
        if self.too_long == "error":
            raise AudioDataError(
                f"{len(too_long)} recordings in {folder} are longer than data.max_seconds={seconds:g} (the longest"
                f" {longest:.2f} s): raise data.max_seconds, or set data.too_long=cut to cut them"
            )
        log.warning(
            "%d recordings longer than data.max_seconds=%g s (the longest %.2f s) are cut to %g s;"
            " raise data.max_seconds to keep them whole", len(too_long), seconds, longest, seconds,
        )  # fmt: skip

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if not self.normalised:
            self.preprocess.set_normalisation(*self.feature_statistics(self.splits["train"]))
            self.normalised = True

    @torch.no_grad()
    def feature_statistics(self, arrays: AudioArrays, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature mean and standard deviation over the frames that hold the recordings (not padding)."""
        total = torch.zeros(self.preprocess.n_features, dtype=torch.float64)
        squares, count = total.clone(), 0
        for start in range(0, len(arrays), chunk):
            features = self.preprocess.unnormalised(arrays.waveforms[start : start + chunk]).double()
            frames = arrays.lengths[start : start + chunk] // self.preprocess.hop_length + 1
            valid = torch.arange(features.shape[1])[None, :] < frames[:, None]
            selected = features[valid]
            total += selected.sum(0)
            squares += selected.square().sum(0)
            count += len(selected)
        mean = total / count
        return mean.float(), (squares / count - mean.square()).clamp_min(0).sqrt().float()

    # --- description -------------------------------------------------------------------------
    @property
    def info(self) -> AudioInfo:
        """Needs the training split's feature statistics, so it reads the files if not done yet."""
        self.setup()
        return AudioInfo(
            name=self.name,
            num_classes=len(self.class_names),
            class_names=list(self.class_names),
            mean=self.preprocess.mean.tolist(),
            std=self.preprocess.std.tolist(),
            **self.preprocess.settings(),
        )

    # --- batches -----------------------------------------------------------------------------
    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int):
        waveforms, labels = batch
        self.preprocess.to(waveforms.device)
        x = self.preprocess.to_float(waveforms)
        if self.trainer is not None and self.trainer.training:
            x = self.augment(x)
        return self.preprocess(x), labels
