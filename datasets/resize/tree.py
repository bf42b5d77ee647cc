"""The folder trees: what is under the source root (videos, other files, folders), the other files' copies, and the
temporary files a killed run left in OUT.

Walking: every folder under the root, in sorted order. A symlink to a folder is followed only when its target lies
inside the root and is not one of the folders it sits in (a cycle); one pointing out of the root (or in a cycle) is
skipped and reported. A symlink to a
file is read through. The command's own files are skipped wherever they are (the journal, temporary
``.*.partial-<pid>*`` files, and the manifest at the top), so that an OUT can be the root of another run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from datasets.resize.journal import JOURNAL, MANIFEST
from datasets.resize.transcode import is_partial, is_video, partial_name


@dataclasses.dataclass
class Tree:
    """Paths relative to the root, POSIX separators, sorted."""

    videos: list[str] = dataclasses.field(default_factory=list)
    files: list[str] = dataclasses.field(default_factory=list)  # every other regular file
    dirs: list[str] = dataclasses.field(default_factory=list)  # every folder below the root
    skipped_links: list[str] = dataclasses.field(default_factory=list)  # folder symlinks leaving the root


def _own(rel: str, name: str) -> bool:
    return name == JOURNAL or is_partial(name) or rel == MANIFEST


def walk(root: Path) -> Tree:
    """The tree under ``root`` (see the module docstring for symlinks and skipped files)."""
    root = root.resolve()
    tree, stack = Tree(), [(root, "", frozenset({str(root)}))]
    while stack:
        folder, prefix, above = stack.pop()  # above: the real paths of this folder and its parents (cycle guard)
        with os.scandir(folder) as it:
            items = sorted(it, key=lambda e: e.name)
        for item in items:
            rel = prefix + item.name
            if item.is_dir(follow_symlinks=True):
                real = os.path.realpath(item.path)
                if item.is_symlink() and (not Path(real).is_relative_to(root) or real in above):
                    tree.skipped_links.append(rel)
                    continue
                tree.dirs.append(rel)
                stack.append((Path(item.path), rel + "/", above | {real}))
            elif item.is_file(follow_symlinks=True) and not _own(rel, item.name):
                (tree.videos if is_video(item.name) else tree.files).append(rel)
    for paths in (tree.videos, tree.files, tree.dirs, tree.skipped_links):
        paths.sort()
    return tree


def make_dirs(out: Path, tree: Tree) -> None:
    """Every folder of the source tree under ``out`` (also those that end up empty: the tree mirrors the root)."""
    for rel in tree.dirs:
        (out / rel).mkdir(parents=True, exist_ok=True)


def copy_file(src: Path, dst: Path) -> bool:
    """Copy ``src`` onto ``dst`` atomically (temporary name, then renamed), keeping its modification time; nothing
    when ``dst`` already has its size and modification time. Returns whether it copied."""
    st = src.stat()
    try:
        have = dst.stat()
        if (have.st_size, have.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
            return False
    except FileNotFoundError:
        pass
    tmp = partial_name(dst)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def remove_partials(out: Path) -> list[str]:
    """Delete the temporary files a killed run left anywhere under ``out``; returns their paths (relative)."""
    removed = []
    for folder, dirs, names in os.walk(out):  # symlinks to folders are not followed
        for name in names:
            if is_partial(name):
                path = Path(folder, name)
                path.unlink(missing_ok=True)
                removed.append(path.relative_to(out).as_posix())
    return sorted(removed)
