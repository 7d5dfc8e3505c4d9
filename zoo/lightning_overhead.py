"""Lightning's fixed cost per training step, made smaller without changing what it does.

On a small model (LeNet-5, batch 64, 2 CPU cores: ~4 ms a step) Lightning's own bookkeeping was a
tenth of the step (``benchmarks/step_overhead.py``). Three parts of it grow with the run's callbacks
and hooks and do no work in a run that is not being profiled:

- every hook of every callback is called on every batch, Lightning's no-op defaults included
  (~2 us each: a profiler context and a formatted ``state_key`` per call; six per-step hooks times a
  dozen callbacks is ~0.15 ms). ``skip_default_callback_hooks`` calls only the hooks a callback
  overrides, in the same order with the same arguments;
- the default ``PassThroughProfiler`` builds a generator-based context per hook call (~0.8 us, ~100
  a step): ``NoProfiler`` returns one shared ``nullcontext``;
- ``LightningModule._current_fx_name`` is set around every hook through ``nn.Module.__setattr__``
  (~1.2 us, ~50 a step): ``zoo.tasks.base.Task.__setattr__`` sets it directly.

Outside Lightning, a CUDA build of torch on a machine without a GPU asks NVML for the device count
on every Adam step (``Optimizer._accelerator_graph_capture_health_check``): ~0.15 ms, a dlopen of a
library that is not there, each time. ``remember_no_cuda_devices`` records the count of 0 once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from typing import Any, Callable

import lightning as L
from lightning.pytorch.callbacks import Callback, Checkpoint, EarlyStopping
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call

_NULL = contextlib.nullcontext()
_LIGHTNING_DISPATCH: Callable[..., None] = call._call_callback_hooks
_EXPECTED_PARAMETERS = ["trainer", "hook_name", "args", "monitoring_callbacks", "kwargs"]
# per trainer and hook: (the callback list it was worked out for, the callbacks overriding the hook)
_OVERRIDING: weakref.WeakKeyDictionary[L.Trainer, dict[str, tuple[tuple, list[Callback]]]] = weakref.WeakKeyDictionary()


class NoProfiler(PassThroughProfiler):
    """Lightning's default profiler (records nothing), without building a context per hook call."""

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:  # type: ignore[override]
        return _NULL


@functools.cache
def _class_overrides(cls: type, hook_name: str) -> bool:
    default = getattr(Callback, hook_name, None)
    return default is None or getattr(cls, hook_name, None) is not default


def overrides(callback: Callback, hook_name: str) -> bool:
    """Whether ``callback`` defines ``hook_name`` itself (its class or the instance) rather than
    inheriting ``Callback``'s no-op."""
    return _class_overrides(type(callback), hook_name) or hook_name in getattr(callback, "__dict__", {})


def _overriding(trainer: L.Trainer, callbacks: list[Callback], hook_name: str) -> list[Callback]:
    """The callbacks in ``callbacks`` that override ``hook_name``, remembered per trainer while its list stays the same."""
    key = tuple(callbacks)
    cache = _OVERRIDING.setdefault(trainer, {})
    known = cache.get(hook_name)
    if known is None or known[0] != key:
        known = cache[hook_name] = (key, [callback for callback in callbacks if overrides(callback, hook_name)])
    return known[1]


def _call_overridden_callback_hooks(
    trainer: L.Trainer, hook_name: str, *args: Any, monitoring_callbacks: bool | None = None, **kwargs: Any
) -> None:
    """Lightning's ``_call_callback_hooks`` (lightning 2.6), skipping the hooks a callback does not override."""
    pl_module = trainer.lightning_module
    if pl_module:
        prev_fx_name = pl_module._current_fx_name
        pl_module._current_fx_name = hook_name
    callbacks = trainer.callbacks
    if monitoring_callbacks is True:
        callbacks = [cb for cb in callbacks if isinstance(cb, (EarlyStopping, Checkpoint))]
    elif monitoring_callbacks is False:
        callbacks = [cb for cb in callbacks if not isinstance(cb, (EarlyStopping, Checkpoint))]
    profiled = not isinstance(trainer.profiler, PassThroughProfiler)
    for callback in _overriding(trainer, callbacks, hook_name):
        fn = getattr(callback, hook_name)
        if callable(fn):
            context = trainer.profiler.profile(f"[Callback]{callback.state_key}.{hook_name}") if profiled else _NULL
            with context:
                fn(trainer, trainer.lightning_module, *args, **kwargs)
    if pl_module:
        pl_module._current_fx_name = prev_fx_name


def skip_default_callback_hooks() -> bool:
    """Install the dispatch above in place of Lightning's; returns whether it is in place. Leaves
    Lightning's own when its signature is not the one this was written against (another version)."""
    if call._call_callback_hooks is _call_overridden_callback_hooks:
        return True
    if list(inspect.signature(_LIGHTNING_DISPATCH).parameters) != _EXPECTED_PARAMETERS:
        return False
    call._call_callback_hooks = _call_overridden_callback_hooks
    return True


def remember_no_cuda_devices() -> bool:
    """On a CUDA build of torch where CUDA sees no device (no driver, no GPU), record the device count
    of 0 as torch itself does once CUDA is initialised, so ``torch.cuda.device_count()`` stops asking
    NVML on every optimizer step. Returns whether it did. Where a device is visible it does nothing."""
    import torch

    if not torch.cuda._is_compiled() or torch.cuda._cached_device_count is not None:
        return False
    if torch._C._cuda_getDeviceCount() > 0:
        return False
    torch.cuda._cached_device_count = 0
    return True
