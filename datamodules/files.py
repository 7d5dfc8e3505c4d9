"""Data modules backed by official files: find them under the data root where they lie (nothing
is written beside them), download them with torchvision's own code only when missing, and fail
offline with one line that names the folder looked in."""

from __future__ import annotations

import os
from pathlib import Path

from datamodules.in_memory import InMemoryImageDataModule
from zoo.errors import DatasetNotFoundError, first_line


def default_root() -> Path:
    """``$ZOO_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get("ZOO_DATA_DIR") or "data")


class FileDataModule(InMemoryImageDataModule):
    """Base class for data sets read from files under ``root``.

    Subclasses set ``folder`` (torchvision's folder name under the root), ``files`` (the names
    needed), ``torchvision_class`` (whose ``download=True`` fetches them) and implement
    ``load_arrays`` on the paths ``locate_files`` returns.
    """

    folder: str = ""
    extra_folders: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    compressed_suffixes: tuple[str, ...] = ()
    torchvision_class: type | None = None

    def __init__(self, root: str | Path | None = None, download: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = Path(root) if root else default_root()
        self.download = download

    def candidate_folders(self) -> list[Path]:
        base = [self.root / self.folder / "raw", self.root / self.folder, self.root]
        return base + [Path(folder) for folder in self.extra_folders]

    def find_files(self, folders: list[Path]) -> dict[str, Path] | None:
        """The first folder holding every file (each also accepted with a compressed suffix)."""
        for folder in folders:
            found = {}
            for name in self.files:
                existing = [folder / f"{name}{suffix}" for suffix in ("", *self.compressed_suffixes)]
                existing = [path for path in existing if path.is_file()]
                if existing:
                    found[name] = existing[0]
            if len(found) == len(self.files):
                return found
        return None

    def locate_files(self) -> dict[str, Path]:
        folders = self.candidate_folders()
        files = self.find_files(folders)
        if files is None and self.download:
            self._download()
            files = self.find_files(folders)
        if files is None:
            looked = ", ".join(str(folder) for folder in folders[:2])
            raise DatasetNotFoundError(
                f"{self.folder} files ({', '.join(self.files)}) not found in {looked}"
                f"{' and download is off' if not self.download else ''}: put them in {folders[0]},"
                f" or point data.root (or $ZOO_DATA_DIR) at a folder holding {self.folder}/"
            )
        return files

    def _download(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for train in (True, False):
                self.torchvision_class(root=str(self.root), train=train, download=True)
        except Exception as error:  # offline, a proxy, a read-only root: all end the same way
            raise DatasetNotFoundError(
                f"{self.folder} is not under {self.root} and could not be downloaded ({first_line(error)}):"
                f" copy the official files to {self.candidate_folders()[0]}, or set data.root"
                f" (or $ZOO_DATA_DIR) to a folder holding {self.folder}/"
            ) from None
