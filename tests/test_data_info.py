"""The data says what the data is: one info type per modality, written to and read back from a
checkpoint's ``data_info`` (also the single-``DataInfo`` records older versions wrote), and a
``datamodules`` package that knows nothing of models or tasks."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from datamodules.info import AudioInfo, ImageInfo, TextInfo, WordCorpusInfo, info_from_dict
from tests.conftest import ROOT
from zoo.data_info import read_data_info
from zoo.errors import CheckpointError

DIGITS = [str(d) for d in range(10)]
AUDIO_SETTINGS = {"sample_rate": 8000, "max_samples": 8000, "features": "mfcc", "n_features": 40, "n_mels": 40,
                  "n_fft": 256, "hop_length": 80}  # fmt: skip

# data_info as the single DataInfo of earlier versions wrote it (asdict of every field)
OLD_IMAGE = {"name": "mnist", "num_classes": 10, "class_names": DIGITS, "channels": 1, "image_size": 32,
             "mean": [0.1307], "std": [0.3081], "resize": "pad", "resize_size": None, "modality": "image",
             "sample_shape": None, "audio": None, "raw_size": 28}  # fmt: skip
OLD_AUDIO = {"name": "fsdd", "num_classes": 10, "class_names": DIGITS, "channels": 40, "image_size": 101,
             "mean": [0.5] * 40, "std": [2.0] * 40, "resize": "pad", "resize_size": None, "modality": "audio",
             "sample_shape": [101, 40], "audio": AUDIO_SETTINGS, "raw_size": None}  # fmt: skip


def examples() -> list:
    """One info of each modality, with every field away from its default."""
    return [
        ImageInfo(name="cifar10", num_classes=2, class_names=["cat", "dog"], mean=[0.4, 0.5, 0.6], std=[0.2] * 3,
                  channels=3, image_size=224, resize="resize", resize_size=256, raw_size=32),  # fmt: skip
        AudioInfo(name="fsdd", num_classes=10, class_names=DIGITS, mean=[0.0] * 13, std=[1.0] * 13,
                  sample_rate=16000, max_samples=4000, features="logmel", n_features=13, n_mels=13, n_fft=512,
                  hop_length=160),  # fmt: skip
        TextInfo(name="grimm", level="word", vocabulary=["<eos>", "<unk>", "the"], unknown="<unk>", seq_len=35),
        WordCorpusInfo(name="text8", words=["the", "of"], counts=[9, 4], total_words=13, window=2,
                       analogy_sections=["capital-common-countries"]),  # fmt: skip
    ]


@pytest.mark.parametrize("info", examples(), ids=lambda info: info.modality)
def test_every_info_type_round_trips_through_its_record(info):
    record = info.to_dict()
    assert record["modality"] == info.modality and all(isinstance(key, str) for key in record)
    back = info_from_dict(record)
    assert type(back) is type(info) and back == info and back.to_dict() == record


def test_an_old_image_record_reads_as_image_info():
    info = info_from_dict(OLD_IMAGE)
    assert info == ImageInfo(name="mnist", num_classes=10, class_names=DIGITS, mean=[0.1307], std=[0.3081],
                             channels=1, image_size=32, resize="pad", resize_size=None, raw_size=28)  # fmt: skip
    assert info.input_shape == (1, 32, 32) and info.fixed_arguments() == {"image_size": 32}
    older = {key: value for key, value in OLD_IMAGE.items() if key not in ("raw_size", "modality")}
    assert info_from_dict(older).raw_size is None  # before raw_size and modality: an image set


def test_an_old_audio_record_reads_its_sizes_by_their_names():
    info = info_from_dict(OLD_AUDIO)
    assert isinstance(info, AudioInfo) and (info.name, info.num_classes, info.class_names) == ("fsdd", 10, DIGITS)
    assert (info.n_features, info.num_frames, info.input_shape) == (40, 101, (101, 40))  # were channels, image_size
    assert info.preprocess_settings() == {**AUDIO_SETTINGS, "mean": [0.5] * 40, "std": [2.0] * 40}
    assert info.fixed_arguments() == {}  # nothing for the data module: it was given the frames as image_size


def test_text_and_word_corpus_records_of_before_read_unchanged():
    text = {"name": "grimm", "level": "word", "vocabulary": ["<eos>", "a"], "unknown": None, "seq_len": 35,
            "modality": "text"}  # fmt: skip
    words = {"name": "text8", "words": ["a"], "counts": [3], "total_words": 3, "window": 5, "analogy_sections": [],
             "modality": "word_corpus"}  # fmt: skip
    assert info_from_dict(text).vocab_size == 2 and info_from_dict(text).to_dict() == text
    assert info_from_dict(words).vocab_size == 1 and info_from_dict(words).fixed_arguments()["counts"] == [3]


def test_records_of_no_known_kind_are_refused_in_one_line():
    with pytest.raises(ValueError, match="^data_info.modality 'video' is not one of image, audio, text, word_corpus$"):
        info_from_dict({**OLD_IMAGE, "modality": "video"})
    with pytest.raises(ValueError, match="^data_info has 'vocabulary', which image data does not describe$"):
        info_from_dict({**OLD_IMAGE, "vocabulary": ["a"]})
    with pytest.raises(CheckpointError, match="^a classifier takes image or audio data, but data_info describes text"):
        read_data_info({"data_info": examples()[2].to_dict()}, (ImageInfo, AudioInfo), "classifier")
    missing = "cannot be read \\(data_info has no 'num_classes', which image data needs\\)"
    with pytest.raises(CheckpointError, match=missing):
        read_data_info({"data_info": {"name": "mnist", "modality": "image"}}, (ImageInfo,), "autoencoder")


def test_importing_datamodules_loads_no_model_task_or_training_code():
    code = ("import sys, datamodules, datamodules.registry; datamodules.registry.data_modules(); datamodules.MNISTDataModule; "
            "print(sorted(name for name in sys.modules if name == 'zoo' or name.startswith('zoo.')))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "['zoo', 'zoo.errors']"  # no zoo.models, zoo.tasks, zoo.training


def test_data_module_files_import_only_the_errors_from_zoo():
    for path in sorted((ROOT / "datamodules").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            zoo = [name for name in modules if name == "zoo" or name.startswith("zoo.")]
            assert all(name == "zoo.errors" for name in zoo), f"{path.name} imports {zoo}"
