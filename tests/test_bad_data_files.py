"""One bad file of each kind named in issue 11 ends in one line that names it and says what to do
(``test_file_readers.py`` feeds the same readers random and mutated files)."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from datamodules import CIFAR10DataModule, FSDDDataModule, ImageFolderDataModule, MNISTDataModule
from datamodules.analogy import read_analogies
from datamodules.text import TextDataModule
from datamodules.word_corpus import WordCorpusDataModule
from tests.helpers import idx_bytes, synthetic_digits, write_cifar_files, write_mnist_files
from tests.test_file_readers import QUESTIONS, TEXT, TONE, bounded, checkpoint_seeds, jpeg_bytes, wav_bytes  # noqa: F401
from zoo.errors import CheckpointError, DataFileError, TextEncodingError, ZooError
from zoo.word_vectors import WordVectors


def one_line(caught: pytest.ExceptionInfo, path: Path, *phrases: str) -> str:
    """The caught error's message, checked: one line, naming ``path``, holding each of ``phrases``."""
    message = str(caught.value)
    assert "\n" not in message and path.name in message, message
    for phrase in phrases:
        assert phrase in message, message
    return message


# --- IDX (MNIST) -----------------------------------------------------------------------------
def mnist(tmp_path: Path, name: str, data: bytes, suffix: str = "") -> tuple[MNISTDataModule, Path]:
    raw = write_mnist_files(tmp_path / "MNIST" / "raw", train=6, test=4, gz=False)
    (raw / name).unlink()
    (raw / f"{name}{suffix}").write_bytes(data)
    return MNISTDataModule(root=tmp_path, download=False), raw / f"{name}{suffix}"


IMAGES, LABELS = synthetic_digits(6, seed=0)
HEADER = struct.pack(">BBBB", 0, 0, 0x08, 3)


@pytest.mark.parametrize("data,suffix,phrases", [
    (idx_bytes(IMAGES)[:-100], "", ["truncated", "download it again"]),
    (gzip.compress(idx_bytes(IMAGES)), "", ["not an IDX file", "gzipped: name it .gz"]),
    (HEADER + struct.pack(">3i", -1, -28, 28) + bytes(784), "", ["negative dimension"]),
    (gzip.compress(HEADER + struct.pack(">3i", 2**31 - 1, 2**31 - 1, 28)), ".gz", ["more than the file can hold"]),
    (idx_bytes(IMAGES), ".gz", ["not a readable IDX file", "Not a gzipped file"]),
], ids=["truncated", "wrong_magic", "negative_dims", "huge_dims", "not_gzip"])  # fmt: skip
def test_corrupt_idx_files(tmp_path, data, suffix, phrases):
    module, path = mnist(tmp_path, "train-images-idx3-ubyte", data, suffix)
    with bounded(), pytest.raises(DataFileError) as caught:
        module.load_arrays()
    one_line(caught, path, *phrases, "download it again")


def test_idx_labels_out_of_range_or_not_matching_the_images(tmp_path):
    module, path = mnist(tmp_path, "train-labels-idx1-ubyte", idx_bytes(np.array([1, 2, 10, 3, 4, 5])))
    with pytest.raises(DataFileError) as caught:
        module.load_arrays()
    one_line(caught, path, "label 10, outside the 10 classes (0-9)")
    module, path = mnist(tmp_path, "train-labels-idx1-ubyte", idx_bytes(LABELS[:5]))
    with pytest.raises(DataFileError) as caught:
        module.load_arrays()
    one_line(caught, path, "for the 6 images of train-images-idx3-ubyte")


# --- CIFAR pickles ---------------------------------------------------------------------------
class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_cifar_pickle_that_would_run_code_is_refused_and_not_run(tmp_path):
    folder = write_cifar_files(tmp_path, per_batch=2, test=2)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_2", "wb") as handle:
        pickle.dump({"data": np.zeros((1, 3072), np.uint8), "labels": [RunsCode(marker)]}, handle)
    with pytest.raises(DataFileError) as caught:
        CIFAR10DataModule(root=tmp_path, download=False).load_arrays()
    one_line(caught, folder / "data_batch_2", "holds code (posix.system)", "refused and not run")
    assert not marker.exists()


def test_cifar_batches_with_bad_labels_or_memo_are_refused_and_numpy1_batches_load(tmp_path):
    folder = write_cifar_files(tmp_path, per_batch=2, test=2)
    module = CIFAR10DataModule(root=tmp_path, download=False)
    written_by_numpy1 = pickle.dumps({"data": np.ones((2, 3072), np.uint8), "labels": [3, 4]}, protocol=2)
    (folder / "test_batch").write_bytes(written_by_numpy1.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert module.load_arrays()[1].labels.tolist() == [3, 4]
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({"data": np.ones((2, 3072), np.uint8), "labels": [3, 10]}, handle)
    with pytest.raises(DataFileError) as caught:
        module.load_arrays()
    one_line(caught, folder / "test_batch", "labels outside 0-9")
    (folder / "test_batch").write_bytes(b"\x80\x02}r\xff\xff\xff\xff.")  # memo slot 4 billion: a 32 GB table
    with bounded(), pytest.raises(DataFileError) as caught:
        module.load_arrays()
    one_line(caught, folder / "test_batch", "not a readable CIFAR batch", "memo index")


# --- text ------------------------------------------------------------------------------------
def test_binary_or_foreign_text_corpora(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(gzip.compress(TEXT.encode()).replace(b"\x00", b"\x01") + b"\x00")
    with pytest.raises(ZooError) as caught:
        TextDataModule(path).setup()
    one_line(caught, path, "is not utf-8")
    path.write_bytes(TEXT.encode() + b"\x00\x00\x00")
    for module in (TextDataModule(path), WordCorpusDataModule(path, root=tmp_path, min_count=1)):
        with pytest.raises(DataFileError) as caught:
            module.setup()
        one_line(caught, path, "NUL bytes", "binary file", "pass a UTF-8 text file")
    questions = tmp_path / "questions-words.txt"
    questions.write_bytes(QUESTIONS.replace("paris", "pär").encode("latin-1"))
    with pytest.raises(TextEncodingError) as caught:
        read_analogies(questions)
    one_line(caught, questions, "is not utf-8", "data.encoding")


def test_a_corrupt_vocabulary_cache_is_built_again(tmp_path):
    (tmp_path / "analogy").mkdir()
    (tmp_path / "analogy" / "questions-words.txt").write_text(QUESTIONS)
    (tmp_path / "words.txt").write_text(TEXT)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "vocabulary.json").write_bytes(b'{"key": 1, "words": [1, 2')
    module = WordCorpusDataModule(tmp_path / "words.txt", root=tmp_path, min_count=1, window=2, cache_dir=tmp_path / "cache")
    module.setup()
    assert "athens" in module.words


# --- WAV -------------------------------------------------------------------------------------
GOOD = wav_bytes(TONE)


def patched(data: bytes, offset: int, field: bytes) -> bytes:
    return data[:offset] + field + data[offset + len(field) :]


@pytest.mark.parametrize("data,phrases", [
    (b"RIFF\x00\x00\x00\x00WAVEjunk", ["not a readable WAV file", "delete or replace it"]),
    (patched(GOOD, 22, struct.pack("<H", 0)), ["bad # of channels", "delete or replace it"]),
    (patched(GOOD, 34, struct.pack("<H", 24)), ["24-bit samples", "convert it"]),
    (GOOD[: 44 + 101], ["holds 50 of the 400 samples", "truncated", "delete or replace it"]),
    (patched(GOOD, 24, struct.pack("<I", 0)), ["sample rate of 0 Hz", "delete or replace it"]),
    (patched(GOOD, 24, struct.pack("<I", 99991)), ["99991 Hz", "too odd a ratio to resample", "convert it"]),  # 12 GB
], ids=["no_chunks", "zero_channels", "sample_width", "truncated", "zero_rate", "odd_rate"])  # fmt: skip
def test_malformed_wav_files(tmp_path, data, phrases):
    recordings = tmp_path / "fsdd" / "recordings"
    recordings.mkdir(parents=True)
    (recordings / "1_alice_0.wav").write_bytes(GOOD)
    (recordings / "1_alice_5.wav").write_bytes(data)
    with bounded(), pytest.raises(DataFileError) as caught:
        FSDDDataModule(root=tmp_path, download=False, max_seconds=0.1).load_arrays()
    one_line(caught, recordings / "1_alice_5.wav", *phrases)


# --- JPEG folders ----------------------------------------------------------------------------
def jpeg_tree(root: Path, bad: bytes) -> Path:
    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (root / split / name).mkdir(parents=True)
            for index in range(2):
                (root / split / name / f"{index}.jpg").write_bytes(jpeg_bytes())
    (root / "train" / "dog" / "1.jpg").write_bytes(bad)
    return root / "train" / "dog" / "1.jpg"


def sof_size(data: bytes, height: int, width: int) -> bytes:
    """A JPEG whose frame header (SOF0) claims another size."""
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]


@pytest.mark.parametrize("bad,workers,phrases", [
    (b"this is no image", 1, ["no image format Pillow reads", "(in DataLoader worker process 0)"]),
    (jpeg_bytes()[:300], 0, ["Truncated File Read"]),
    (sof_size(jpeg_bytes(), 10000, 10000), 0, ["DecompressionBombWarning", "100000000 pixels"]),
], ids=["corrupt_in_a_worker", "truncated", "huge_size"])  # fmt: skip
def test_corrupt_jpegs_in_an_image_folder(tmp_path, bad, workers, phrases):
    path = jpeg_tree(tmp_path, bad)
    module = ImageFolderDataModule(root=tmp_path, batch_size=2, num_workers=workers, image_size=8, resize_size=8)
    with pytest.raises(DataFileError) as caught:
        list(module.val_dataloader()), list(module.train_dataloader())
    one_line(caught, path, *phrases, "delete or replace it")


# --- word2vec vectors ------------------------------------------------------------------------
def test_a_huge_word2vec_header_is_refused_before_allocating(tmp_path, monkeypatch):
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"4294967295 300\n" + b"the " + bytes(1200) + b"\n")

    def no_allocation(*args, **kwargs):
        raise AssertionError("an array was allocated for the header's promise")

    monkeypatch.setattr("zoo.word_vectors.np.empty", no_allocation)
    with bounded(), pytest.raises(CheckpointError) as caught:
        zoo.load(path)
    one_line(caught, path, "promises 4294967295 vectors of 300 numbers, more than its 1205 bytes can hold")


def test_word2vec_vectors_with_nan_or_bad_rows_are_refused(tmp_path):
    vectors = WordVectors(["the", "cat"], torch.tensor([[1.0, 2.0], [float("nan"), 0.0]]))
    path = vectors.save_word2vec_format(tmp_path / "nan.txt")
    with pytest.raises(CheckpointError) as caught:
        zoo.load(path)
    one_line(caught, path, "NaN or infinite numbers", "'cat'")
    path.write_bytes(b"2 3\nthe 1 2 3\ncat 1 2\n")
    with pytest.raises(CheckpointError) as caught:
        zoo.load(path)
    one_line(caught, path, "line 3 holds 2 numbers, the header says 3")


# --- checkpoints and safetensors (read by zoo.checkpoint and zoo.inference) -----------------------
@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_truncated_checkpoints_and_safetensors(tmp_path, checkpoint_seeds, suffix):
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(checkpoint_seeds[suffix].read_bytes()[:5000])
    with bounded(), pytest.raises(CheckpointError) as caught:
        zoo.load(path)
    one_line(caught, path)


def test_a_checkpoint_whose_weights_do_not_fit_its_model_names_the_file(tmp_path, checkpoint_seeds):
    checkpoint = torch.load(checkpoint_seeds[".ckpt"], weights_only=True)
    checkpoint["state_dict"]["model.features.0.bias"] = torch.zeros(7)  # LeNet-5's first layer has 6 channels
    path = tmp_path / "misshapen.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError) as caught:
        zoo.load(path)
    one_line(caught, path, "features.0.bias (7,) for (6,)")


def test_errors_re_raised_by_a_dataloader_worker_stay_one_line():
    traceback = ("Caught DataFileError in DataLoader worker process 3.\nOriginal Traceback (most recent call last):\n"
                 '  File "x.py", line 1, in f\nzoo.errors.DataFileError: /data/x.jpg is not a readable image: replace it\n')  # fmt: skip
    expected = "/data/x.jpg is not a readable image: replace it (in DataLoader worker process 3)"
    assert str(DataFileError(traceback)) == expected
    assert str(DataFileError("one line")) == "one line"
