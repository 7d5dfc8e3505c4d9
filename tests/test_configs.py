"""Every config composes; every model fits every data set; trainers, optimisers and schedulers
instantiate; experiments compose; bad group names are caught in one line."""

from __future__ import annotations

import inspect
import itertools
import re

import lightning as L
import pytest
import torch
import yaml
from hydra.utils import instantiate

from omegaconf import OmegaConf

from datamodules.registry import data_modules
from tests.conftest import CONFIGS
from zoo.cli import check_config_choices
from zoo.errors import ModelDataMismatchError
from zoo.optim import build_optimizer
from zoo.registry import create_model, get_model_entry
from zoo.training import build_datamodule, build_task, instantiate_all
from zoo.weights import without_weight_sources


def names(group: str) -> list[str]:
    return sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))


MODELS, DATA, TRAINERS = names("model"), names("data"), names("trainer")
FOLDER_DATA = {"image_folder", "imagenet"}  # need a folder tree: tested in test_image_folder.py
# Presets with a fixed 784-value input cannot take colour images: the mismatch is caught before training.
GREY_ONLY = {(model, data) for model in ("mlp_500_300", "mlp_800") for data in ("cifar10", "cifar100")}



def parameters(model: str) -> set[str]:
    """The arguments a model's builder takes."""
    return set(inspect.signature(get_model_entry(model).builder).parameters)


def takes_imagenet_classes(model: str) -> bool:
    default = inspect.signature(get_model_entry(model).builder).parameters.get("num_classes")
    return default is not None and default.default == 1000


def data_size(data: str) -> int | None:
    """A data config's own image side (``image_size``); None for data of other kinds."""
    return yaml.safe_load((CONFIGS / "data" / f"{data}.yaml").read_text()).get("image_size")


# image models (not token ids or audio features), less the ImageNet-sized ones; audio: tests/test_fsdd.py
IMAGE_MODELS = [m for m in MODELS if not parameters(m) & {"vocab_size", "n_features"}]
SMALL_MODELS = [m for m in IMAGE_MODELS if not takes_imagenet_classes(m)]
BUILT_IMAGENET_MODELS = ["alexnet", "vgg11_bn", "resnet18"]  # the others are covered by tests/test_convnets.py
# models that take only some image sizes train on data of theirs, as their recipes set data.image_size
SIZE_FOR = {"lenet5_classic": 32, "vgg16_cifar": 32, "vgg16_bn_cifar": 32, "mlp_500_300": 28, "mlp_800": 28,
            **{model: 224 for model in BUILT_IMAGENET_MODELS}}  # fmt: skip


@pytest.mark.parametrize("data", DATA)
def test_every_model_data_and_trainer_pair_composes(make_cfg, data):
    """All model x data pairs, and every trainer with every model and every data set. (The trainer
    group shares no keys with the other two, so pairs cover what the full product would; each
    composition costs ~0.1 s.)"""
    for model in MODELS:
        cfg = make_cfg(f"model={model}", f"data={data}")
        assert cfg.model.name == model and cfg.data.name == data
        assert cfg.data.get("image_size") == data_size(data)  # the data says its size, whatever the model
    for trainer in TRAINERS:
        assert make_cfg(f"data={data}", f"trainer={trainer}").trainer._target_ == "lightning.pytorch.Trainer"


@pytest.mark.parametrize("trainer", TRAINERS)
def test_every_trainer_composes_with_every_model(make_cfg, trainer):
    for model in MODELS:
        cfg = make_cfg(f"model={model}", f"trainer={trainer}")
        assert cfg.trainer.use_distributed_sampler is False and cfg.model.name == model


# grey and colour, 10 and 100 classes (MNIST-style sets share digits' checks at their own sizes)
@pytest.mark.parametrize("model, data", [*itertools.product(SMALL_MODELS, ["digits", "fashion_mnist", "cifar100"]),
                                         *((m, "cifar10") for m in BUILT_IMAGENET_MODELS)])  # fmt: skip
def test_models_fit_the_data_they_are_composed_with(make_cfg, model, data):
    cfg = make_cfg(f"model={model}", f"data={data}", *([f"data.image_size={SIZE_FOR[model]}"] if model in SIZE_FOR else []))
    datamodule = build_datamodule(cfg.data)
    info = datamodule.info
    if (model, data) in GREY_ONLY:
        with pytest.raises(ModelDataMismatchError, match=f"'{model}' cannot take the 3x28x28 images of data set '{data}'"):
            build_task(cfg, datamodule)
        return
    task = build_task(cfg, datamodule)  # runs a dummy batch of the data's shape through the model
    outputs = task.model(torch.zeros(2, *info.input_shape))
    if hasattr(outputs, "reconstruction"):  # autoencoders recreate their input
        assert outputs.reconstruction.shape == (2, *info.input_shape)
        return
    assert outputs.shape == (2, info.num_classes)


def test_data_configs_never_read_the_model():
    """Sizes flow one way, data to model: no data config interpolates a model setting."""
    for data in DATA:
        interpolations = re.findall(r"\$\{([^}]*)\}", (CONFIGS / "data" / f"{data}.yaml").read_text())
        assert not [text for text in interpolations if "model" in text], data


@pytest.mark.parametrize("experiment", names("experiment"))
def test_experiments_models_take_their_datas_image_size(make_cfg, experiment):
    """A recipe sets the size on the data (``data.image_size``); the model built with the data's
    channels and size filled in, as training fills them, takes a batch of that size."""
    cfg = make_cfg(f"experiment={experiment}")
    if "image_size" not in cfg.data:
        return  # text, word corpora, audio
    assert "input_size" not in cfg.model  # the data's size is the model's
    size, channels = cfg.data.image_size, getattr(data_modules()[cfg.data.module], "channels", 3)
    config = without_weight_sources(OmegaConf.to_container(cfg.model, resolve=True))
    filled = {k: v for k, v in {"in_channels": channels, "input_size": size}.items() if k in parameters(config["name"])}
    with torch.no_grad():
        create_model(**{**filled, **config}).eval()(torch.zeros(1, channels, size, size))


@pytest.mark.parametrize("trainer", ["default", "cpu", "ddp_cpu"])
def test_cpu_trainers_instantiate(make_cfg, trainer):
    cfg = make_cfg(f"trainer={trainer}")
    built = instantiate(cfg.trainer, callbacks=instantiate_all(cfg.callbacks), logger=instantiate_all(cfg.logger))
    assert isinstance(built, L.Trainer)
    assert built.num_devices == (2 if trainer == "ddp_cpu" else 1)


def test_gpu_trainers_follow_lightning_conventions(make_cfg):
    ddp = make_cfg("trainer=ddp").trainer
    assert (ddp.accelerator, ddp.strategy, ddp.devices, ddp.num_nodes) == ("gpu", "ddp", -1, 1)
    assert make_cfg("trainer=multi_node", "trainer.num_nodes=4").trainer.num_nodes == 4
    assert make_cfg("trainer=gpu").trainer.precision == "bf16-mixed"


@pytest.mark.parametrize("optimizer", names("optimizer"))
def test_optimizers_instantiate(make_cfg, optimizer):
    cfg = make_cfg(f"optimizer={optimizer}")
    built = build_optimizer(OmegaConf.to_container(cfg.optimizer, resolve=True), [torch.nn.Parameter(torch.zeros(3))])
    assert type(built).__name__.lower() == optimizer.replace("_", "")
    if optimizer == "sgd":
        assert make_cfg("optimizer=sgd", "optimizer.nesterov=true").optimizer.nesterov is True


@pytest.mark.parametrize("experiment", names("experiment"))
def test_experiments_compose(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}")
    assert cfg.run_name == experiment
    assert cfg.model.name and cfg.data.module in data_modules()


def test_conventions_users_know_from_the_template(make_cfg):
    cfg = make_cfg("data=mnist", "data.batch_size=128", "data.root=/somewhere", "trainer.max_steps=7", "seed=3",
                   "tags=[a,b]", "ckpt_path=/x/last.ckpt")  # fmt: skip
    assert (cfg.data.batch_size, cfg.data.root, cfg.trainer.max_steps, cfg.seed) == (128, "/somewhere", 7, 3)
    assert list(cfg.tags) == ["a", "b"] and cfg.ckpt_path == "/x/last.ckpt"
    assert cfg.data.image_size == 28  # the data says its size; the default model, LeNet-5, takes it
    assert make_cfg("data=mnist", "model=mlp_500_300").data.image_size == 28
    assert make_cfg("experiment=lenet5_mnist").data.image_size == 32  # padded to 32x32 as in the paper


def test_unknown_group_choices_are_one_line_listing_the_valid_names():
    assert check_config_choices(["model=lenet5", "data=mnist", "trainer.max_epochs=3"]) is None
    assert check_config_choices(["optimizer=sgd,adam"]) is None
    message = check_config_choices(["model=resnet999"])
    assert message == f"error: unknown model 'resnet999'; valid names: {', '.join(MODELS)}"
    assert "'imagenet21k'" in check_config_choices(["data=imagenet21k"])
    assert "'adamax'" in check_config_choices(["-m", "optimizer=sgd,adamax"])
