"""Reader for the IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/), gzipped or not."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from zoo.errors import DataFileError, first_line

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


GZIP_MAX_RATIO = 1100  # deflate expands data at most ~1032 times: a header promising more is corrupt
REDOWNLOAD = "delete it and download it again"


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (``.gz`` or plain) into a tensor of its stored shape and type.

    The header is checked against the file's size before the data is read, so a corrupt header never
    allocates more than the file can hold; every bad file ends in a one-line ``DataFileError``."""
    path = Path(path)
    compressed = path.suffix == ".gz"
    try:
        limit = path.stat().st_size * (GZIP_MAX_RATIO if compressed else 1)
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as handle:
            dtype, shape, data = _read_checked(handle, path, limit)
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(f"{path} is not a readable IDX file ({first_line(error)}); {REDOWNLOAD}") from None
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def _read_checked(handle: BinaryIO, path: Path, limit: int) -> tuple[np.dtype, tuple[int, ...], bytearray]:
    """The dtype, shape and data bytes of an open IDX file, each checked before the next is read."""
    magic = handle.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _DTYPES or magic[3] == 0:
        hint = " (it is gzipped: name it .gz)" if magic[:2] == b"\x1f\x8b" else ""
        raise DataFileError(f"{path} is not an IDX file (bad magic number){hint}; {REDOWNLOAD}")
    ndim, dtype = magic[3], np.dtype(_DTYPES[magic[2]])
    dims = handle.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataFileError(f"{path} ends inside its header: the file is truncated; {REDOWNLOAD}")
    shape = struct.unpack(f">{ndim}i", dims)
    if min(shape) < 0:
        raise DataFileError(f"{path} declares a negative dimension {shape}: the file is corrupt; {REDOWNLOAD}")
    header = 4 + 4 * ndim
    expected = header + math.prod(shape) * dtype.itemsize
    if expected > limit:
        raise DataFileError(
            f"{path}'s header promises {expected} bytes, more than the file can hold ({limit}): it is truncated or"
            f" corrupt; {REDOWNLOAD}"
        )
    data = _read_up_to(handle, expected - header + 1)
    if len(data) != expected - header:
        size = f"{header + len(data)}" if len(data) < expected - header else f"more than {expected}"
        raise DataFileError(
            f"{path} holds {size} bytes but its header promises {expected}: the file is truncated or corrupt; {REDOWNLOAD}"
        )
    return dtype, shape, data


def _read_up_to(handle: BinaryIO, count: int, chunk: int = 1 << 24) -> bytearray:
    """At most ``count`` bytes, read in chunks (a buffered ``read(count)`` would reserve ``count`` bytes at once)."""
    data = bytearray()
    while len(data) < count:
        part = handle.read(min(count - len(data), chunk))
        if not part:
            break
        data += part
    return data
