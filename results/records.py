"""Result records: one JSON file per evaluated cell, written atomically, read back as a tidy DataFrame.

A cell is (method, backbone, dataset, split, protocol, seed); its file name is derived from those fields, so a rerun
replaces its own record and concurrent jobs never share a file. Records are validated on write and on load.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from results.atomic import atomic_write

log = logging.getLogger(__name__)

DEFAULT_DIR = Path("results/runs")

# Required fields: name -> (accepted types, nullable). bool is never accepted where int/float is expected.
_STR, _INT, _NUM, _BOOL, _DICT = (str,), (int,), (int, float), (bool,), (dict,)
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "method": (_STR, False),
    "backbone": (_STR, False),
    "dataset": (_STR, False),
    "split": (_INT, False),
    "protocol": (_STR, False),
    "seed": (_INT, False),
    "metrics": (_DICT, False),
    "n_videos": (_INT, False),
    "n_skipped": (_INT, False),
    "git_sha": (_STR, False),
    "git_dirty": (_BOOL, False),
    "config_hash": (_STR, False),
    "dataset_fingerprint": (_STR, False),
    "checkpoint_sha256": (_STR, True),  # None for a method without a checkpoint (random init)
    "packages": (_DICT, False),
    "device": (_STR, False),
    "wall_time_s": (_NUM, False),
    "timestamp": (_STR, False),
}
OPTIONAL_FIELDS = {"extra": _DICT}
CELL_FIELDS = ("method", "backbone", "dataset", "split", "protocol", "seed")


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
    if not math.isfinite(record["wall_time_s"]) or record["wall_time_s"] < 0:
        problems.append(f"wall_time_s must be finite and >= 0, got {record['wall_time_s']}")
    try:
        stamp = datetime.fromisoformat(record["timestamp"])
        if stamp.utcoffset() != timedelta(0):
            problems.append(f"timestamp {record['timestamp']!r} must be in UTC (+00:00)")
    except ValueError:
        problems.append(f"timestamp {record['timestamp']!r} is not ISO 8601")
    if problems:
        raise RecordError(f"{where}: invalid result record: " + "; ".join(problems))
    return record


def _sanitise(value: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9.\-_]+", "-", str(value))
    text = re.sub(r"_{2,}", "_", text).strip(".-_")  # "__" is the separator; no hidden files
    if not text:
        raise RecordError(f"cannot build a file name from field value {value!r}")
    return text


def record_filename(record: dict) -> str:
    """``{method}__{backbone}__{dataset}__split{split}__{protocol}__seed{seed}.json``, each part sanitised."""
    r = {k: _sanitise(record[k]) for k in CELL_FIELDS}
    return (f"{r['method']}__{r['backbone']}__{r['dataset']}__split{r['split']}__{r['protocol']}"
            f"__seed{r['seed']}.json")


def write_record(record: dict, out_dir: str | os.PathLike = DEFAULT_DIR) -> Path:
    """Validate ``record`` and write it atomically to ``out_dir/<record_filename>``; return that path.

    Written to a temp file in ``out_dir``, fsynced and renamed over the final name, so readers see the old record
    or the new one, never a mix, and a rerun of the same cell replaces its record. On failure (read-only folder,
    full disk, ...) :class:`RecordWriteError` is raised and no temp or partial file is left.
    """
    validate_record(record)
    text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
    out_dir = Path(out_dir)
    final = out_dir / record_filename(record)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(final, lambda f: f.write(text.encode("utf-8")))
    except OSError as e:
        raise RecordWriteError(f"could not write result record {final}: {e}; check that {out_dir} is writable "
                               f"and has free space (no partial file was left)") from e
    return final


def read_record(path: str | os.PathLike) -> dict:
    """Read and validate one record file; :class:`RecordError` names the file on any problem."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: not valid JSON ({e}); delete it or rerun its cell") from e
    return validate_record(record, where=str(path))


def load_records(dir: str | os.PathLike = DEFAULT_DIR, on_invalid: str = "raise"):
    """All records in ``dir`` (``*.json``, not recursive) as a tidy long ``pandas.DataFrame``.

    One row per metric: the provenance fields, ``extra`` (dict or None), ``record_file``, ``metric`` and
    ``value``. ``on_invalid='raise'`` raises :class:`RecordError` naming the first bad file; ``'skip'`` logs and
    skips bad files and reports them in ``df.attrs['skipped']`` (list of ``(file, reason)``).
    """
    import pandas as pd

    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    folder = Path(dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"result folder not found: {folder} (absolute: {folder.absolute()})")
    provenance = [k for k in FIELDS if k != "metrics"]
    columns = provenance + ["extra", "record_file", "metric", "value"]
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
        base["record_file"] = path.name
        for metric, value in sorted(record["metrics"].items()):
            rows.append({**base, "metric": metric, "value": float(value)})
    if skipped:
        log.warning("skipped %d invalid result record(s) in %s", len(skipped), folder)
    df = pd.DataFrame(rows, columns=columns)
    df["value"] = df["value"].astype(float)
    df.attrs["skipped"] = skipped
    return df


__all__ = ["DEFAULT_DIR", "FIELDS", "RecordError", "RecordWriteError", "load_records", "read_record",
           "record_filename", "validate_record", "write_record"]
