"""Data: the IDX reader, the MNIST/Fashion-MNIST/digits modules on generated files in the real
format, batch transforms, sharding, and the real files when they are present."""

from __future__ import annotations

import gzip
import os
import stat
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules import CIFAR10DataModule, CIFAR100DataModule, DigitsDataModule, FashionMNISTDataModule, MNISTDataModule
from datamodules.idx import read_idx
from datamodules.in_memory import ShardedBatchSampler
from datamodules.transforms import ImagePreprocess, random_crop, random_hflip
from tests.conftest import real_data_dir, run_script
from tests.helpers import idx_bytes, synthetic_digits, write_cifar_files, write_mnist_files
from zoo.errors import DatasetNotFoundError


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    images, labels = synthetic_digits(12, seed=3)
    data = idx_bytes(images)
    path = tmp_path / ("x.gz" if gz else "x")
    path.write_bytes(gzip.compress(data) if gz else data)
    loaded = read_idx(path)
    assert loaded.dtype == torch.uint8 and loaded.shape == (12, 28, 28)
    assert np.array_equal(loaded.numpy(), images)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    images, _ = synthetic_digits(4, seed=0)
    (tmp_path / "short").write_bytes(idx_bytes(images)[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "foreign").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "foreign")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(idx_bytes(images))[:30])
    with pytest.raises(ValueError, match="not a readable IDX file"):
        read_idx(tmp_path / "broken.gz")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_module_reads_files_in_place_without_writing(tmp_path, gz):
    raw = write_mnist_files(tmp_path / "MNIST" / "raw", train=600, test=200, gz=gz)
    before = sorted(os.listdir(raw))
    raw.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only: any write beside the files would fail
    try:
        dm = MNISTDataModule(root=tmp_path, val_size=100, batch_size=50, download=False)
        dm.prepare_data()
        dm.setup("fit")
        assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [500, 100, 200]
        images, labels = next(iter(dm.train_dataloader()))
        assert images.dtype == torch.uint8 and images.shape == (50, 1, 28, 28) and labels.dtype == torch.int64
        assert len(dm.train_dataloader()) == 10 and len(dm.test_dataloader()) == 1
    finally:
        raw.chmod(stat.S_IRWXU)
    assert sorted(os.listdir(raw)) == before


def test_split_is_fixed_by_its_seed_not_by_the_run_seed(tmp_path):
    write_mnist_files(tmp_path / "MNIST" / "raw")
    def val_labels(**kwargs):
        dm = MNISTDataModule(root=tmp_path, val_size=100, download=False, **kwargs)
        dm.setup()
        return dm.splits["val"].labels
    assert torch.equal(val_labels(seed=1), val_labels(seed=2))
    assert not torch.equal(val_labels(split_seed=0), val_labels(split_seed=1))


def test_missing_files_offline_fail_in_one_line_naming_the_folder(tmp_path, monkeypatch):
    dm = MNISTDataModule(root=tmp_path / "empty", download=False)
    with pytest.raises(DatasetNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "empty" / "MNIST" / "raw") in message and "data.root" in message

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    dm = FashionMNISTDataModule(root=tmp_path / "offline", download=True)
    with pytest.raises(DatasetNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "\n" not in message and "could not be downloaded" in message and "FashionMNIST" in message


def test_fashion_mnist_module_describes_its_classes(tmp_path):
    write_mnist_files(tmp_path / "FashionMNIST" / "raw", gz=False)
    dm = FashionMNISTDataModule(root=tmp_path, val_size=50, image_size=32, download=False)
    info = dm.info
    assert info.class_names[0] == "T-shirt/top" and info.class_names[9] == "Ankle boot"
    assert info.input_shape == (1, 32, 32) and info.resize == "pad"


def test_digits_module_split_and_normalisation_constants():
    dm = DigitsDataModule(image_size=32)
    dm.setup()
    sizes = [len(dm.splits[s]) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797 and sizes[2] == 359 and sizes[1] == 144
    everything = torch.cat([dm.splits[s].images for s in ("train", "val", "test")]).float() / 255
    assert everything.mean().item() == pytest.approx(dm.mean[0], abs=1e-3)
    assert everything.std().item() == pytest.approx(dm.std[0], abs=1e-3)
    batch = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    assert batch[0].shape[1:] == (1, 32, 32) and batch[0].dtype == torch.float32


def test_preprocess_pads_resizes_and_normalises():
    images = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    padded = ImagePreprocess([0.0], [1.0], image_size=32, resize="pad")(images)
    assert padded.shape == (2, 1, 32, 32)
    assert padded[:, :, 2:30, 2:30].eq(1).all() and padded[:, :, :2].eq(0).all()
    resized = ImagePreprocess([0.5], [0.5], image_size=32, resize="resize")(torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    assert resized.shape == (3, 1, 32, 32) and torch.allclose(resized, torch.tensor(-1.0))


def test_batch_augmentations_move_and_flip_whole_images():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    assert torch.equal(random_crop(x, padding=0), x)
    torch.manual_seed(0)
    cropped = random_crop(x, padding=2)
    assert cropped.shape == x.shape
    for image, crop in zip(x, cropped):  # each crop is the padded image shifted by one offset
        padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
        assert any(torch.equal(padded[:, i : i + 6, j : j + 6], crop) for i in range(5) for j in range(5))
    flipped = random_hflip(x, p=1.0)
    assert torch.equal(flipped, x.flip(-1))


def test_sharded_sampler_partitions_each_epoch_across_processes():
    shards = [ShardedBatchSampler(10, 2, shuffle=True, seed=5, rank=r, world_size=2) for r in range(2)]
    seen = torch.cat([torch.cat(list(s)) for s in shards])
    assert sorted(seen.tolist()) == list(range(10)) and len(shards[0]) == 3
    first = torch.cat(list(shards[0]))
    shards[0].set_epoch(1)
    assert not torch.equal(first, torch.cat(list(shards[0])))
    odd = [torch.cat(list(ShardedBatchSampler(7, 4, shuffle=False, rank=r, world_size=2))) for r in range(2)]
    assert len(odd[0]) == len(odd[1]) == 4 and set(torch.cat(odd).tolist()) == set(range(7))


@pytest.mark.real_data
@pytest.mark.parametrize("module, folder", [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_real_files_shapes_and_counts(module, folder):
    root = real_data_dir()
    if root is None or not (root / folder / "raw" / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"real {folder} not found (set ZOO_DATA_DIR)")
    dm = module(root=root, download=False)
    dm.setup()
    train, val, test = (dm.splits[s] for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.sum() == 10000 and counts.min() >= 890  # every class present, roughly balanced
    assert torch.bincount(torch.cat([train.labels, val.labels]), minlength=10).sum() == 60000


@pytest.mark.parametrize("module, hundred", [(CIFAR10DataModule, False), (CIFAR100DataModule, True)])
def test_cifar_modules_read_the_official_pickles(tmp_path, module, hundred):
    folder = write_cifar_files(tmp_path, per_batch=40, test=60, hundred=hundred)
    before = sorted(os.listdir(folder))
    dm = module(root=tmp_path, val_size=20, batch_size=16, download=False)
    dm.setup()
    train, val, test = (dm.splits[s] for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (180, 20, 60)
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0, 0, 0].long(), train.labels)  # images stay paired with labels
    assert dm.info.num_classes == (100 if hundred else 10) and dm.info.channels == 3
    assert sorted(os.listdir(folder)) == before
    dm.trainer = None
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (16, 3, 32, 32)


def test_cifar_training_batches_are_augmented_and_eval_batches_are_not(tmp_path):
    write_cifar_files(tmp_path)
    dm = CIFAR10DataModule(root=tmp_path, val_size=20, download=False)
    batch = next(iter(dm.test_dataloader()))

    class Stage:  # what on_after_batch_transfer asks of the trainer
        def __init__(self, training: bool) -> None:
            self.training = training

    dm.trainer = Stage(training=False)
    plain = dm.on_after_batch_transfer(batch, 0)[0]
    assert torch.equal(plain, dm.preprocess(batch[0]))
    dm.trainer = Stage(training=True)
    torch.manual_seed(0)
    augmented = dm.on_after_batch_transfer(batch, 0)[0]
    assert augmented.shape == plain.shape and not torch.equal(augmented, plain)


def test_cifar_missing_or_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        CIFAR10DataModule(root=tmp_path, download=False).prepare_data()
    folder = write_cifar_files(tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(ValueError, match="data_batch_3 is not a readable CIFAR batch"):
        CIFAR10DataModule(root=tmp_path, download=False).setup()


def test_the_normalisation_can_be_set_and_is_checked(make_cfg, tmp_path):
    """data.mean/data.std replace the data set's statistics (LeCun et al. 1998's scaling: -0.1 background, 1.175 ink)."""
    from zoo.errors import SettingError

    dm = DigitsDataModule(image_size=32, mean=[0.0784], std=[0.784])
    assert dm.info.mean == [0.0784] and dm.info.std == [0.784]
    assert torch.allclose(dm.preprocess(torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1))[:, 0, 16, 16],
                          torch.tensor([-0.1, 1.1755]), atol=1e-3)  # fmt: skip
    with pytest.raises(SettingError, match=r"data.mean needs 1 value\(s\), got \[0.1, 0.2\]"):
        DigitsDataModule(mean=[0.1, 0.2])
    with pytest.raises(SettingError, match=r"data.std needs 1 value\(s\) above 0, got \[0.0\]"):
        DigitsDataModule(std=[0.0])
    result = run_script("train.py", "+data.std=[0]", f"paths.log_dir={tmp_path}")
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith("error: data.std needs 1 value(s) above 0")
