"""The run's records in OUT: the journal (``.resize-journal.jsonl``, appended to after every video, what a resumed
run trusts) and the manifest (``resize-manifest.json``, written once at the end, what a user reads).

Journal: JSON lines. The first holds ``{"settings": {...}, "info": {...}}`` (``info``: library versions, when the
journal was started; not compared). Every other line is one video's entry, as ``transcode.process`` returns it:
``{"path", "status", "source": {"bytes", "mtime_ns", "width", "height", "frames", "fps"}, "output": {"bytes",
"width", "height"} | null, "error"?, "reused"?, "seconds"}``; a later line for the same path replaces an earlier
one. Each line is flushed and fsynced before the next video is counted done; a line torn by a kill (the last one,
without its newline) is cut off when the journal is opened again. The journal is locked (``flock``) while a run
writes into OUT, so that two runs cannot share it.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
from pathlib import Path

JOURNAL = ".resize-journal.jsonl"
MANIFEST = "resize-manifest.json"
MANIFEST_SOURCE = ("bytes", "width", "height", "frames", "fps")  # the journal's source fields the manifest keeps
MANIFEST_OUTPUT = ("bytes", "width", "height")
FLAGS = ("short_side", "crf", "preset", "qscale", "vp9_crf", "layout", "root")  # settings given on the command line


class SettingsMismatch(Exception):
    """OUT holds the journal of a run with other settings."""


class Busy(Exception):
    """Another run holds OUT's journal."""


class NotAJournal(Exception):
    """OUT holds a file under the journal's name that this command did not write."""


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


class Journal:
    """OUT's journal, opened for appending under an exclusive lock: ``entries`` holds the last entry per path."""

    def __init__(self, out: Path, settings: dict, info: dict):
        self.path = out / JOURNAL
        self._f = open(self.path, "a+b")
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.close()
            raise Busy(f"{out}: another resize run is writing into it (its journal {JOURNAL} is locked)") from None
        self.entries: dict[str, dict] = {}
        self.unreadable = 0  # lines skipped (not JSON, or no path): their videos are redone
        lines = self._read_and_cut_torn_tail()
        if not lines:
            self.append({"settings": settings, "info": info})
            return
        header = _json(lines[0])
        if not isinstance(header, dict) or not isinstance(header.get("settings"), dict):
            self.close()
            raise NotAJournal(f"{self.path}: not a journal of this command; give another --out")
        try:
            _check_settings(out, header["settings"], settings)
        except SettingsMismatch:
            self.close()
            raise
        for line in lines[1:]:
            entry = _json(line)
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                self.entries[entry["path"]] = entry
            else:
                self.unreadable += 1

    def _read_and_cut_torn_tail(self) -> list[bytes]:
        """The journal's complete lines; a torn last line (no newline, or not JSON: a kill mid-write) is cut off."""
        self._f.seek(0)
        data = self._f.read()
        keep = data[: data.rfind(b"\n") + 1]  # up to the last newline
        lines = keep.splitlines()
        while lines and _json(lines[-1]) is None:
            keep = keep[: -len(lines.pop()) - 1]
        if len(keep) != len(data):
            self._f.truncate(len(keep))
        return [line for line in lines if line.strip()]

    def append(self, entry: dict) -> None:
        """One JSON line, flushed and fsynced before this returns."""
        self._f.write((json.dumps(entry, sort_keys=True) + "\n").encode())
        self._f.flush()
        os.fsync(self._f.fileno())
        if "path" in entry:
            self.entries[entry["path"]] = entry

    def close(self) -> None:
        self._f.close()  # releases the lock


def _json(line: bytes):
    """The line's JSON value; None when it is not JSON."""
    try:
        return json.loads(line)
    except ValueError:
        return None


def _check_settings(out: Path, old: dict, new: dict) -> None:
    """SettingsMismatch naming every setting that differs, and the two ways out."""
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    other = [k for k in keys if k not in FLAGS]
    if other:
        was = ", ".join(f"{k} {json.dumps(old.get(k))}" for k in other)
        raise SettingsMismatch(
            f"{out} was made with {was} (another version of this command), this run has "
            f"{', '.join(json.dumps(new.get(k)) for k in other)}: give another --out"
        )
    if keys:
        was = " ".join(f"{_flag(k)} {old.get(k)}" for k in keys)
        raise SettingsMismatch(
            f"{out} was made with {was}, this run has {' '.join(f'{_flag(k)} {new.get(k)}' for k in keys)}: "
            f"run again with {was} to resume it, or give another --out"
        )


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def manifest_entry(entry: dict) -> dict:
    """A journal entry without what changes between runs (timings, mtimes, whether it was reused)."""
    m = {"path": entry["path"], "status": entry["status"]}
    m["source"] = {k: entry["source"][k] for k in MANIFEST_SOURCE if k in entry["source"]}
    m["output"] = {k: entry["output"][k] for k in MANIFEST_OUTPUT} if entry.get("output") else None
    if "error" in entry:
        m["error"] = entry["error"]
    return m


def build_manifest(settings: dict, entries: list[dict], files: list[dict]) -> dict:
    """The manifest: settings, counts, one entry per video and one per other file (both sorted by path)."""
    videos = sorted((manifest_entry(e) for e in entries), key=lambda e: e["path"])
    counts = {s: sum(v["status"] == s for v in videos) for s in ("transcoded", "copied", "broken")}
    return {
        "settings": settings,
        "counts": {"videos": len(videos), **counts, "other_files": len(files)},
        "videos": videos,
        "files": sorted(files, key=lambda f: f["path"]),
        "finished": now(),
    }


def write_manifest(out: Path, manifest: dict) -> Path:
    """``OUT/resize-manifest.json``, atomically (a temporary file beside it, then renamed)."""
    path = out / MANIFEST
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
