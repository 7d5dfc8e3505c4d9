"""Every Lightning and Hydra setting a user may pass ends cleanly (issue 11, section 3).

1. Every experiment of configs/experiment/ runs end to end for 3 optimiser steps, with its own callbacks,
   on small files written in the real on-disk formats (IDX, CIFAR pickles, an ImageNet tree of JPEGs,
   FSDD WAVs, text corpora, the analogy questions) under one session folder (``paths.data_dir``).
2. The default job ends cleanly by time, without validation, validating twice an epoch, every 3 epochs,
   and after a number of steps; ``last.ckpt`` holds the end of the run.
3. A run without logger, without callbacks, and without each single callback of the defaults completes;
   and so does the CLI's ``debug=fast logger=[]``.

Each run is checked the same way: ``train`` returns metrics, ``metrics.json`` is written with the step count,
and ``checkpoints/last.ckpt`` (when the last-checkpoint callback is on) is readable and at the same step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from tests.conftest import run_script
from tests.helpers import write_cifar_files, write_mnist_files
from tests.test_fsdd import write_fsdd
from tests.test_image_folder import write_jpeg_tree
from tests.test_word2vec import small_corpus
from zoo.checkpoint import read_checkpoint
from zoo.config import CONFIG_DIR, compose_config
from zoo.training import train

EXPERIMENTS = sorted(path.stem for path in (CONFIG_DIR / "experiment").glob("*.yaml"))

# what a few recipes need to run here, on one CPU process and offline, without changing their networks
SPECIAL = {
    # 8 GPUs with DDP in the recipe: one CPU process here; ResNet-50 pools adaptively, so 64x64 crops keep the network
    "resnet50_imagenet": ["trainer=cpu", "trainer.devices=1", "data.image_size=64", "data.resize_size=72"],
    # ImageNet weights from a local file (the README's offline route) instead of a download; CIFAR upsampled to
    # 64 instead of 224 (same network); one batch an epoch so that 3 steps reach the unfrozen backbone (epoch 2)
    "resnet18_finetune_cifar10": ["model.weights_path={resnet18}", "data.image_size=64",
                                  "trainer.limit_train_batches=1"],
    # one batch an epoch and one epoch per layer: the 3 steps pretrain layer 1, then layer 2, then fine-tune
    "stacked_ae_mnist": ["trainer.limit_train_batches=1", "task.pretrain_epochs=1"],
    "stacked_ae_fashion_mnist": ["trainer.limit_train_batches=1", "task.pretrain_epochs=1"],
}
STEPS = 3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for this module's in-process runs: their batches are tiny, and on a machine shared
    with other jobs two spinning threads made them 3-7x slower (a one-token LSTM step: 63 ms instead of 8)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def summary_of(cfg: DictConfig) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


def check_run(cfg: DictConfig, metrics: dict, steps: int | None = None, last: bool = True) -> dict:
    """``train`` returned metrics, metrics.json is written (at ``steps``), last.ckpt is at the same step."""
    assert isinstance(metrics, dict) and metrics, "train returned no metrics"
    summary = summary_of(cfg)
    assert summary["status"] == "finished", summary
    if steps is not None:
        assert summary["global_step"] == steps, summary
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if last:
        assert checkpoint.is_file() and summary["last_checkpoint"] == str(checkpoint), summary
        assert read_checkpoint(checkpoint)["global_step"] == summary["global_step"]
    else:
        assert not checkpoint.exists() and summary["last_checkpoint"] is None, summary
    return summary


# --- 1. every experiment -------------------------------------------------------------------
@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every data set the experiments read, small, in its real layout under one root."""
    root = tmp_path_factory.mktemp("zoo_data")
    write_mnist_files(root / "MNIST" / "raw", train=300, test=100)  # <root>/MNIST/raw/*-ubyte.gz
    write_mnist_files(root / "FashionMNIST" / "raw", train=300, test=100)
    write_cifar_files(root)  # <root>/cifar-10-batches-py/
    write_jpeg_tree(root / "imagenet", {"train": 4, "val": 2})  # <root>/imagenet/{train,val}/<class>/*.jpg
    write_fsdd(root, indices=range(7))  # <root>/fsdd/recordings/{digit}_{speaker}_{index}.wav
    # a word corpus with the analogy questions' words (<root>/analogy/questions-words.txt) ...
    corpus_file = small_corpus(root)
    corpus = corpus_file.read_text()
    corpus_file.unlink()
    lines = corpus.splitlines(keepends=True)
    # ... in WikiText-2's layout (wikitext-2/, grimm/: train/valid/test.txt; wikitext-2-valid-test/: valid/test.txt),
    # as text8 (one line, no file suffix) and as Tiny Shakespeare (tinyshakespeare/input.txt)
    layouts = {"wikitext-2": ("train", "valid", "test"), "grimm": ("train", "valid", "test"),
               "wikitext-2-valid-test": ("valid", "test")}  # fmt: skip
    for folder, splits in layouts.items():
        (root / folder).mkdir()
        for index, split in enumerate(splits):
            text = corpus if split == "train" else "".join(lines[index :: len(splits)])
            (root / folder / f"{split}.txt").write_text(text)
    (root / "text8").write_text(" ".join(corpus.split()))
    (root / "tinyshakespeare").mkdir()
    (root / "tinyshakespeare" / "input.txt").write_text(corpus)
    return root


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision ResNet-18 state_dict on disk: a user's offline copy of the ImageNet weights."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def tiny_overrides(name: str, data_dir: Path, tmp_path: Path) -> list[str]:
    """The overrides that make ``experiment=name`` a 3-step run on the generated data, offline."""
    data = compose_config("train", [f"experiment={name}"], tmp_path / "composed").data
    overrides = [f"experiment={name}", f"trainer.max_steps={STEPS}", "trainer.limit_train_batches=2",
                 "trainer.limit_val_batches=2", "trainer.limit_test_batches=2",
                 f"paths.data_dir={data_dir}"]  # fmt: skip
    settings = {"download": "false", "url": "null", "batch_size": "4", "eval_batch_size": "8", "num_workers": "0"}
    overrides += [f"data.{key}={value}" for key, value in settings.items() if key in data]
    if "val_size" in data and data.val_size >= 1:  # a count (5,000 of MNIST's and CIFAR's 60,000)
        overrides.append("data.val_size=20")
    if "seq_len" in data:  # the TBPTT windows: shorter windows, the same network
        overrides.append("data.seq_len=10")
    return overrides


def test_the_experiments_are_all_here():
    assert len(EXPERIMENTS) >= 35 and set(SPECIAL) <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_runs_end_to_end(name, make_cfg, data_dir, tmp_path, request):
    special = SPECIAL.get(name, [])
    if any("{resnet18}" in override for override in special):
        weights = request.getfixturevalue("resnet18_weights")
        special = [override.format(resnet18=weights) for override in special]
    cfg = make_cfg(*tiny_overrides(name, data_dir, tmp_path), *special)
    assert cfg.trainer.devices == 1 and cfg.trainer.accelerator == "cpu"  # no DDP launched from inside pytest
    metrics = train(cfg)
    summary = check_run(cfg, metrics, steps=STEPS)
    # the 2-batch (or 1-batch) epochs were validated, so the best checkpoint exists; the test split was scored
    assert summary["best_checkpoint"] and read_checkpoint(summary["best_checkpoint"])["global_step"] <= STEPS
    assert any(key.startswith("test/") for key in metrics), metrics


# --- 2. the default job under each way of ending or validating -----------------------------
def test_a_run_ends_by_time(make_cfg):
    cfg = make_cfg("trainer.max_time=00:00:00:03", "trainer.max_epochs=1000")  # 1,000 epochs would take minutes
    summary = check_run(cfg, train(cfg))
    assert summary["epochs"] < cfg.trainer.max_epochs


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.limit_val_batches=0", "trainer.max_epochs=2"],
        ["trainer.val_check_interval=0.5", "trainer.max_epochs=2"],
        ["trainer.check_val_every_n_epoch=3", "trainer.max_epochs=4"],
        ["trainer.max_steps=5"],
    ],
    ids=["no_validation", "validate_twice_an_epoch", "validate_every_3_epochs", "max_steps"],
)
def test_the_default_job_ends_cleanly(make_cfg, overrides):
    cfg = make_cfg(*overrides)
    summary = check_run(cfg, train(cfg))
    if cfg.trainer.max_steps > 0:
        assert summary["global_step"] == cfg.trainer.max_steps
    else:
        assert summary["epochs"] == cfg.trainer.max_epochs


# --- 3. switching things off ---------------------------------------------------------------
QUICK = ["trainer.max_epochs=1", "trainer.limit_train_batches=3", "trainer.limit_val_batches=1"]


def default_callback_keys() -> list[str]:
    """The keys of configs/callbacks/default.yaml's callbacks (tensorboard_figures.yaml's among them)."""
    folder = CONFIG_DIR / "callbacks"
    keys = []
    for entry in OmegaConf.load(folder / "default.yaml").defaults:
        if entry != "_self_":
            keys += list(OmegaConf.load(folder / f"{entry}.yaml").keys())
    return keys


CALLBACKS = default_callback_keys()


def test_the_callback_list_is_read():
    assert {"model_checkpoint", "last_checkpoint", "early_stopping", "lr_monitor", "gradient_norm"} <= set(CALLBACKS)


def test_a_run_without_a_logger(make_cfg):
    cfg = make_cfg("logger=[]", *QUICK)
    check_run(cfg, train(cfg), steps=3)
    assert not (Path(cfg.paths.output_dir) / "tensorboard").exists()


def test_a_run_without_callbacks(make_cfg):
    cfg = make_cfg("callbacks=none", *QUICK)
    check_run(cfg, train(cfg), steps=3, last=False)
    assert not list(Path(cfg.paths.output_dir).rglob("*.ckpt"))  # no checkpoint written anywhere


@pytest.mark.parametrize("key", CALLBACKS)
def test_a_run_without_one_callback(make_cfg, key):
    cfg = make_cfg(f"callbacks.{key}=null", *QUICK)
    assert cfg.callbacks[key] is None
    check_run(cfg, train(cfg), steps=3, last=key != "last_checkpoint")


def test_the_cli_runs_debug_fast_without_a_logger(tmp_path):
    result = run_script("train.py", "debug=fast", "logger=[]", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
