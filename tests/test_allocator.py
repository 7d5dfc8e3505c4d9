"""zoo.allocator: freed memory stays in the process, where the next allocations of its size reuse it.

Each check runs in a fresh process (the setting is process-wide) that loads zoo/allocator.py alone.
Which step of a loop of torch tensors first reuses the freed block is not fixed (glibc's aligned
allocations, see zoo/allocator.py): benchmarks/allocator_page_faults.py measures it; these tests
assert only what glibc's code guarantees.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

import zoo.training
from tests.conftest import ROOT

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
MIB_64 = 64 * 2**20
PAGES = MIB_64 // 4096

SETTING = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("allocator", {path!r})
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
if {keep}:
    assert allocator.keep_freed_memory() is True, "glibc refused the thresholds"
    assert allocator.keep_freed_memory() is True, "a second call failed"
"""

MEMORY_GIVEN_BACK_BY_A_FREED_TENSOR = """
import os, torch
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
tensor = torch.ones({size} // 4)  # written: every page resident
held = resident()
del tensor
print(held - resident())
"""

FAULTS_OF_A_REALLOCATION = """
import ctypes, resource
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
for step in range(2):  # a step's large block, allocated, written and freed, then the next step's
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc({size})
    ctypes.memset(block, 1, {size})
    libc.free(block)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults)
"""


def run_in_a_fresh_process(code: str, keep: bool) -> int:
    setting = SETTING.format(path=str(ROOT / "zoo" / "allocator.py"), keep=keep)
    command = [sys.executable, "-c", setting + code.format(size=MIB_64)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.split()[-1])


def transparent_huge_pages_always() -> bool:
    """The kernel maps anonymous memory in 2 MiB pages: a fresh 64 MiB block costs tens of faults, not 16,384."""
    settings = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return settings.is_file() and "[always]" in settings.read_text()


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_a_freed_64_mib_tensor_stays_in_the_process():
    # glibc's default maps a block this size apart (its mmap threshold is at most 32 MiB) and unmaps it on free
    assert run_in_a_fresh_process(MEMORY_GIVEN_BACK_BY_A_FREED_TENSOR, keep=False) > MIB_64 // 2
    # with the setting it comes from the heap, which is never trimmed: its pages stay resident for the next step
    assert run_in_a_fresh_process(MEMORY_GIVEN_BACK_BY_A_FREED_TENSOR, keep=True) < MIB_64 // 100


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
@pytest.mark.skipif(transparent_huge_pages_always(), reason="huge pages: a fresh block costs few faults either way")
def test_a_freed_64_mib_block_comes_back_without_page_faults():
    assert run_in_a_fresh_process(FAULTS_OF_A_REALLOCATION, keep=False) > PAGES // 2  # mapped in afresh every time
    # the freed block is an exact fit for the next request: the same pages, already mapped
    assert run_in_a_fresh_process(FAULTS_OF_A_REALLOCATION, keep=True) < PAGES // 100


@pytest.mark.parametrize("setting,calls", [("true", 1), ("false", 0)])
def test_train_keeps_freed_memory_unless_told_not_to(make_cfg, monkeypatch, setting, calls):
    called = []
    monkeypatch.setattr(zoo.training, "keep_freed_memory", lambda: called.append(True))
    zoo.training.train(make_cfg("debug=fast", f"keep_freed_memory={setting}", "test=false"))
    assert len(called) == calls
