"""Pretrained weights and transfer learning: torchvision state_dicts loaded from local files,
head replacement for a new class count, a frozen-then-unfrozen backbone, and their errors."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

import zoo
from tests.helpers import write_cifar_files
from tests.test_image_folder import write_jpeg_tree
from zoo.checkpoint import network_state_dict, read_checkpoint
from zoo.training import train


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory) -> Path:
    """torchvision's resnet18 state_dict saved to disk, as a user's offline copy of the weights."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_local_torchvision_weights_give_torchvisions_outputs(resnet18_file):
    ours = zoo.create_model("resnet18", weights_path=str(resnet18_file)).eval()
    theirs = torchvision.models.resnet18()
    theirs.load_state_dict(torch.load(resnet18_file, weights_only=True))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - theirs.eval()(x)).abs().max() <= 1e-5


def test_another_class_count_keeps_the_backbone_and_a_fresh_head(resnet18_file):
    state = torch.load(resnet18_file, weights_only=True)
    model = zoo.create_model("resnet18", num_classes=10, weights_path=str(resnet18_file))
    assert model.fc.weight.shape == (10, 512)
    assert torch.equal(model.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_zoo_load_by_name_with_imagenet_weights_from_a_file(resnet18_file):
    model = zoo.load("resnet18", weights="imagenet", weights_path=str(resnet18_file))
    assert model.class_names[0] == "tench" and len(model.class_names) == 1000
    images = torch.randint(0, 256, (2, 3, 300, 260), dtype=torch.uint8)  # raw images of any size
    assert model.predict(images).shape == (2,) and model.preprocess(images).shape == (2, 3, 224, 224)
    with pytest.raises(zoo.CheckpointError, match="'resnet20' is a model name"):
        zoo.load("resnet20")  # no weights named: nothing trained to load


def test_weight_errors_are_one_line(resnet18_file, tmp_path, monkeypatch):
    with pytest.raises(zoo.WeightsError, match="another architecture than VGG"):
        zoo.create_model("vgg11", weights_path=str(resnet18_file))
    with pytest.raises(zoo.WeightsError, match="take 3-channel images but this ResNet was built for 1"):
        zoo.create_model("resnet18", in_channels=1, weights_path=str(resnet18_file))  # ImageNet weights, grey MNIST
    with pytest.raises(zoo.WeightsError, match="no weights file at"):
        zoo.create_model("resnet18", weights_path=str(tmp_path / "missing.pth"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(zoo.WeightsError) as error:
        zoo.create_model("resnet18", pretrained="torchvision")
    assert "\n" not in str(error.value) and "model.weights_path" in str(error.value)
    with pytest.raises(zoo.WeightsError, match="publishes no weights for 'resnet20'"):
        zoo.create_model("resnet20", pretrained="torchvision")


def test_fine_tune_a_cifar_checkpoint_on_a_folder_of_images(make_cfg, tmp_path):
    write_cifar_files(tmp_path / "data")
    source = make_cfg("model=resnet20", "data=cifar10", f"data.root={tmp_path / 'data'}", "data.download=false",
                      "data.val_size=20", "data.batch_size=20", "trainer.max_epochs=1", "test=false",
                      "callbacks.prediction_grid=null")  # fmt: skip
    train(source)
    checkpoint = Path(source.paths.output_dir) / "checkpoints" / "last.ckpt"
    source_state = network_state_dict(read_checkpoint(checkpoint)["state_dict"])
    tree = write_jpeg_tree(tmp_path / "pets", {"train": 6, "val": 2})

    def fine_tune(epochs: int) -> dict[str, torch.Tensor]:
        cfg = make_cfg("model=resnet20", f"model.weights_path={checkpoint}", "data=image_folder", f"data.root={tree}",
                       "data.num_workers=0", "data.batch_size=6", "data.image_size=32", "data.resize_size=36",
                       "callbacks=[default,finetuning]",
                       "callbacks.backbone_finetuning.unfreeze_backbone_at_epoch=1", f"trainer.max_epochs={epochs}",
                       "callbacks.prediction_grid=null", "optimizer=sgd", "optimizer.lr=0.1")  # fmt: skip
        train(cfg)
        model = zoo.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
        assert model.class_names == ["cat", "dog", "fox"] and model.model.fc.weight.shape == (3, 64)
        return dict(model.model.named_parameters())

    frozen = fine_tune(epochs=1)  # epoch 0: only the new head learns
    changed = [n for n, p in frozen.items() if not n.startswith("fc.") and not torch.equal(p, source_state[n])]
    assert not changed, changed
    unfrozen = fine_tune(epochs=2)  # epoch 1: the backbone joins at a lower learning rate
    assert not torch.equal(unfrozen["conv1.weight"], source_state["conv1.weight"])
