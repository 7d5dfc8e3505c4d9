"""A checkpoint's ``data_info`` record, read once into its typed info (``datamodules.info``)."""

from __future__ import annotations

from typing import Any, Mapping

from datamodules.info import DataInfo, info_from_dict
from zoo.errors import CheckpointError, first_line


def read_data_info(config: Mapping[str, Any], kinds: tuple[type[DataInfo], ...], reader: str) -> DataInfo:
    """``config["data_info"]`` as one of ``kinds`` (``ImageInfo``, ``AudioInfo``, ...), also from the records
    older zoo versions wrote; a one-line ``CheckpointError`` naming what ``reader`` (the object being
    built from it) takes when the record is unreadable or describes another kind of data."""
    try:
        info = info_from_dict(config["data_info"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"the settings' data_info cannot be read ({first_line(error)}): the file is corrupt or was edited"
        ) from None
    if not isinstance(info, kinds):
        wanted = " or ".join(kind.modality for kind in kinds)
        described = f"{info.modality} data ({info.name!r})"
        raise CheckpointError(f"a {reader} takes {wanted} data, but data_info describes {described}")
    return info
