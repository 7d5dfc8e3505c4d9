"""Every file reader ends in success or one line (issue 11): fed random bytes and mutations of a valid file in
its true format, each must return or raise a ``ZooError`` whose message is one line naming the file: never
another exception, never a hang, never an allocation far beyond the file's size. The examples are fixed
(``derandomize``): a run cannot fail once and pass the next time. The issue's cases, one by one, are in
``test_bad_data_files.py``."""

from __future__ import annotations

import gzip
import io
import re
import resource
import signal
import tempfile
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from PIL import Image

import zoo
from datamodules import CIFAR10DataModule, FSDDDataModule, ImageFolderDataModule, MNISTDataModule
from datamodules.analogy import read_analogies
from datamodules.idx import read_idx
from datamodules.text import TextDataModule
from datamodules.word_corpus import WordCorpusDataModule
from tests.helpers import idx_bytes, synthetic_digits, write_cifar_files, write_mnist_files
from zoo.checkpoint import read_checkpoint
from zoo.errors import VocabularyError, ZooError
from zoo.word_vectors import WordVectors

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "zoo-hypothesis")  # its caches stay out of the checkout
FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))  # fmt: skip
HANG_SECONDS = 20  # an example reads a few KB: this catches a loop that never ends, not a slow machine
MAX_GROWTH = 256 << 20  # peak resident memory an example may add
ADDRESS_MARGIN = 4 << 30  # address space an example may reserve: a header's 96 GB reservation fails under it
QUESTIONS = ": capital-common-countries\nathens greece paris france\n: family\nboy girl brother sister\n"
TEXT = "\n".join(f"athens greece paris france w{i} of the boy and girl" for i in range(40)) + "\n"
TONE = (3000 * np.sin(np.arange(400) / 5)).astype(np.int16)  # 50 ms at 8 kHz
# header values, the most dangerous first (Hypothesis tries the first elements of a list most)
HUGE = [0xFFFFFFFF, 0x7FFFFFFF, 2**64 - 1, 0x80000000, 2**63 - 1, 0xFFFF, 0x7FFF, 0xFF, 0x80, 0x7F, 0, 1, 2]


class Hang(BaseException):
    """Raised by the alarm; a BaseException, so that no reader's ``except Exception`` can swallow it."""


def _on_alarm(signum, frame):
    raise Hang(f"the reader ran for more than {HANG_SECONDS} s")


def address_space() -> int:
    """This process's virtual memory size in bytes (Linux), or 0 where unknown."""
    status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
    sizes = [line.split()[1] for line in status.splitlines() if line.startswith("VmSize:")]
    return int(sizes[0]) * 1024 if sizes else 0


@contextmanager
def bounded() -> Iterator[None]:
    """Fail an example that hangs or reserves far more memory than a few-KB file needs."""
    old_limit, size = resource.getrlimit(resource.RLIMIT_AS), address_space()
    if size:
        hard = old_limit[1]
        limit = size + ADDRESS_MARGIN if hard == resource.RLIM_INFINITY else min(size + ADDRESS_MARGIN, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, old_limit)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
    assert growth < MAX_GROWTH, f"reading a few-KB file raised the peak memory by {growth >> 20} MB"


def check(read: Callable[[], object], path: Path) -> None:
    """``read()`` succeeds or raises a one-line ``ZooError`` naming ``path``; anything else fails the test."""
    try:
        with bounded():
            read()
    except ZooError as error:
        message = str(error)
        assert "\n" not in message, f"{type(error).__name__} of {len(message.splitlines())} lines: {message[:500]}"
        if not isinstance(error, VocabularyError):  # a corpus too short for its settings names the corpus, not a file
            assert path.name in message, f"{type(error).__name__} does not name {path.name}: {message}"
    except Exception as error:
        raise AssertionError(f"{path.name}: {type(error).__name__} instead of a ZooError: {error}") from error


@dataclass(frozen=True)
class Mutant:
    """Edits ``(start, end, new bytes)`` of a seed file, applied in turn; Hypothesis prints these, not the file."""

    edits: tuple[tuple[int, int, bytes], ...]

    def apply(self, seed: bytes) -> bytes:
        data = bytearray(seed)
        for start, end, new in self.edits:
            data[start:end] = new
        return bytes(data)


@st.composite
def mutants(draw, seed: bytes, header: int = 64) -> Mutant:
    """Random bytes, or one to three edits of ``seed`` (cut, flip, set a binary or decimal header field to a
    huge or negative value, insert, delete), most of them in its first ``header`` bytes."""
    if draw(st.integers(0, 7)) == 7:
        return Mutant(((0, len(seed), draw(st.binary(max_size=2048))),))
    data, edits = bytearray(seed), []
    for _ in range(draw(st.integers(1, 3))):
        end = max(len(data) - 1, 0)
        at = draw(st.integers(0, min(header, end)) | st.integers(0, end))
        kind = draw(st.sampled_from(["number", "field", "flip", "cut", "insert", "delete"]))
        numbers = list(re.finditer(rb"\d+", bytes(data[: header * 4])))
        if kind == "number" and numbers:  # a decimal field (a text header's count) set to a huge or negative value
            match = draw(st.sampled_from(numbers[:2]) | st.sampled_from(numbers))  # mostly a header's
            values = st.sampled_from([*HUGE[:2], 10**9, -1, 10**30, -(2**31), *HUGE[2:]])
            edit = (match.start(), match.end(), str(draw(values | st.integers(-(10**12), 10**12))).encode())
        elif kind == "cut":
            edit = (at, len(data), b"")
        elif kind == "flip" and data:
            edit = (at, at + 1, bytes([data[at] ^ draw(st.integers(1, 255))]))
        elif kind == "field":
            width = draw(st.sampled_from([1, 2, 4, 8]))
            value = draw(st.sampled_from(HUGE) | st.integers(0, 2**64 - 1)) % (1 << (8 * width))
            edit = (at, at + width, value.to_bytes(width, draw(st.sampled_from(["big", "little"]))))
        elif kind == "insert":
            edit = (at, at, draw(st.binary(min_size=1, max_size=16)))
        else:  # delete (also a number edit without numbers, a flip of nothing)
            edit = (at, at + draw(st.integers(1, 16)), b"")
        data[edit[0] : edit[1]] = edit[2]
        edits.append(edit)
    return Mutant(tuple(edits))


def fuzz(data: st.DataObject, path: Path, seed: bytes, read: Callable[[], object], header: int = 64) -> None:
    """Write a mutant of ``seed`` to ``path`` and check ``read``."""
    path.write_bytes(data.draw(mutants(seed, header), label=path.name).apply(seed))
    check(read, path)


# --- the readers, on seeds: valid files in their true formats -----------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files' folder; torch's threads start first (their stacks and arenas are not an example's)."""
    torch.randn(256, 256) @ torch.randn(256, 256)
    return tmp_path_factory.mktemp("readers")


def wav_bytes(samples: np.ndarray, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (24, 16)) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


@given(data=st.data())
@FUZZ
def test_mnist_idx_files(folder, data):
    raw = write_mnist_files(folder / "idx" / "MNIST" / "raw", train=12, test=6, gz=False)
    name = data.draw(st.sampled_from(sorted(path.name for path in raw.iterdir())))
    module = MNISTDataModule(root=folder / "idx", download=False)
    fuzz(data, raw / name, (raw / name).read_bytes(), module.load_arrays)


@given(data=st.data())
@FUZZ
def test_gzipped_idx_files(folder, data):
    path = folder / "t10k-images-idx3-ubyte.gz"
    images, _ = synthetic_digits(6, seed=2)
    if data.draw(st.booleans(), label="mutate the decompressed bytes"):
        path.write_bytes(gzip.compress(data.draw(mutants(idx_bytes(images))).apply(idx_bytes(images))))
        check(lambda: read_idx(path), path)
    else:
        fuzz(data, path, gzip.compress(idx_bytes(images)), lambda: read_idx(path))


@given(data=st.data())
@FUZZ
def test_cifar_pickles(folder, data):
    cifar = write_cifar_files(folder / "cifar", per_batch=3, test=3)
    name = data.draw(st.sampled_from(["data_batch_2", "test_batch", "batches.meta"]))
    module = CIFAR10DataModule(root=folder / "cifar", download=False)
    fuzz(data, cifar / name, (cifar / name).read_bytes(), module.load_arrays, header=128)


@given(data=st.data())
@FUZZ
def test_text_corpora(folder, data):
    path = folder / "corpus.txt"
    level = data.draw(st.sampled_from(["char", "word"]))
    module = TextDataModule(path, level=level, seq_len=8, batch_size=2)
    fuzz(data, path, TEXT.encode(), module.setup)


@given(data=st.data())
@FUZZ
def test_word2vec_corpora_and_analogy_questions(folder, data):
    (folder / "analogy").mkdir(exist_ok=True)
    corpus, questions = folder / "words.txt", folder / "analogy" / "questions-words.txt"
    corpus.write_text(TEXT), questions.write_text(QUESTIONS)
    if data.draw(st.booleans(), label="mutate the questions"):
        fuzz(data, questions, QUESTIONS.encode(), lambda: read_analogies(questions))
    else:
        module = WordCorpusDataModule(corpus, root=folder, min_count=1, window=2)
        fuzz(data, corpus, TEXT.encode(), module.setup)


@pytest.fixture(scope="module")
def fsdd(folder: Path) -> FSDDDataModule:
    recordings = folder / "fsdd" / "recordings"
    recordings.mkdir(parents=True)
    (recordings / "1_alice_0.wav").write_bytes(wav_bytes(TONE))
    (recordings / "1_alice_5.wav").write_bytes(wav_bytes(TONE))
    module = FSDDDataModule(root=folder, download=False, max_seconds=0.1)
    module.load_arrays()  # the seeds are read (and torchaudio is loaded) before any limit is set
    return module


@given(data=st.data())
@FUZZ
def test_wav_recordings(fsdd, data):
    path = fsdd.root / "fsdd" / "recordings" / "1_alice_5.wav"
    fuzz(data, path, wav_bytes(TONE, rate=data.draw(st.sampled_from([8000, 16000]))), fsdd.load_arrays)


@pytest.fixture(scope="module")
def image_folder(folder: Path) -> ImageFolderDataModule:
    for split in ("train", "val"):
        (folder / "images" / split / "cat").mkdir(parents=True)
        (folder / "images" / split / "cat" / "0.jpg").write_bytes(jpeg_bytes())
    module = ImageFolderDataModule(root=folder / "images", batch_size=1, num_workers=0, image_size=8, resize_size=8)
    module.setup()
    module.datasets["train"][0]  # the seed decodes
    return module


@given(data=st.data())
@FUZZ
def test_jpeg_images(image_folder, data):
    path = image_folder.root / "train" / "cat" / "0.jpg"
    fuzz(data, path, jpeg_bytes(), lambda: image_folder.datasets["train"][0], header=256)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@given(data=st.data())
@FUZZ
def test_word2vec_vectors(folder, binary, data):
    path = folder / f"vectors{'.bin' if binary else '.txt'}"
    vectors = WordVectors(["the", "König", "cat", "of"], torch.randn(4, 6, generator=torch.Generator().manual_seed(0)))
    fuzz(data, path, vectors.save_word2vec_format(path, binary=binary).read_bytes(), lambda: zoo.load(path))


# --- checkpoints and safetensors (their readers are zoo.checkpoint and zoo.inference) ---------
@pytest.fixture(scope="module")
def checkpoint_seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real checkpoint of a two-batch LeNet-5 run on digits, and its safetensors export."""
    from zoo.config import compose_config
    from zoo.training import train

    out = tmp_path_factory.mktemp("ckpt") / "run"
    cfg = compose_config("train", ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "test=false",
                                   "callbacks.prediction_grid=null"], out)  # fmt: skip
    train(cfg)
    checkpoint = out / "checkpoints" / "last.ckpt"
    exported = zoo.export_safetensors(checkpoint, out / "model.safetensors")
    zoo.load(checkpoint), zoo.load(exported)  # the seeds load
    return {".ckpt": checkpoint, ".safetensors": Path(exported)}


@pytest.mark.parametrize("suffix,reader", [(".ckpt", zoo.load), (".ckpt", read_checkpoint), (".safetensors", zoo.load)],
                         ids=["load_ckpt", "read_checkpoint", "load_safetensors"])  # fmt: skip
@given(data=st.data())
@settings(FUZZ, max_examples=40)
def test_checkpoints_and_safetensors(folder, checkpoint_seeds, suffix, reader, data):
    path = folder / f"model{suffix}"
    fuzz(data, path, checkpoint_seeds[suffix].read_bytes(), lambda: reader(path), header=512)
