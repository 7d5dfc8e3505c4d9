"""What the per-step and per-epoch savings of issue 14 must not change: which hooks run and in what
order, the metrics an epoch reports, the pictures TensorBoard gets (speed itself is measured by
benchmarks/step_overhead.py and benchmarks/epoch_overhead.py, not here)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.trainer import call
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from zoo.callbacks.progress import RichProgressBar
from zoo.callbacks.prediction_grid import RIGHT, WRONG, CAPTION_HEIGHT, prediction_grid
from zoo import lightning_overhead
from zoo.lightning_overhead import NoProfiler, overrides, remember_no_cuda_devices, skip_default_callback_hooks
from zoo.tasks.buffered_updates import BufferedUpdates


class Recorder(L.Callback):
    """Records every hook a callback can get, in order."""

    def __init__(self, log: list[str], name: str) -> None:
        self.events, self.name = log, name


HOOKS = [name for name in dir(L.Callback) if name.startswith("on_")]
for _hook in HOOKS:
    setattr(Recorder, _hook, (lambda hook: lambda self, *a, **k: self.events.append(f"{self.name}.{hook}"))(_hook))


class Partial(L.Callback):
    """Overrides two hooks only; one more is set on an instance."""

    def __init__(self, log: list[str]) -> None:
        self.events = log

    def on_train_batch_end(self, *args) -> None:
        self.events.append("partial.on_train_batch_end")

    def on_validation_end(self, *args) -> None:
        self.events.append("partial.on_validation_end")


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        return torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def hook_sequence(fast: bool) -> list[str]:
    log: list[str] = []
    partial = Partial(log)
    partial.on_train_epoch_start = lambda *a: log.append("partial.on_train_epoch_start (instance)")
    data = torch.utils.data.TensorDataset(torch.randn(12, 4), torch.randint(0, 2, (12,)))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    original = call._call_callback_hooks
    try:
        if fast:
            assert skip_default_callback_hooks()
        else:
            call._call_callback_hooks = lightning_overhead._LIGHTNING_DISPATCH
        trainer = L.Trainer(max_epochs=2, callbacks=[Recorder(log, "all"), partial], logger=False, enable_progress_bar=False,
                            enable_model_summary=False, enable_checkpointing=False, profiler=NoProfiler() if fast else None)  # fmt: skip
        trainer.fit(Tiny(), loader, loader)
    finally:
        call._call_callback_hooks = original
    return log


def test_skipping_default_hooks_calls_the_same_hooks_in_the_same_order():
    lightning_order = hook_sequence(fast=False)
    assert "partial.on_train_epoch_start (instance)" in lightning_order and "partial.on_validation_end" in lightning_order
    assert hook_sequence(fast=True) == lightning_order


def test_overrides_sees_class_and_instance_hooks():
    partial = Partial([])
    assert overrides(partial, "on_train_batch_end") and not overrides(partial, "on_train_batch_start")
    partial.on_train_batch_start = lambda *a: None
    assert overrides(partial, "on_train_batch_start")


def test_a_requested_profiler_still_profiles_the_callbacks():
    assert skip_default_callback_hooks()
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    trainer = L.Trainer(max_epochs=1, callbacks=[Partial([])], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, profiler="simple")  # fmt: skip
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=4))
    assert any("Partial.on_train_batch_end" in action for action in trainer.profiler.recorded_durations)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a CUDA device")
def test_no_cuda_devices_is_remembered_on_a_machine_without_them():
    remember_no_cuda_devices()
    assert torch.cuda.device_count() == 0
    if torch.cuda._is_compiled():
        assert torch.cuda._cached_device_count == 0


@pytest.mark.parametrize("every", [1, 3, 64])
def test_buffered_updates_give_the_metrics_of_per_step_updates(every):
    generator = torch.Generator().manual_seed(0)
    direct, buffered = MulticlassAccuracy(10, average="micro"), MulticlassAccuracy(10, average="micro")
    direct_loss, buffered_loss = MeanMetric(), MeanMetric()
    predictions, losses = BufferedUpdates(buffered, every), BufferedUpdates(buffered_loss, every)
    for size in (64, 64, 17, 64, 5):
        logits, labels = torch.randn(size, 10, generator=generator), torch.randint(0, 10, (size,), generator=generator)
        loss = torch.rand((), generator=generator)
        direct.update(logits, labels)
        direct_loss.update(loss, weight=size)
        predictions.add(logits.argmax(dim=1), labels)
        losses.add(loss, weight=size)
    predictions.flush()
    losses.flush()
    assert buffered.compute() == direct.compute()
    assert buffered_loss.compute() == pytest.approx(float(direct_loss.compute()), rel=1e-6)


def test_buffered_updates_flush_nothing_after_clear():
    metric = MeanMetric()
    updates = BufferedUpdates(metric, every=10)
    updates.add(torch.tensor(5.0), weight=1)
    updates.clear()
    updates.flush()
    updates.add(torch.tensor(1.0), weight=2)
    updates.flush()
    assert float(metric.compute()) == 1.0


class LogsItsBatch(Tiny):
    def training_step(self, batch, batch_idx):
        self.log("batch", float(batch_idx), prog_bar=True)
        return super().training_step(batch, batch_idx)


class RecordedBar(RichProgressBar):
    """Records each update of the training bar: (its count, the values it shows)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shown: list[tuple[int, dict]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._recording = True
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._recording = False

    def _update(self, progress_bar_id, current, visible=True, hard=False) -> None:
        super()._update(progress_bar_id, current, visible, hard)
        if getattr(self, "_recording", False):
            self.shown.append((current, dict(self.get_metrics(self.trainer, self.trainer.lightning_module))))


def test_the_progress_bar_ends_each_epoch_on_its_last_batch_and_values():
    """The bar moves at its redraw rate, not every batch, but an epoch's last batch always shows its count and values."""
    data = torch.utils.data.TensorDataset(torch.randn(28, 4), torch.randint(0, 2, (28,)))
    bar = RecordedBar(refresh_rate=1)
    trainer = L.Trainer(max_epochs=2, callbacks=[bar], logger=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(LogsItsBatch(), torch.utils.data.DataLoader(data, batch_size=4))
    ends = [(count, shown["batch"]) for count, shown in bar.shown if count == 7]
    assert ends == [(7, 6.0), (7, 6.0)]  # each epoch's 7th batch, with the value it logged
    assert bar.shown[0][0] == 1  # the first batch of a run is shown at once


def test_prediction_grid_captions_right_in_green_and_wrong_in_red():
    images = torch.zeros(3, 1, 28, 28)
    grid = prediction_grid(images, torch.tensor([1, 2, 0]), torch.tensor([1, 0, 0]), ["zero", "one", "two"], columns=2)
    assert grid.dtype == torch.uint8 and grid.shape[0] == 3
    corner = lambda x, y: tuple(grid[:, y, x].tolist())  # noqa: E731  # a caption's top-left pixel
    width = (grid.shape[2] - 2) // 2 - 2
    height = (grid.shape[1] - 2) // 2 - 2
    assert corner(2, 2) == RIGHT and corner(2 + width + 2, 2) == WRONG and corner(2, 2 + height + 2) == RIGHT
    assert tuple(grid[:, 2 + CAPTION_HEIGHT + 1, 3].tolist()) == (0, 0, 0)  # the (black) image under the caption


def test_a_deferred_finite_check_still_stops_before_saving_a_nan(make_cfg, monkeypatch):
    """On a GPU the losses' verdicts are read on logged steps, at epoch ends and before checkpoints;
    forced here on the CPU: the run stops, last.ckpt stays the last good epoch's."""
    from pathlib import Path

    from zoo.checkpoint import read_checkpoint
    from zoo.errors import NonFiniteLossError
    from zoo.tasks.base import Task
    from zoo.training import train

    monkeypatch.setattr(Task, "defers_finite_check", lambda self, loss: True)
    cfg = make_cfg("trainer.max_epochs=3", "+callbacks.poison._target_=tests.helpers.PoisonWeightsAtStep",
                   "+callbacks.poison.step=50", "callbacks.prediction_grid=null", "trainer.log_every_n_steps=1000")  # fmt: skip
    with pytest.raises(NonFiniteLossError, match=r"loss became nan or inf at epoch 1, between steps \d+ and \d+.*last good checkpoint stays"):
        train(cfg)
    last = read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 0 and all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_a_failed_run_leaves_the_thread_count_as_it_found_it(make_cfg):
    """word2vec's kernel trains with torch on one thread; a run that fails must not leave it so (thread
    counts change numerics, so later runs in the process would compute differently)."""
    from zoo.training import train

    class OneThreadThenFail(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            torch.set_num_threads(1)
            if batch_idx == 2:
                raise RuntimeError("stop here")

    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="stop here"):
        train(make_cfg("trainer.max_epochs=1", "callbacks.prediction_grid=null"), extra_callbacks=[OneThreadThenFail()])
    assert torch.get_num_threads() == threads


def test_histograms_read_back_with_tensorboards_reader(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from zoo.callbacks.tensorboard import write_histogram

    values = torch.tensor([-2.0, -1.0, 0.0, 0.5, 3.0, float("nan")])
    writer = SummaryWriter(str(tmp_path))
    write_histogram(writer, "weights/w", values, 7, bins=5)
    write_histogram(writer, "weights/constant", torch.full((4,), 0.25), 7)
    write_histogram(writer, "weights/all_nan", torch.full((4,), float("nan")), 7)
    writer.close()
    events = EventAccumulator(str(tmp_path)).Reload()
    assert sorted(events.Tags()["histograms"]) == ["weights/constant", "weights/w"]
    (event,) = events.Histograms("weights/w")
    histogram = event.histogram_value
    assert event.step == 7 and (histogram.min, histogram.max, histogram.num) == (-2.0, 3.0, 5)
    assert histogram.sum == pytest.approx(0.5) and histogram.sum_squares == pytest.approx(14.25)
    assert sum(histogram.bucket) == 5 and histogram.bucket_limit[-1] == pytest.approx(3.0)
    assert events.Histograms("weights/constant")[0].histogram_value.num == 4
