"""zoo.allocator: freed memory stays in the process, so a step's large tensors come back without page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

import zoo.training
from tests.conftest import ROOT

FAULTS_OF_A_REALLOCATION = """
import resource, sys, torch
sys.path.insert(0, {root!r})
if {keep}:
    from zoo.allocator import keep_freed_memory
    assert keep_freed_memory()
for step in range(3):  # a training step's large tensor, allocated, written and freed each time
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(64 * 2**20 // 4)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)
"""


def faults_of_the_third_step(keep: bool) -> int:
    code = FAULTS_OF_A_REALLOCATION.format(root=str(ROOT), keep=keep)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_64_mib_tensor_comes_back_without_page_faults():
    pages = 64 * 2**20 // 4096
    assert faults_of_the_third_step(keep=False) > pages // 2  # glibc maps it afresh every time
    assert faults_of_the_third_step(keep=True) < pages // 100


@pytest.mark.parametrize("setting,calls", [("true", 1), ("false", 0)])
def test_train_keeps_freed_memory_unless_told_not_to(make_cfg, monkeypatch, setting, calls):
    called = []
    monkeypatch.setattr(zoo.training, "keep_freed_memory", lambda: called.append(True))
    zoo.training.train(make_cfg("debug=fast", f"keep_freed_memory={setting}", "test=false"))
    assert len(called) == calls
