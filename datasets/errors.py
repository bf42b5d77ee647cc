"""Errors raised by the data layer. Each names the offending file and says how to fix it."""

from __future__ import annotations


class DatasetError(RuntimeError):
    """Base class for every data-layer error."""


class LayoutError(DatasetError):
    """The dataset root does not have the expected official layout."""


class SplitFileError(DatasetError):
    """A split file is malformed: carries the file name and the 1-based line number."""

    def __init__(self, path, lineno: int | None, message: str):
        where = f"{path}:{lineno}" if lineno is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.lineno = lineno


class MissingVideoError(DatasetError):
    """A video listed in a split file does not exist on disk."""


class VideoDecodeError(DatasetError):
    """A video exists but cannot be decoded (corrupt, truncated, unsupported codec)."""


class UnsafePathError(DatasetError):
    """A split entry points outside the dataset root (``..``, an absolute path or a symlink leaving the root)."""


class IncompleteDatasetError(DatasetError):
    """More listed videos are missing or undecodable than the run accepts (Kinetics' ``max_skipped``)."""
