"""Page faults of a training step's large tensor, freed and allocated again, with and without
``keep_freed_memory`` (zoo/allocator.py), each repetition in a fresh process.

    python benchmarks/allocator_page_faults.py [--repeats 30] [--steps 12] [--mib 64] [--import-zoo] [--malloc]

Each step allocates a tensor of ``--mib`` MiB (``torch.ones``: written, so every page is touched)
and frees it, as a training step does with its activations or logits, and counts the process's
minor page faults (pages the kernel maps in). Prints, for every step, the median faults and their
range over the repetitions, and how many repetitions took a fresh block there (more than half the
tensor's pages faulted in).

Why this is a benchmark and not a test: glibc's default maps a block this size in afresh on every
step (``mmap``, 16,384 faults for 64 MiB), and with the setting the block comes from the heap and
stays there, but when the freed block is first reused is not fixed. PyTorch allocates with
``posix_memalign`` (64-byte alignment), and glibc before 2.39 serves an aligned request by asking
for ``size + alignment + 32`` bytes and freeing the slack before and after the block through the
per-thread cache (tcache) or the fastbins, where it counts as in use (glibc bug 30723, "Enable
merging of remainders in memalign"). The freed block alone is too small for the next request of the
same size; it is reused only once it merges with its neighbours: when the slack went past a full
tcache bin (7 chunks) to the fastbins, which the next large request consolidates, and not while it
sits in the tcache or a small allocation holds it. So the number of extra blocks a process takes
before it settles depends on how full those caches happen to be, which varies from one process to
the next and with what it imported. On glibc 2.36 with torch 2.14, 30 processes per setting, 12
steps: with torch alone, each took 2 to 7 more 64 MiB blocks (median 5), the last on the 3rd to the
9th step, and none after; after importing zoo.training (``--import-zoo``, as train.py and the test
that used to assert on the 3rd step did) each took exactly one more, on the 2nd step (22) or the 3rd
(8): the 3rd-step assertion failed 7 runs in 30. A loop of bare ``posix_memalign`` calls took 7
more, one a step, until the tcache bin was full. ``--malloc`` uses plain ``malloc``, whose freed
block is an exact fit for the next request: reused from the 2nd step on in every run
(tests/test_allocator.py asserts that).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEPS = """
import ctypes, importlib.util, resource, sys
size, steps = {size}, {steps}
if {import_zoo}:
    sys.path.insert(0, {root!r})
    import zoo.training
if {keep}:  # zoo/allocator.py alone, so that both settings import the same modules
    spec = importlib.util.spec_from_file_location("allocator", {path!r})
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)
    assert allocator.keep_freed_memory(), "glibc refused the thresholds"
if {malloc}:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    def step():
        pointer = libc.malloc(size)
        ctypes.memset(pointer, 1, size)
        libc.free(pointer)
else:
    import torch
    def step():
        torch.ones(size // 4)
faults = []
for _ in range(steps):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


def faults_of_one_process(keep: bool, size: int, steps: int, malloc: bool, import_zoo: bool) -> list[int]:
    """The minor page faults of each step of a fresh process."""
    code = STEPS.format(path=str(ROOT / "zoo" / "allocator.py"), root=str(ROOT), size=size, steps=steps, keep=keep,
                        malloc=malloc, import_zoo=import_zoo)  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return [int(word) for word in result.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="fresh processes for each setting")
    parser.add_argument("--steps", type=int, default=12, help="allocations of the tensor in each process")
    parser.add_argument("--mib", type=int, default=64, help="the tensor's size")
    parser.add_argument("--malloc", action="store_true", help="plain malloc/free instead of torch's posix_memalign")
    parser.add_argument("--import-zoo", action="store_true", help="import zoo.training first, as train.py does")
    args = parser.parse_args()
    size = args.mib * 2**20
    pages = size // 4096
    runs = {keep: [] for keep in (False, True)}
    for _ in range(args.repeats):  # the two settings alternate, so a slow spell of the host hits both
        for keep in runs:
            runs[keep].append(faults_of_one_process(keep, size, args.steps, args.malloc, args.import_zoo))

    what = f"{'malloc' if args.malloc else 'torch.ones'} of {args.mib} MiB ({pages:,} pages)"
    what += ", after importing zoo.training" if args.import_zoo else ""
    print(f"{what}, {args.steps} steps, {args.repeats} fresh processes a setting;"
          " minor page faults of each step: median [min-max],\nand the processes that took a fresh block there\n")
    print("| step | glibc's default | fresh | keep_freed_memory | fresh |\n|---:|---:|---:|---:|---:|")
    for step in range(args.steps):
        cells = []
        for keep in runs:
            faults = [run[step] for run in runs[keep]]
            fresh = sum(count > pages // 2 for count in faults)
            cells += [f"{statistics.median(faults):,.0f} [{min(faults):,}-{max(faults):,}]", f"{fresh}/{args.repeats}"]
        print(f"| {step + 1} | " + " | ".join(cells) + " |")
    for keep in runs:
        blocks = [sum(count > pages // 2 for count in run[1:]) for run in runs[keep]]
        last = [max((i + 1 for i, count in enumerate(run) if count > pages // 2), default=0) for run in runs[keep]]
        label = "keep_freed_memory" if keep else "glibc's default"
        print(f"\n{label}: fresh blocks after the first step: median {statistics.median(blocks):g},"
              f" range {min(blocks)}-{max(blocks)}; the last step that took one: median {statistics.median(last):g},"
              f" range {min(last)}-{max(last)}")


if __name__ == "__main__":
    main()
