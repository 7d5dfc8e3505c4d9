"""Keep freed memory in the process on Linux (glibc), so that the next training step reuses it.

glibc's malloc hands large blocks (from 128 KiB, its threshold growing up to 32 MiB as it goes) to
the kernel with ``mmap`` and returns them on ``free``; the heap is trimmed too. A training step
allocates and frees the same large tensors every time, so a block above the threshold is mapped in
afresh, page by page, on every step: a 64 MiB tensor costs 16,384 page faults each time by default
and none with this setting once the process has settled (benchmarks/allocator_page_faults.py).
Settling takes a few steps on glibc before 2.39: PyTorch allocates with ``posix_memalign``, whose
slack goes to glibc's small-chunk caches, where it keeps the freed block from merging with its
neighbours, and alone the block is too small for the next aligned request of its size (glibc bug
30723). On glibc 2.36 a loop of 64 MiB tensors took 1 to 7 more blocks before it reused them (1
after importing zoo.training), so a repeated tensor held up to 8 times its size. WikiText-2's
word model meets this: its logits for one batch (700 tokens by 33,278 words) are 93 MB. PyTorch's
CPU performance guide answers this with tcmalloc or jemalloc through ``LD_PRELOAD``; raising glibc's
own mmap and trim thresholds (``mallopt``) does the same without a dependency. The price: memory the
run freed stays with the process (its peak) until it ends. ``keep_freed_memory: false`` in the
config turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
THRESHOLD = 2**31 - 1  # mallopt's largest (an int): blocks up to 2 GiB come from the heap and stay there


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; ``False`` where there is no glibc
    (macOS, Windows, musl) or it refuses. Safe to call more than once."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
    if not done:
        log.debug("glibc refused the mmap/trim thresholds; freed memory goes back to the kernel")
    return done
