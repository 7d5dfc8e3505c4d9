"""The task layer: the registry is the one place that says which task a model is for; every task
declares its name, data, headline metrics and notebook object; no setting is silently ignored; the
logging cadence follows Lightning's rule without its private attributes; and checkpoints written
before the redesign (tests/data/checkpoints_v1, by commit 4342b4d) still load and give the same outputs."""

from __future__ import annotations

import re

import lightning as L
import pytest
import torch
import yaml
from safetensors.torch import load_file

import zoo
from tests.conftest import CONFIGS, ROOT, run_script
from zoo.callbacks.base import TaskCallback
from zoo.checkpoint import read_checkpoint, task_class_of
from zoo.errors import SettingError
from zoo.registry import get_model_entry, list_models
from zoo.tasks import get_task, list_tasks
from zoo.training import build_datamodule, build_task, train

OLD = ROOT / "tests" / "data" / "checkpoints_v1"
MODEL_CONFIGS = sorted(path.stem for path in (CONFIGS / "model").glob("*.yaml"))


def test_every_task_is_one_file_and_one_config_that_name_each_other():
    assert list_tasks() == ["classification", "language_modeling", "layerwise_pretraining", "reconstruction", "word_embedding"]
    for name in list_tasks():
        task_cls = get_task(name)
        config = yaml.safe_load((CONFIGS / "task" / f"{name}.yaml").read_text())
        assert task_cls.name == name and config["task"]["name"] == name
        assert task_cls.modalities and task_cls.headline_metrics
        assert config["optimized_metric"] in task_cls.headline_metrics  # what "best" means is printed at the end
        assert task_cls.settings_problem({k: v for k, v in config["task"].items() if k != "name"}) is None
    assert {get_model_entry(model).task for model in list_models()} == set(list_tasks())


def test_the_registry_entry_picks_the_task_config_of_every_model(make_cfg):
    for choice in MODEL_CONFIGS:
        cfg = make_cfg(f"model={choice}")
        assert cfg.task.name == get_model_entry(cfg.model.name).task, choice
    text = "\n".join((CONFIGS / "model" / f"{choice}.yaml").read_text() for choice in MODEL_CONFIGS)
    assert "/task" not in text  # no model config overrides the task


def test_a_task_that_contradicts_the_model_is_one_line(make_cfg, tmp_path):
    cfg = make_cfg("model=vae", "task=classification")
    with pytest.raises(SettingError, match="task=classification contradicts model 'vae', a reconstruction model: leave task= out"):
        build_task(cfg, build_datamodule(cfg.data))
    result = run_script("train.py", "model=rnn_lm", "task=reconstruction", f"paths.log_dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: task=reconstruction contradicts model 'rnn_lm'")


def test_unknown_task_settings_are_refused_in_one_line(make_cfg):
    cfg = make_cfg("+task.lable_smoothing=0.1")
    with pytest.raises(SettingError, match="task.lable_smoothing is not a setting of task 'classification' .*label_smoothing"):
        build_task(cfg, build_datamodule(cfg.data))


def test_sizes_flow_from_the_data_to_the_model(make_cfg):
    cfg = make_cfg("model=lenet5", "data.image_size=24")
    task = build_task(cfg, build_datamodule(cfg.data))
    assert task.hparams.model["input_size"] == 24 and task.hparams.model["in_channels"] == 1
    cfg = make_cfg("model=resnet20")  # a builder that takes no input size gets none
    assert "input_size" not in build_task(cfg, build_datamodule(cfg.data)).hparams.model


def test_the_plateau_schedule_follows_the_runs_optimized_metric(make_cfg):
    for overrides, monitor in (([], "val/acc"), (["optimized_metric=val/loss", "optimized_mode=min"], "val/loss")):
        cfg = make_cfg("scheduler=plateau", *overrides)
        assert cfg.scheduler.monitor == monitor and cfg.scheduler.mode == cfg.optimized_mode
        task = build_task(cfg, build_datamodule(cfg.data))
        task.trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False)
        assert task.configure_optimizers()["lr_scheduler"]["monitor"] == monitor


def test_callbacks_declare_the_tasks_they_serve():
    import zoo.callbacks as callbacks

    declared = [cls for cls in vars(callbacks).values() if isinstance(cls, type) and issubclass(cls, TaskCallback)]
    assert len(declared) >= 8
    for cls in declared:
        assert cls.tasks is None or set(cls.tasks) <= set(list_tasks()), cls
    source = "\n".join(path.read_text() for path in (ROOT / "zoo").rglob("*.py"))
    assert not re.search(r"trainer\._|_logger_connector|hasattr\(pl_module", source)  # no private Lightning attribute, no guessing


class CompareLoggingRule(L.Callback):
    """Records, on every training batch, our public rule and Lightning's own (private) one."""

    def __init__(self) -> None:
        self.ours: list[bool] = []
        self.lightnings: list[bool] = []

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        self.ours.append(pl_module.logger_writes_this_batch())
        self.lightnings.append(trainer._logger_connector.should_update_logs)


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_logging_cadence_is_lightnings_rule_from_public_counters(make_cfg, accumulate):
    compare = CompareLoggingRule()
    cfg = make_cfg("trainer.max_epochs=2", "trainer.log_every_n_steps=3", f"trainer.accumulate_grad_batches={accumulate}",
                   "trainer.limit_train_batches=7", "callbacks=none", "logger=tensorboard", "test=false")  # fmt: skip
    train(cfg, extra_callbacks=[compare])
    assert len(compare.ours) == 14 and any(compare.ours)
    assert compare.ours == compare.lightnings


# --- checkpoints written before the redesign -----------------------------------------------------
KINDS = ["image_classifier", "audio_classifier", "language_model", "autoencoder", "word2vec", "stacked_autoencoder"]


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoints_written_before_the_task_layer_load_and_give_the_same_outputs(kind):
    expected = load_file(str(OLD / "expected_outputs.safetensors"))
    loaded = zoo.load(OLD / f"{kind}.ckpt")
    inputs, outputs = expected[f"{kind}.input"], expected[f"{kind}.output"]
    with torch.no_grad():
        if kind == "word2vec":
            got = loaded.vectors
        else:
            got = loaded.model(inputs)
            got = got.reconstruction if kind == "autoencoder" else got[0] if kind == "language_model" else got
    torch.testing.assert_close(got, outputs)


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoints_written_before_the_task_layer_rebuild_their_task(kind):
    """What evaluate.py does: the task class from the registry, built from the checkpoint's settings, holds its weights."""
    checkpoint = read_checkpoint(OLD / f"{kind}.ckpt")
    hparams = checkpoint["hyper_parameters"]
    task = task_class_of(hparams)(**hparams)
    task.load_state_dict(checkpoint["state_dict"])
    if kind == "word2vec":
        assert hparams["optimizer"] == {"name": "sgd", "lr": 0.025, "momentum": 0.0} and hparams["scheduler"] is None
    if kind == "audio_classifier":
        assert hparams["model"]["n_features"] == 40 and "in_channels" not in hparams["model"]


def test_old_checkpoints_upgrade_to_the_current_settings(tmp_path):
    from zoo.checkpoint import main

    main(["upgrade", str(OLD / "audio_classifier.ckpt"), str(tmp_path / "new.ckpt")])
    raw = torch.load(tmp_path / "new.ckpt", weights_only=True)["hyper_parameters"]
    assert raw["data_info"]["modality"] == "audio" and raw["data_info"]["n_features"] == 40
    assert "sample_shape" not in raw["data_info"] and raw["model"]["n_features"] == 40


def test_word2vec_takes_its_rate_from_the_optimizer_and_refuses_what_it_would_ignore(make_cfg, tmp_path):
    from tests.test_word2vec import small_corpus

    corpus = small_corpus(tmp_path)
    common = ("experiment=word2vec_grimm", f"data.path={corpus}", f"data.root={tmp_path}", "data.min_count=2")
    cfg = make_cfg(*common, "optimizer.lr=0.05")
    task = build_task(cfg, build_datamodule(cfg.data))
    assert task.lr0 == 0.05 and "lr" not in task.hparams
    for override, message in (("optimizer=adam", "word2vec trains with plain SGD, not 'adam'"),
                              ("scheduler=cosine", "scheduler='cosine' would be ignored; use scheduler=none"),
                              ("optimizer.momentum=0.9", "optimizer.momentum=0.9 would be ignored")):  # fmt: skip
        cfg = make_cfg(*common, override)
        with pytest.raises(SettingError, match=re.escape(message)):
            build_task(cfg, build_datamodule(cfg.data))


def test_the_layerwise_schedule_runs_over_the_fine_tuning_epochs(make_cfg):
    cfg = make_cfg("experiment=stacked_ae_mnist_random_init", "data=digits", "task.pretrain_epochs=1", "trainer.max_epochs=5")
    task = build_task(cfg, build_datamodule(cfg.data))
    task.trainer = L.Trainer(max_epochs=5, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert task.pretraining_epochs == 2  # two layers, one epoch each
    assert task.schedule_length()[1] == 3


def test_import_zoo_loads_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, zoo, zoo.errors; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'zoo')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert loaded.strip() == "['zoo', 'zoo.errors']"


def test_files_and_functions_stay_small():
    """No source file over 300 lines, no function over 60."""
    import ast

    for path in [*(ROOT / "zoo").rglob("*.py"), *(ROOT / "datamodules").rglob("*.py"), *ROOT.glob("*.py")]:
        text = path.read_text()
        assert text.count("\n") <= 300, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{path}:{node.lineno} {node.name}"


def test_the_tasks_read_from_the_model_files_source_agree_with_the_registry():
    """Composing a config reads a model's task from its file without importing torch (zoo.registry.task_of)."""
    from zoo.registry import declared_tasks, task_of

    declared = declared_tasks()
    assert len(declared) >= 15 and "lenet5" in declared and declared["word2vec"] == "word_embedding"
    for name in list_models():
        assert task_of(name) == get_model_entry(name).task
        assert declared.get(name, get_model_entry(name).task) == get_model_entry(name).task
