"""Published weights kept off the repository: catalogue entries with a ``url``.

An entry of ``weights/index.json`` may carry ``"url"`` (an https:// or file:// address) beside its
``file``, ``bytes`` and ``sha256``. Its file then lives in the torch hub cache,
``<torch.hub.get_dir()>/checkpoints/zoo/<file>`` (``$TORCH_HOME/hub/checkpoints/zoo/`` by default):
the first ``zoo.load`` downloads it there once, with a progress bar, and every load checks its size
and sha256 against the entry. A download goes to a temporary file beside the cached name and is
renamed to it only once its size and sha256 match, so the cache never holds a half-written or
unverified file under that name. Errors are one ``CatalogueError`` line: an unreachable URL names the
path where the file can be put by hand; a cached file that does not match is left alone (it may be a
copy the user put there) and the message says to delete it, after which the next load downloads it again.

``offload(name, url)`` records the URL in an entry, for publishing a built weight off the repository.
"""

from __future__ import annotations

import errno
import http.client
import os
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

import torch

from zoo import catalogue
from zoo.atomic import TEMPORARY, _process_alive, remove_stale_temporaries
from zoo.catalogue import CatalogueError, mismatch, write_index
from zoo.errors import first_line

#: What a failed download raises: network and file errors (``URLError``, ``HTTPError`` and socket
#: timeouts are ``OSError``), a malformed URL (``ValueError``), a broken HTTP response.
DOWNLOAD_ERRORS = (OSError, ValueError, http.client.HTTPException)
#: Errors that come from writing into the cache rather than from the URL.
WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM}


def cache_dir() -> Path:
    """The folder of downloaded zoo weights: ``<torch.hub.get_dir()>/checkpoints/zoo`` (read at call time)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "zoo"


def cache_path(entry: dict[str, Any]) -> Path:
    """Where the file of a URL entry is kept once downloaded (or where a user may put it by hand)."""
    return cache_dir() / entry["file"]


def cached_file(name: str, entry: dict[str, Any]) -> Path:
    """The checked local copy of URL entry ``name``: the cached file, downloaded first if absent.

    A cached file that does not match the entry is refused in one line saying to delete it (it is
    not deleted here: it may be a copy the user put there by hand, and a mismatch is worth seeing)."""
    path = cache_path(entry)
    if path.is_file():
        problem = mismatch(path, entry)
        if problem:
            raise CatalogueError(f"{path} does not match the catalogue ({problem}): it was changed or truncated;"
                                 f" delete it and load {name} again to download it from {entry['url']}")  # fmt: skip
        return path
    return download(name, entry, path)


def download(name: str, entry: dict[str, Any], path: Path) -> Path:
    """Download ``entry["url"]`` to ``path`` through a temporary file renamed into place once checked."""
    url = entry["url"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CatalogueError(f"cannot create the weights cache {path.parent} ({first_line(error)}):"
                             " set TORCH_HOME to a writable folder") from None  # fmt: skip
    remove_stale_downloads(path.parent)
    staging = path.parent / f".{path.name}.{threading.get_ident()}.{os.getpid()}.tmp"
    print(f"Downloading {url} to {path}", file=sys.stderr)
    try:
        try:
            torch.hub.download_url_to_file(url, str(staging), hash_prefix=None, progress=True)
        except DOWNLOAD_ERRORS as error:
            raise download_error(url, entry, path, error) from None
        problem = mismatch(staging, entry)
        if problem:
            raise CatalogueError(f"the download of {url} does not match the catalogue ({problem}): the file at that"
                                 f" URL is not the one published as {name}; tell its publisher, or put the right"
                                 f" file by hand at {path} (sha256 {entry['sha256']})")  # fmt: skip
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def download_error(url: str, entry: dict[str, Any], path: Path, error: BaseException) -> CatalogueError:
    """The one-line error of a failed download: the cache cannot be written, or the URL cannot be read."""
    if isinstance(error, OSError) and not isinstance(error, URLError) and error.errno in WRITE_ERRNOS:
        return CatalogueError(f"cannot write the download of {url} into {path.parent} ({first_line(error)}):"
                              " free space there or set TORCH_HOME to a writable folder")  # fmt: skip
    return CatalogueError(f"cannot download {url} ({reason(error)}): download it by hand to {path}"
                          f" (sha256 {entry['sha256']}) or check the network")  # fmt: skip


def reason(error: BaseException) -> str:
    """A short one-line reason for a failed download (``HTTP 404 Not Found``, ``[Errno 111] Connection refused``)."""
    if isinstance(error, HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, URLError):
        cause = error.reason
        return first_line(cause) if isinstance(cause, BaseException) else " ".join(str(cause).split())
    return first_line(error)


def remove_stale_downloads(folder: Path) -> None:
    """Remove the temporary files that killed downloads left in ``folder``: ours (``.<file>.<thread>.<pid>.tmp``)
    and torch's (the same name followed by ``.<hex>.partial``), when their process is gone."""
    remove_stale_temporaries(folder)
    for partial in folder.glob(".*.tmp.*.partial"):
        match = TEMPORARY.match(partial.name.rsplit(".", 2)[0])
        if match and int(match["pid"]) != os.getpid() and not _process_alive(int(match["pid"])):
            partial.unlink(missing_ok=True)


def offload(name: str, url: str) -> dict[str, Any]:
    """Publish entry ``name`` (``<model>.<tag>``) off the repository: record ``url`` in ``weights/index.json``.

    Then upload ``weights/<file>`` to ``url``, check that a load fetches it (move your cached copy
    away first: ``zoo.load(model, weights=tag)`` downloads it into the torch hub cache and checks its
    sha256), and delete the repository copy. The entry keeps its size and sha256, so a load refuses
    any other file. ``url`` must be https:// (or file:// for a shared disk); returns the new entry."""
    entries = catalogue.index()
    if name not in entries:
        published = ", ".join(sorted(entries)) or "none"
        raise CatalogueError(f"no published weights {name!r} to offload (published: {published}): build it first"
                             f" with python -m zoo.weights build {name}")  # fmt: skip
    parsed = urlparse(url)
    https, file = parsed.scheme == "https" and parsed.netloc, parsed.scheme == "file" and parsed.path.startswith("/")
    if not (https or file):
        raise CatalogueError(f"{url!r} is not an https:// or absolute file:// URL: give the address {name}'s file"
                             " will be downloaded from")  # fmt: skip
    entry = entries[name]
    local = catalogue.WEIGHTS_DIR / entry["file"]
    problem = mismatch(local, entry) if local.is_file() else None
    if problem:
        raise CatalogueError(f"{local} does not match the catalogue ({problem}): restore or rebuild it"
                             f" (python -m zoo.weights build {name}) before uploading it")  # fmt: skip
    entries[name] = {**entry, "url": url}
    write_index(entries)
    return entries[name]
