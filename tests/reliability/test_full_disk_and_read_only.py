"""A full disk and a read-only results folder, for real: a 256 KiB tmpfs and a read-only bind mount.

Result records (results/records.py) and checkpoints (runtime/checkpoint.py) must fail with a clear error naming
the folder and the fix, leave no partial, zero-length or temp file behind, and keep the previous file intact.
Mounting needs root and CAP_SYS_ADMIN; where either is missing the tests are skipped with the reason shown
(the monkeypatched failure tests in tests/results/test_records.py and tests/protocols/test_checkpoint.py still run).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from results.records import RecordWriteError, load_records, read_record, write_record
from runtime.checkpoint import (
    CheckpointWriteError,
    latest_good_checkpoint,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)

from helpers import make_record


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: cannot mount a tmpfs or a read-only bind mount to make a real full disk")
    r = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(
            f"mount {' '.join(args)} is not permitted here (a container without CAP_SYS_ADMIN?): {r.stderr.strip()}"
        )


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs; ``fill(free)`` fills it up to ``free`` bytes left (0: nothing left)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(disk))
    try:
        yield disk
    finally:
        _umount(disk)


def fill(disk: Path, free: int = 0) -> Path:
    """Fill ``disk`` with a file ``filler`` until writes fail, then free ``free`` bytes (rounded to pages)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    if free:
        os.truncate(filler, max(filler.stat().st_size - free, 0))
    return filler


@pytest.fixture
def read_only(tmp_path):
    """A folder holding one valid record and one checkpoint, then bind-mounted read-only over itself."""
    folder = tmp_path / "ro"
    old = write_record(make_record(), folder)
    save_checkpoint(folder / "epoch_0000.pt", {"w": torch.zeros(10), "epoch": 0})
    _mount("--bind", str(folder), str(folder))
    try:
        r = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"remounting a bind mount read-only is not permitted here: {r.stderr.strip()}")
        yield folder, old
    finally:
        _umount(folder)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _no_debris(folder: Path, allowed: set[str]) -> None:
    names = set(_names(folder))
    assert names <= allowed, f"left behind: {sorted(names - allowed)}"
    for name in names:
        assert (folder / name).stat().st_size > 0 or name == "filler", f"zero-length file {name}"


@pytest.mark.parametrize("free", [0, 8192], ids=["no-space", "space-for-half"])
def test_full_disk_record_write_is_a_clear_error_and_leaves_nothing(tiny_disk, free):
    old = write_record(make_record(metrics={"top1": 0.1}), tiny_disk)
    old_text = old.read_text()
    fill(tiny_disk, free)
    big = {"pad": "x" * 20000}  # 20 KB: with 8 KiB free the first part is written, then the disk is full
    for record in (make_record(seed=1, extra=big), make_record(metrics={"top1": 0.9}, extra=big)):  # new, rerun
        with pytest.raises(RecordWriteError) as err:
            write_record(record, tiny_disk)
        msg = str(err.value)
        assert str(tiny_disk) in msg and "writable and has free space" in msg and "no partial file" in msg
        assert err.value.__cause__.errno == errno.ENOSPC
    _no_debris(tiny_disk, {old.name, "filler"})
    assert old.read_text() == old_text  # the rerun's failure left the previous record as it was
    assert len(load_records(tiny_disk)) == 1  # the aggregation still reads the folder: one record, one metric
    (tiny_disk / "filler").unlink()  # space again: the same write now succeeds
    assert read_record(write_record(make_record(seed=1, extra=big), tiny_disk))["extra"] == big


def test_full_disk_checkpoint_write_keeps_the_previous_checkpoint(tiny_disk):
    save_checkpoint(tiny_disk / "epoch_0000.pt", {"w": torch.zeros(1000), "epoch": 0})
    save_checkpoint(tiny_disk / "final.pt", {"w": torch.zeros(1000), "epoch": 0})
    before = (tiny_disk / "final.pt").read_bytes()
    fill(tiny_disk, 16384)
    for name in ("epoch_0001.pt", "final.pt"):  # a new name, and one overwritten
        with pytest.raises(CheckpointWriteError) as err:
            save_checkpoint(tiny_disk / name, {"w": torch.zeros(100_000), "epoch": 1})  # 400 KB
        msg = str(err.value)
        assert f"could not write checkpoint for {tiny_disk / name}: [Errno 28] No space left on device" in msg
        assert "previous checkpoint of that name is untouched" in msg and "free space (free now:" in msg
        assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    _no_debris(tiny_disk, {"epoch_0000.pt", "epoch_0000.pt.sha256", "final.pt", "final.pt.sha256", "filler"})
    assert latest_good_checkpoint(tiny_disk) == tiny_disk / "epoch_0000.pt"
    assert (tiny_disk / "final.pt").read_bytes() == before
    verify_checkpoint(tiny_disk / "final.pt", require_sidecar=True)


def test_read_only_results_folder(read_only):
    folder, old = read_only
    old_text = old.read_text()
    for record in (make_record(seed=3), make_record(metrics={"top1": 0.99})):  # a new cell, and a rerun
        with pytest.raises(RecordWriteError) as err:
            write_record(record, folder)
        assert "Read-only file system" in str(err.value) and f"check that {folder} is writable" in str(err.value)
        assert err.value.__cause__.errno == errno.EROFS
    with pytest.raises(CheckpointWriteError, match=r"Read-only file system.*writable") as err:
        save_checkpoint(folder / "epoch_0001.pt", {"w": torch.zeros(10), "epoch": 1})
    assert err.value.errno == errno.EROFS
    assert _names(folder) == sorted([old.name, "epoch_0000.pt", "epoch_0000.pt.sha256"])
    assert old.read_text() == old_text and json.loads(old_text)["seed"] == 0
    assert load_checkpoint(latest_good_checkpoint(folder))["epoch"] == 0
    assert len(load_records(folder)) == 2  # reading a read-only folder works
