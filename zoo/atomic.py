"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half of one.

The bytes go to a temporary file in the target's own folder (so the final rename never crosses a
file system), are flushed and fsynced, then renamed over the target, and the folder is fsynced so
the rename survives a power cut. Where Linux allows it the temporary file is anonymous
(``O_TMPFILE``): a process killed while writing leaves nothing behind. Elsewhere it is a named
``.<name>.<pid>.tmp`` file, and the next write into that folder removes those of dead processes.
(Naming an anonymous file needs ``linkat``'s ``AT_EMPTY_PATH``, or ``/proc``.) The file gets the permissions a plain ``open(path, "w")`` would give (0666 less the umask).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Any, Callable


TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot fsync a folder
    finally:
        os.close(descriptor)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the named temporary files that killed writers left in ``folder``."""
    for entry in folder.glob(".*.tmp"):
        match = TEMPORARY.match(entry.name)
        if match and int(match["pid"]) != os.getpid() and not _process_alive(int(match["pid"])):
            entry.unlink(missing_ok=True)


def _link_descriptor(descriptor: int, target: Path) -> bool:
    """Give the anonymous file open as ``descriptor`` the name ``target``: ``linkat`` with
    ``AT_EMPTY_PATH``, else through ``/proc/self/fd``. False where neither is allowed."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, at_empty_path = -100, 0x1000
        if libc.linkat(descriptor, b"", at_fdcwd, os.fsencode(target), at_empty_path) == 0:
            return True
    except (OSError, AttributeError):
        pass
    try:
        os.link(f"/proc/self/fd/{descriptor}", target, follow_symlinks=True)
        return True
    except OSError:
        return False


def _write_anonymous(path: Path, write: Callable[[Any], None]) -> bool:
    """Write through an O_TMPFILE file linked in at the end; False where the system has none."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return False
    try:
        descriptor = os.open(path.parent, flag | os.O_WRONLY, 0o666)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EACCES):
            return False
        raise
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    with os.fdopen(descriptor, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
        os.fchmod(handle.fileno(), 0o666 & ~_umask())
        if not _link_descriptor(handle.fileno(), temporary):
            return False  # the file cannot be named here: write a named one instead
    os.replace(temporary, path)
    return True


def atomic_write(path: str | Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(binary_file)`` and put the result at ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    if not _write_anonymous(path, write):
        temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
        try:
            with open(temporary, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
