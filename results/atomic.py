"""Atomic file writes shared by checkpoints, feature caches and result records.

The content goes to a temp file in the destination folder, is fsynced, renamed over the final name and the folder is
fsynced: readers see the old file or the new one, never a mix, and a failure leaves no temp or partial file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on some platforms / file systems
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write via ``write(fileobj)`` (binary) to a temp file beside ``path``, then rename it over ``path``.

    On any failure the temp file is removed, ``path`` is untouched, and the exception propagates.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
