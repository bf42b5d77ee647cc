"""What every dataset reader returns (:class:`VideoEntry`, :class:`SplitIndex`) and the checks they share: reading
a text file line by line (:func:`read_lines`), plain numbers (:func:`number`), video paths that must stay inside the
dataset root (:func:`safe_video_path`), listed-but-absent videos (:func:`check_missing`) and required files
(:func:`require`). The readers: datasets/splits.py (UCF101, HMDB51), datasets/kinetics.py, datasets/ssv2.py.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from datasets.errors import LayoutError, MissingVideoError, SplitFileError, UnsafePathError

log = logging.getLogger(__name__)
_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also accepts '²', which int() refuses


@dataclass(frozen=True)
class VideoEntry:
    path: Path  # absolute path of the video file
    relpath: str  # path relative to the video folder, as written in the split file
    label: int  # 0-based class index
    # what must not straddle train and validation: UCF101 "<Class>/gNN"; HMDB51 "<class>/<source video>" (the name
    # without extension and trailing "_<digits>" clip index, see _hmdb_group); None: the video is its own group
    group: str | None
    source: str = ""  # "<split file>:<line>", for error messages


@dataclass
class SplitIndex:
    layout: str
    split: int
    video_dir: Path
    split_dir: Path
    classes: list[str]
    train: list[VideoEntry]
    test: list[VideoEntry]
    split_files: list[Path]
    missing: list[VideoEntry] = field(default_factory=list)  # listed but absent, skipped with on_missing="skip"
    # present but unreadable (Kinetics: a probe of every video; skipped and counted like the missing ones)
    undecodable: list[VideoEntry] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Listed videos left out: missing plus undecodable (every record counts them)."""
        return len(self.missing) + len(self.undecodable)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines with their 1-based numbers; CRLF, BOM and trailing blanks stripped."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SplitFileError(path, None, f"not UTF-8 text ({e}); is this really a split file?") from e
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            out.append((i, line))
    return out


def number(text: str) -> int | None:
    """A plain decimal number (ASCII digits, at most 9), else None."""
    return int(text) if _NUMBER.fullmatch(text) else None


def safe_video_path(video_dir: Path, relpath: str, split_file: Path, lineno: int) -> Path:
    """Refuse absolute paths, '..' components and symlinks that leave the video folder, and names no file can
    have (a NUL character, a name too long for the file system)."""
    rel = Path(relpath)
    if rel.is_absolute() or relpath.startswith(("/", "\\")) or ".." in rel.parts or "\\" in relpath:
        raise UnsafePathError(
            f"{split_file}:{lineno}: '{relpath}' points outside the dataset root; split entries must be relative "
            "paths like '<Class>/<file>.avi' without '..'"
        )
    if "\0" in relpath:
        raise SplitFileError(split_file, lineno, f"{relpath!r} contains a NUL character; not a file name")
    path = video_dir / rel
    try:
        present = path.is_symlink() or path.exists()
        real = path.resolve() if present else None
    except (OSError, RuntimeError) as e:  # ENAMETOOLONG, a symlink loop, ...
        raise SplitFileError(split_file, lineno, f"{relpath!r} is not a usable file name ({e})") from e
    if present:
        if not real.is_relative_to(video_dir.resolve()):
            raise UnsafePathError(
                f"{split_file}:{lineno}: '{relpath}' is a symlink that leaves the dataset root ({real}); "
                "copy the video into the dataset folder instead"
            )
    return path


def check_missing(entries: list[VideoEntry], on_missing: str) -> tuple[list[VideoEntry], list[VideoEntry]]:
    missing = [e for e in entries if not e.path.is_file()]
    if missing and on_missing != "skip":
        first = missing[0]
        raise MissingVideoError(
            f"{len(missing)} listed video(s) are missing, first: {first.path} (listed at {first.source}). "
            "Fix the dataset path, or pass on_missing=skip to skip them (they are then counted in every record)."
        )
    if missing:
        log.warning("skipping %d missing videos (on_missing=skip), first: %s", len(missing), missing[0].path)
    gone = set(id(e) for e in missing)
    return [e for e in entries if id(e) not in gone], missing


def require(path: Path, what: str, fix: str) -> None:
    if not path.exists():
        raise LayoutError(f"{what} not found: expected {path}. {fix}")
