"""Spoken digits (FSDD): WAV files generated in the real layout (``{digit}_{speaker}_{index}.wav``
under ``fsdd/recordings``), the official split, resampling, too-long and missing data, features,
a GRU trained end to end, ``zoo.load(...).predict`` on raw waveforms; the real files when present."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import urllib.error
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
from datamodules import FSDDDataModule
from datamodules.audio import AudioDataError, AudioPreprocess
from tests.conftest import ROOT, real_data_dir
from zoo.errors import DatasetNotFoundError, ModelDataMismatchError
from zoo.training import build_datamodule, build_task, evaluate, train

SPEAKERS = ("alice", "bob", "carol")
RATE = 8000


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, width: int = 2) -> Path:
    """A mono PCM WAV file (``width`` bytes a sample) with the standard library."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2" if width == 2 else np.uint8).tobytes())
    return path


def tone(digit: int, rng: np.random.Generator, rate: int = RATE, seconds: float | None = None) -> np.ndarray:
    """A learnable "spoken digit": a tone at 250 (digit + 1) Hz (speakers differ by a few percent)
    of 0.25-0.45 s after up to 50 ms of quiet, with noise, as int16."""
    seconds = seconds if seconds is not None else rng.uniform(0.25, 0.45)
    onset = int(rng.uniform(0, 0.05) * rate)
    t = np.arange(int(seconds * rate)) / rate
    frequency = 250 * (digit + 1) * rng.uniform(0.97, 1.03)
    signal = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * frequency * t) * np.hanning(len(t))
    signal = np.concatenate([np.zeros(onset), signal]) + rng.normal(0, 0.01, onset + len(t))
    return np.clip(signal * 32767, -32768, 32767).astype(np.int16)


def write_fsdd(root: Path, indices: range = range(10), speakers: tuple[str, ...] = SPEAKERS, seed: int = 0) -> Path:
    """``root/fsdd/recordings`` with one tone per digit, speaker and index: 10 x speakers x indices files."""
    rng = np.random.default_rng(seed)
    folder = root / "fsdd" / "recordings"
    for digit in range(10):
        for speaker in speakers:
            for index in indices:
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", tone(digit, rng))
    return folder


@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fsdd_data")
    write_fsdd(root)
    return root


def module(root: Path, **kwargs) -> FSDDDataModule:
    return FSDDDataModule(root=root, download=False, max_seconds=0.5, **kwargs)


def index_of(name: str) -> int:
    return int(Path(name).stem.split("_")[-1])


def test_official_split_index_0_to_4_is_test_and_val_comes_from_train(fsdd_root):
    dm = module(fsdd_root, val_size=0.1)
    dm.setup()
    train, val, test = (dm.splits[s] for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (135, 15, 150)
    assert all(index_of(name) < 5 for name in test.files)
    assert all(index_of(name) >= 5 for name in train.files + val.files)
    assert not set(train.files) & set(val.files)
    assert [int(name[0]) for name in test.files] == test.labels.tolist()  # labels come from the names
    assert train.waveforms.dtype == torch.int16 and train.waveforms.shape == (135, 4000)
    assert bool((train.lengths <= 4000).all()) and bool((train.lengths > 1000).all())
    again = module(fsdd_root, val_size=0.1, seed=7)  # the run's seed does not move the split
    again.setup()
    assert again.splits["val"].files == val.files


def test_a_recording_at_another_rate_is_resampled(tmp_path, caplog):
    folder = write_fsdd(tmp_path, indices=range(4, 6), speakers=("alice",))
    seconds, frequency = 0.4, 1000.0
    t = np.arange(int(seconds * 16000)) / 16000
    write_wav(folder / "3_alice_4.wav", (0.5 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16), rate=16000)
    dm = module(tmp_path, val_size=0)
    with caplog.at_level(logging.INFO, logger="datamodules.fsdd"):
        dm.setup()
    assert "1 recordings" in caplog.text and "resampled to 8000 Hz" in caplog.text
    test = dm.splits["test"]
    row = test.files.index("3_alice_4.wav")
    assert int(test.lengths[row]) == int(seconds * RATE)  # 6,400 samples at 16 kHz -> 3,200 at 8 kHz
    samples = test.waveforms[row, : test.lengths[row]].float().numpy()
    peak = np.abs(np.fft.rfft(samples)).argmax() * RATE / len(samples)
    assert peak == pytest.approx(frequency, abs=5)


def test_too_long_recordings_are_cut_with_a_warning_or_refused(tmp_path, caplog):
    folder = write_fsdd(tmp_path, indices=range(4, 6), speakers=("bob",))
    write_wav(folder / "7_bob_5.wav", tone(7, np.random.default_rng(1), seconds=1.2))
    with caplog.at_level(logging.WARNING, logger="datamodules.fsdd"):
        module(tmp_path, val_size=0).setup()
    assert "1 recordings longer than data.max_seconds=0.5 s (the longest 1.2" in caplog.text
    with pytest.raises(AudioDataError) as error:
        module(tmp_path, too_long="error").setup()
    message = str(error.value)
    assert "\n" not in message and "data.max_seconds" in message and "too_long=cut" in message


def test_missing_empty_or_foreign_data_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as error:
        module(tmp_path / "nothing").prepare_data()
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "nothing" / "fsdd" / "recordings") in message
    assert "data.root" in message

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", offline)
    with pytest.raises(DatasetNotFoundError) as error:
        FSDDDataModule(root=tmp_path / "offline").prepare_data()
    message = str(error.value)
    assert "\n" not in message and "could not be downloaded" in message and "fsdd/recordings" in message

    only_train = write_fsdd(tmp_path / "train_only", indices=range(5, 6), speakers=("alice",))
    with pytest.raises(DatasetNotFoundError, match="no test recordings \\(file index 0-4\\)"):
        module(tmp_path / "train_only").setup()
    write_wav(only_train / "1_alice_0.wav", np.full(800, 128), width=1)  # 8-bit
    with pytest.raises(AudioDataError, match="1_alice_0.wav has 1 channel\\(s\\) of 8-bit samples"):
        module(tmp_path / "train_only").setup()


def test_features_are_normalised_sequences_computed_per_batch(fsdd_root):
    dm = module(fsdd_root, augment="shift_gain", batch_size=16, eval_batch_size=256)
    info = dm.info
    assert info.modality == "audio" and info.input_shape == (51, 40) and info.n_features == 40
    assert info.num_frames == 51 and info.sample_rate == RATE and len(info.mean) == len(info.std) == 40
    dm.trainer = None
    waveforms, labels = next(iter(dm.test_dataloader()))
    assert waveforms.dtype == torch.int16 and waveforms.shape == (150, 4000)
    features, same_labels = dm.on_after_batch_transfer((waveforms, labels), 0)
    assert features.shape == (150, 51, 40) and features.dtype == torch.float32 and torch.equal(labels, same_labels)
    train = dm.splits["train"]
    raw = dm.preprocess(train.waveforms)
    valid = torch.arange(51)[None, :] < (train.lengths // 80 + 1)[:, None]
    assert raw[valid].mean(0).abs().max() < 1e-3 and (raw[valid].std(0) - 1).abs().max() < 1e-2
    # one utterance's features do not depend on its batch, so predictions do not either
    torch.testing.assert_close(dm.preprocess(waveforms[:1]), features[:1], atol=1e-5, rtol=1e-5)

    class Stage:  # what on_after_batch_transfer asks of the trainer
        training = True

    dm.trainer = Stage()
    torch.manual_seed(0)
    augmented = dm.on_after_batch_transfer((waveforms, labels), 0)[0]
    assert augmented.shape == features.shape and not torch.equal(augmented, features)
    logmel = AudioPreprocess(features="logmel", n_features=64, max_samples=8000)
    assert logmel(torch.zeros(2, 8000, dtype=torch.int16)).shape == (2, 101, 64)


def test_importing_the_packages_does_not_import_torchaudio():
    code = "import sys, datamodules, zoo; assert 'torchaudio' not in sys.modules, 'torchaudio imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_audio_models_and_image_data_do_not_mix(make_cfg, fsdd_root):
    cfg = make_cfg("model=lenet5", "data=fsdd", f"data.root={fsdd_root}", "data.max_seconds=0.5")
    with pytest.raises(ModelDataMismatchError, match="'lenet5' cannot take the 51x40 \\(steps x features\\) sequences"):
        build_task(cfg, build_datamodule(cfg.data))
    cfg = make_cfg("model=audio_rnn", "data=digits")
    with pytest.raises(ModelDataMismatchError, match="'audio_rnn' cannot take the 1x32x32 images of data set 'digits'"):
        build_task(cfg, build_datamodule(cfg.data))


@pytest.mark.slow
def test_gru_learns_synthetic_digits_and_predicts_raw_waveforms(make_cfg, fsdd_root, tmp_path):
    cfg = make_cfg("experiment=gru_fsdd", f"data.root={fsdd_root}", "data.download=false", "data.max_seconds=0.5",
                   "data.batch_size=16", "model.hidden_size=32", "trainer.max_epochs=6", "optimizer.lr=0.01")  # fmt: skip
    metrics = train(cfg)
    assert metrics["test/acc"] >= 0.7  # chance: 0.1
    run = Path(cfg.paths.output_dir)
    best = json.loads((run / "metrics.json").read_text())["best_checkpoint"]

    model = zoo.load(best)
    assert model.modality == "audio" and model.class_names == [str(d) for d in range(10)]
    test = module(fsdd_root).raw_split("test")
    predicted = model.predict(test.waveforms)
    assert (predicted == test.labels).float().mean().item() == pytest.approx(metrics["test/acc"], abs=1e-6)
    unpadded = [test.waveforms[i, : test.lengths[i]].float().numpy() / 32768 for i in range(8)]  # floats, any length
    assert torch.equal(model.predict(unpadded), predicted[:8])
    assert model.predict(test.waveforms[0]).shape == (1,)
    resampled = torch.from_numpy(np.stack([np.interp(np.arange(8000) / 2, np.arange(4000), w) for w in
                                           test.waveforms[:20].float().numpy()]))  # fmt: skip
    assert (model.predict(resampled, sample_rate=16000) == predicted[:20]).float().mean() >= 0.8
    assert model.predict_labels(test.waveforms[:3]) == [str(i) for i in predicted[:3].tolist()]

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()  # the image figures (prediction grids, filters) skip audio; the confusion matrix is there
    assert "val/acc" in events.Tags()["scalars"] and events.Tags()["images"] == ["test/confusion_matrix"]

    results = evaluate(make_cfg(f"ckpt_path={best}", f"data_root={fsdd_root}", name="eval"))
    assert results["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)


@pytest.mark.real_data
def test_real_recordings_counts_and_split():
    root = real_data_dir()
    if root is None or not (root / "fsdd" / "recordings").is_dir():
        pytest.skip("real FSDD not found (set ZOO_DATA_DIR to a folder holding fsdd/recordings)")
    dm = FSDDDataModule(root=root, download=False)
    dm.setup()
    train, val, test = (dm.splits[s] for s in ("train", "val", "test"))
    assert (len(train) + len(val), len(val), len(test)) == (2700, 270, 300)
    assert torch.bincount(test.labels, minlength=10).tolist() == [30] * 10
    assert len({name.split("_")[1] for name in test.files}) == 6  # every speaker in the test set
    assert dm.info.input_shape == (101, 40)
