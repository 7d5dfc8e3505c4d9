"""ImageFolder / ImageNet data on a tiny generated JPEG tree: transforms, loaders, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules import ImageFolderDataModule, ImageNetDataModule
from zoo.errors import DatasetNotFoundError
from zoo.training import train

COLOURS = {"cat": (200, 40, 40), "dog": (40, 200, 40), "fox": (40, 40, 200)}


def write_jpeg_tree(root: Path, per_class: dict[str, int]) -> Path:
    """``root/<split>/<class>/<n>.jpg``: noisy images tinted by class, of varied sizes."""
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                height, width = rng.integers(40, 80, 2)
                pixels = np.clip(rng.normal(colour, 30, (height, width, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.jpg", quality=90)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_jpeg_tree(tmp_path / "pets", {"train": 6, "val": 2})


def test_loaders_give_normalised_crops_of_the_configured_size(tree):
    dm = ImageFolderDataModule(root=tree, batch_size=4, num_workers=0, image_size=32, resize_size=36)
    assert dm.info.class_names == ["cat", "dog", "fox"] and dm.info.input_shape == (3, 32, 32)
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32 and labels.dtype == torch.int64
    val_images, val_labels = next(iter(dm.val_dataloader()))
    assert val_images.shape == (4, 3, 32, 32) and len(dm.test_dataloader().dataset) == 6  # val doubles as test
    cat = dm.datasets["val"][0][0]  # the evaluation transform is deterministic and keeps the red tint
    assert cat[0].mean() > cat[1].mean() and torch.equal(cat, dm.datasets["val"][0][0])


def test_missing_folders_are_one_line_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no train/ folder under .*set data.root"):
        ImageFolderDataModule(root=tmp_path / "nowhere").prepare_data()


def test_imagenet_names_its_classes_in_english(tmp_path):
    for index in range(1000):
        (tmp_path / "train" / f"n{index:08d}").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    info = ImageNetDataModule(root=tmp_path).info
    assert info.num_classes == 1000 and info.class_names[0] == "tench" and info.resize_size == 256


def test_training_on_an_image_folder(make_cfg, tree):
    cfg = make_cfg("data=image_folder", f"data.root={tree}", "data.num_workers=0", "data.batch_size=6",
                   "data.resize_size=36", "debug=fast")  # fmt: skip
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0
