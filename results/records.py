"""Result records: one JSON file per evaluated cell and variant, written atomically, read back as a tidy DataFrame.

A record's identity is its cell (method, weights, backbone, dataset, split, protocol, seed) and its variant: the hash
of every config value that can change the result, the seed aside (``variant_hash``). Both are in the file name, so
runs of one cell with different configs (a sweep over a method parameter, a longer schedule) write different files,
and concurrent jobs never share a file. A rerun of the same variant whose result differs (new code, a new
checkpoint) does not destroy the old record: it is kept in ``<folder>/.superseded/`` first.

A record holds no wall-clock figure, so that a recomputation on the same machine gives the same bytes (the DVC
pipeline commits its outputs and reproduces them byte for byte). When it was computed and how long it took go to a
timing sidecar, ``<folder>/.timing/<record name>``, which ``load_records`` joins as the ``timestamp`` and
``wall_time_s`` columns and which no pipeline stage depends on. The record's ``git_time`` is the time of the commit
its code comes from.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from results.atomic import atomic_write
from results.identity import CELL_FIELDS, record_filename

log = logging.getLogger(__name__)

DEFAULT_DIR = Path("results/runs")
FORMAT = 2  # 1: before variants (no variant_hash in the name; wall-clock fields inside)
WEIGHTS = ("pretrained", "untrained", "checkpoint")  # trained by this config | the untrained control | pretrained=PATH
TIMING_DIR = ".timing"
SUPERSEDED_DIR = ".superseded"

# Required fields: name -> (accepted types, nullable). bool is never accepted where int/float is expected.
_STR, _INT, _NUM, _BOOL, _DICT = (str,), (int,), (int, float), (bool,), (dict,)
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "record_format": (_INT, False),
    "method": (_STR, False),
    "weights": (_STR, False),
    "backbone": (_STR, False),
    "dataset": (_STR, False),
    "split": (_INT, False),
    "protocol": (_STR, False),
    "seed": (_INT, False),
    "variant_hash": (_STR, False),
    "metrics": (_DICT, False),
    "n_videos": (_INT, False),
    "n_skipped": (_INT, False),
    "git_sha": (_STR, False),
    "git_dirty": (_BOOL, False),
    "git_time": (_STR, False),
    "code_hash": (_STR, False),
    "config_hash": (_STR, False),
    "config": (_DICT, False),
    "dataset_fingerprint": (_STR, False),
    "checkpoint_sha256": (_STR, True),  # None for a method without a checkpoint (random init)
    "packages": (_DICT, False),
    "device": (_STR, False),
}
OPTIONAL_FIELDS = {"extra": _DICT}
#: the columns that tell one table row from another (a row averages the seeds of one combination)
IDENTITY = ("method", "weights", "variant_hash", "backbone", "pretrain_data", "split", "dataset", "protocol")


class RecordError(ValueError):
    """A result record is invalid (missing field, wrong type, bad JSON); the message names the record/file."""


class RecordWriteError(OSError):
    """A record could not be written; no temp or partial file was left behind."""


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def validate_record(record: Any, where: str = "record") -> dict:
    """Return ``record`` if it is a valid result record, else raise :class:`RecordError` naming ``where``."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record is a JSON object, got {type(record).__name__}")
    if record.get("record_format") != FORMAT and "wall_time_s" in record and "variant_hash" not in record:
        raise RecordError(
            f"{where}: written by an older vssl-bench (record format 1: no variant identity); move it "
            "out of the folder and rerun its cell"
        )
    problems = []
    missing = [k for k in FIELDS if k not in record]
    if missing:
        problems.append(f"missing fields {missing}")
    unknown = sorted(k for k in record if k not in FIELDS and k not in OPTIONAL_FIELDS)
    if unknown:
        problems.append(f"unknown fields {unknown} (put free-form information under 'extra')")
    for key, (types, nullable) in FIELDS.items():
        if key not in record or (nullable and record[key] is None):
            continue
        if not _type_ok(record[key], types):
            want = " or ".join(t.__name__ for t in types) + (" or null" if nullable else "")
            problems.append(f"{key} must be {want}, got {type(record[key]).__name__} {record[key]!r:.60}")
    for key, types in OPTIONAL_FIELDS.items():
        if key in record and not _type_ok(record[key], types):
            problems.append(f"{key} must be {types[0].__name__}, got {type(record[key]).__name__}")
    if problems:
        raise RecordError(f"{where}: invalid result record: " + "; ".join(problems))

    for key in CELL_FIELDS:
        if isinstance(record[key], str) and not record[key].strip():
            problems.append(f"{key} is empty")
    if record["record_format"] != FORMAT:
        problems.append(f"record_format must be {FORMAT}, got {record['record_format']}")
    if record["weights"] not in WEIGHTS:
        problems.append(f"weights must be one of {', '.join(WEIGHTS)}, got {record['weights']!r}")
    if not re.fullmatch(r"[0-9a-f]{16}", record["variant_hash"]):
        problems.append(f"variant_hash must be 16 hex digits, got {record['variant_hash']!r}")
    for key in ("split", "seed", "n_videos", "n_skipped"):
        if record[key] < 0:
            problems.append(f"{key} must be >= 0, got {record[key]}")
    if not record["metrics"]:
        problems.append("metrics is empty")
    for name, value in record["metrics"].items():
        if not isinstance(name, str) or not name:
            problems.append(f"metric name {name!r} must be a non-empty string")
        elif not _type_ok(value, _NUM) or not math.isfinite(value):
            problems.append(f"metric {name!r} must be a finite number, got {value!r}")
    for name, value in record["packages"].items():
        if not isinstance(value, str):
            problems.append(f"packages[{name!r}] must be a version string, got {value!r}")
    if record["git_time"] != "unknown":
        try:
            stamp = datetime.fromisoformat(record["git_time"])
            if stamp.utcoffset() != timedelta(0):
                problems.append(f"git_time {record['git_time']!r} must be in UTC (+00:00)")
        except ValueError:
            problems.append(f"git_time {record['git_time']!r} is not ISO 8601 (or 'unknown')")
    if problems:
        raise RecordError(f"{where}: invalid result record: " + "; ".join(problems))
    return record


def superseded_dir(out_dir: str | os.PathLike) -> Path:
    """Where a record goes when a rerun of its variant gives another result: ``<folder>/.superseded/`` (on the same
    file system; loaders, the aggregation and DVC's hash of the folder do not look into it)."""
    return Path(out_dir) / SUPERSEDED_DIR


def _keep_copy(path: Path) -> Path | None:
    """A copy of the record ``path`` in :func:`superseded_dir` (a hard link where the file system allows), under a
    name no other file has (None if ``path`` is gone: a concurrent writer of the same cell moved it first)."""
    dest_dir = superseded_dir(path.parent)
    dest_dir.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        dest = dest_dir / f"{path.stem}.{n}.json"
        try:
            try:
                os.link(path, dest)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                    raise
                with path.open("rb") as src, open(dest, "xb") as out:  # no hard links here: a copy
                    shutil.copyfileobj(src, out)
            return dest
        except FileExistsError:
            n += 1
        except FileNotFoundError:
            return None


def _move_timing(path: Path, dest: Path) -> None:
    timing = path.parent / TIMING_DIR / path.name
    if timing.exists():
        (dest.parent / TIMING_DIR).mkdir(exist_ok=True)
        os.replace(timing, dest.parent / TIMING_DIR / dest.name)


def supersede(path: Path, why: str) -> Path | None:
    """Move the record ``path`` (and its timing sidecar) to :func:`superseded_dir`, under a name no other file has;
    returns the new path. Nothing is ever deleted."""
    dest = _keep_copy(path)
    if dest is not None:
        _move_timing(path, dest)
        path.unlink(missing_ok=True)
        log.warning("result record %s moved to %s (%s)", path, dest, why)
    return dest


def write_record(record: dict, out_dir: str | os.PathLike = DEFAULT_DIR, timing: dict | None = None) -> Path:
    """Validate ``record`` and write it atomically to ``out_dir/<record_filename>``; return that path.

    Written to a temp file in ``out_dir``, fsynced and renamed over the final name, so readers see the old record
    or the new one, never a mix. An existing record of the same name with other content is kept in
    ``<out_dir>/.superseded/`` (:func:`supersede`): a written result is never lost. ``timing`` (``timestamp``,
    ``wall_time_s``) goes to the sidecar ``out_dir/.timing/<name>``. On failure (read-only folder, full disk, ...)
    :class:`RecordWriteError` is raised, the old record stays where it was and no temp or partial file is left.
    """
    validate_record(record)
    text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
    out_dir = Path(out_dir)
    final = out_dir / record_filename(record)
    kept = None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if final.exists() and final.read_bytes() != text.encode("utf-8"):
            kept = _keep_copy(final)  # a link first: the old record stays in place until the new one is whole
        atomic_write(final, lambda f: f.write(text.encode("utf-8")))
        if kept is not None:
            _move_timing(final, kept)
            log.warning(
                "result record %s replaced by a rerun with another result; the old one is kept as %s", final, kept
            )
        if timing is not None:
            (out_dir / TIMING_DIR).mkdir(exist_ok=True)
            blob = json.dumps(timing, indent=2, sort_keys=True).encode() + b"\n"
            atomic_write(out_dir / TIMING_DIR / final.name, lambda f: f.write(blob))
    except OSError as e:
        if kept is not None and final.exists() and final.read_bytes() != text.encode("utf-8"):
            kept.unlink(missing_ok=True)  # the old record is still in place: no second copy of it
            try:
                kept.parent.rmdir()  # only if that left it empty
            except OSError:
                pass
        raise RecordWriteError(
            f"could not write result record {final}: {e}; check that {out_dir} is writable "
            f"and has free space (no partial file was left)"
        ) from e
    return final


def read_record(path: str | os.PathLike) -> dict:
    """Read and validate one record file; :class:`RecordError` names the file on any problem."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: not valid JSON ({e}); delete it or rerun its cell") from e
    return validate_record(record, where=str(path))


def _timing(path: Path) -> dict:
    side = path.parent / TIMING_DIR / path.name
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def load_records(dir: str | os.PathLike = DEFAULT_DIR, on_invalid: str = "raise"):
    """All records in ``dir`` (``*.json``, not recursive) as a tidy long ``pandas.DataFrame``.

    One row per metric: the provenance fields (``config`` aside), ``pretrain_data`` (from ``extra``), ``extra``
    (dict or None), ``timestamp`` and ``wall_time_s`` (from the timing sidecar; empty / NaN without one),
    ``record_file``, ``metric`` and ``value``. ``on_invalid='raise'`` raises :class:`RecordError` naming the first
    bad file; ``'skip'`` logs and skips bad files and reports them in ``df.attrs['skipped']`` (``(file, reason)``).
    """
    import pandas as pd

    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    folder = Path(dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"result folder not found: {folder} (absolute: {folder.absolute()})")
    provenance = [k for k in FIELDS if k not in ("metrics", "config")]
    columns = provenance + ["pretrain_data", "extra", "timestamp", "wall_time_s", "record_file", "metric", "value"]
    rows, skipped = [], []
    for path in sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")):
        try:
            record = read_record(path)
        except (RecordError, OSError) as e:
            if on_invalid == "raise":
                raise
            log.warning("skipping invalid result record: %s", e)
            skipped.append((str(path), str(e)))
            continue
        base = {k: record[k] for k in provenance}
        base["extra"] = record.get("extra")
        base["pretrain_data"] = (record.get("extra") or {}).get("pretrain_data", "")
        timing = _timing(path)
        base["timestamp"], base["wall_time_s"] = timing.get("timestamp", ""), timing.get("wall_time_s", math.nan)
        base["record_file"] = path.name
        for metric, value in sorted(record["metrics"].items()):
            rows.append({**base, "metric": metric, "value": float(value)})
    if skipped:
        log.warning("skipped %d invalid result record(s) in %s", len(skipped), folder)
    df = pd.DataFrame(rows, columns=columns)
    df["value"] = df["value"].astype(float)
    df["wall_time_s"] = df["wall_time_s"].astype(float)
    df.attrs["skipped"] = skipped
    return df


__all__ = [
    "DEFAULT_DIR",
    "FIELDS",
    "FORMAT",
    "IDENTITY",
    "RecordError",
    "RecordWriteError",
    "WEIGHTS",
    "load_records",
    "read_record",
    "superseded_dir",
    "supersede",
    "validate_record",
    "write_record",
]
