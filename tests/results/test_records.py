"""Tests for results.records: validation, deterministic names, atomic writes, tidy loading."""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing as mp
import os
import tempfile

import pytest

import results
from results import records
from results.identity import FilenameError, record_filename
from results.records import (
    RecordError,
    RecordWriteError,
    load_records,
    read_record,
    write_record,
)

from helpers import make_record

_record = make_record


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_package_exports():
    assert results.write_record is write_record and results.load_records is load_records


def test_roundtrip_and_tidy_frame(tmp_path):
    path = write_record(
        _record(extra={"note": "smoke", "pretrain_data": "ucf101"}),
        tmp_path,
        timing={"timestamp": "2026-12-01T10:00:00+00:00", "wall_time_s": 3.5},
    )
    assert path.name == "vcop__r3d__ucf101__split1__linear__seed0__01234567.json"
    assert read_record(path) == _record(extra={"note": "smoke", "pretrain_data": "ucf101"})
    assert (tmp_path / ".timing" / path.name).exists()  # wall clock beside the record, not in it
    write_record(_record(seed=1, checkpoint_sha256=None, method="random", weights="untrained"), tmp_path)

    df = load_records(tmp_path)
    assert len(df) == 4  # two records x two metrics
    assert list(df.columns[-3:]) == ["record_file", "metric", "value"]
    for field in records.FIELDS:
        if field not in ("metrics", "config"):
            assert field in df.columns
    assert df["value"].dtype == float
    row = df[(df.method == "vcop") & (df.metric == "top1")].iloc[0]
    assert row.value == pytest.approx(0.5125) and row.seed == 0 and not row.git_dirty
    assert row.packages == {"python": "3.11.7", "torch": "2.14.1"} and row.pretrain_data == "ucf101"
    assert row.timestamp == "2026-12-01T10:00:00+00:00" and row.wall_time_s == 3.5
    rnd = df[df.method == "random"]
    assert rnd.checkpoint_sha256.isna().all() and rnd.extra.isna().all()
    assert (rnd.timestamp == "").all() and rnd.wall_time_s.isna().all()  # no timing sidecar: empty, not invented
    assert set(rnd.record_file) == {"random__untrained__r3d__ucf101__split1__linear__seed1__01234567.json"}
    assert df.attrs["skipped"] == []


def test_a_rerun_with_another_result_supersedes_the_old_record_and_keeps_it(tmp_path):
    first = write_record(_record(metrics={"top1": 0.1}), tmp_path, timing={"timestamp": "t0", "wall_time_s": 1})
    write_record(_record(metrics={"top1": 0.1}), tmp_path)  # the same bytes again: nothing to keep
    assert not records.superseded_dir(tmp_path).exists()
    write_record(_record(metrics={"top1": 0.2, "top5": 0.3}), tmp_path)
    write_record(_record(protocol="finetune", metrics={"top1": 0.7}), tmp_path)
    assert _files(tmp_path) == [
        ".superseded",
        ".timing",
        "vcop__r3d__ucf101__split1__finetune__seed0__01234567.json",
        "vcop__r3d__ucf101__split1__linear__seed0__01234567.json",
    ]
    df = load_records(tmp_path)
    assert sorted(df[df.protocol == "linear"].value) == [0.2, 0.3]
    old = records.superseded_dir(tmp_path)
    assert _files(old) == [".timing", first.stem + ".1.json"]  # the earlier result, with its timing, is kept
    assert read_record(old / (first.stem + ".1.json"))["metrics"] == {"top1": 0.1}
    assert json.loads((old / ".timing" / (first.stem + ".1.json")).read_text())["timestamp"] == "t0"


def test_another_variant_of_the_same_cell_is_another_file(tmp_path):
    a = write_record(_record(variant_hash="aaaaaaaa00000000"), tmp_path)
    b = write_record(_record(variant_hash="bbbbbbbb00000000"), tmp_path)
    assert a != b and len(load_records(tmp_path).record_file.unique()) == 2


def test_a_record_of_the_old_format_is_named_with_the_fix(tmp_path):
    old = {k: v for k, v in _record().items() if k not in ("record_format", "variant_hash", "weights")}
    (tmp_path / "old.json").write_text(json.dumps(old | {"wall_time_s": 1.0, "timestamp": "x"}))
    with pytest.raises(RecordError, match="older vssl-bench.*rerun its cell"):
        load_records(tmp_path)


def test_file_name_is_sanitised(tmp_path):
    name = record_filename(_record(method="tcgl/../v2", backbone="r3d__18 x", dataset=".hidden"))
    assert name == "tcgl-..-v2__r3d_18-x__hidden__split1__linear__seed0__01234567.json"
    path = write_record(_record(method="../../escape"), tmp_path)
    assert path.parent == tmp_path
    with pytest.raises(FilenameError, match="file name"):
        record_filename(_record(method="///"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seed": None}, "seed must be int"),
        ({"seed": True}, "seed must be int"),
        ({"split": "1"}, "split must be int"),
        ({"metrics": {"top1": float("nan")}}, "finite number"),
        ({"metrics": {"top1": "0.5"}}, "finite number"),
        ({"metrics": {}}, "metrics is empty"),
        ({"n_skipped": -1}, "n_skipped must be >= 0"),
        ({"git_dirty": "no"}, "git_dirty must be bool"),
        ({"git_time": "2025-11-26T14:13:05"}, "must be in UTC"),
        ({"git_time": "yesterday"}, "not ISO 8601"),
        ({"weights": "trained"}, "weights must be one of pretrained, untrained, checkpoint"),
        ({"variant_hash": "xyz"}, "variant_hash must be 16 hex digits"),
        ({"record_format": 1}, "record_format must be 2"),
        ({"config": None}, "config must be dict"),
        ({"packages": {"torch": 2.1}}, "version string"),
        ({"extra": []}, "extra must be dict"),
        ({"accuracy": 0.5}, "unknown fields \\['accuracy'\\]"),
        ({"wall_time_s": 1.0}, "unknown fields \\['wall_time_s'\\]"),
    ],
)
def test_invalid_record_refused_on_write(tmp_path, change, message):
    with pytest.raises(RecordError, match=message):
        write_record(_record(**change), tmp_path)
    assert not tmp_path.exists() or _files(tmp_path) == []


def test_missing_field_refused(tmp_path):
    rec = _record()
    del rec["dataset_fingerprint"], rec["device"]
    with pytest.raises(RecordError, match=r"missing fields \['dataset_fingerprint', 'device'\]"):
        write_record(rec, tmp_path)


def _concurrent_writer(out_dir: str, seed: int, barrier, rounds: int) -> None:
    barrier.wait(timeout=120)
    for i in range(rounds):
        write_record(
            _record(
                seed=seed,
                metrics={"top1": seed / 100, "round": float(i)},
                extra={"pid": os.getpid(), "pad": "x" * 20000},
            ),
            out_dir,
        )


def _run_writers(out_dir, seeds, rounds):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(seeds))
    procs = [ctx.Process(target=_concurrent_writer, args=(str(out_dir), s, barrier, rounds)) for s in seeds]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_16_concurrent_writer_processes(tmp_path):
    _run_writers(tmp_path, seeds=list(range(16)), rounds=3)
    assert len(_files(tmp_path)) == 16 + 1  # and .superseded; no temp files left either
    assert len(_files(records.superseded_dir(tmp_path))) == 32  # rounds 0 and 1 of every writer, kept
    df = load_records(tmp_path)
    assert sorted(df.seed.unique()) == list(range(16))
    top1 = df[df.metric == "top1"].set_index("seed").value
    assert all(top1[s] == pytest.approx(s / 100) for s in range(16))
    assert (df[df.metric == "round"].value == 2.0).all()
    # the aggregation of a flat records folder (protocols/run.py and its sweeps) reads all 16 as well
    from results.aggregate import collect_flat

    table = collect_flat(tmp_path)
    assert sorted(table[table.metric == "top1"].seed) == list(range(16)) and len(table) == 32


def test_concurrent_writers_of_the_same_cell_leave_one_complete_record(tmp_path):
    _run_writers(tmp_path, seeds=[5] * 6, rounds=10)
    assert _files(tmp_path) == [".superseded", "vcop__r3d__ucf101__split1__linear__seed5__01234567.json"]
    rec = read_record(tmp_path / _files(tmp_path)[1])
    assert rec["metrics"]["round"] == 9.0 and len(rec["extra"]["pad"]) == 20000
    for old in records.superseded_dir(tmp_path).glob("*.json"):  # every superseded one whole
        assert len(read_record(old)["extra"]["pad"]) == 20000


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_write_failure_is_clear_and_leaves_nothing(tmp_path, monkeypatch, failing):
    old = write_record(_record(metrics={"top1": 0.1}), tmp_path)
    old_text = old.read_text()

    def boom(*args, **kwargs):
        raise OSError(
            errno.EROFS if failing == "replace" else errno.ENOSPC,
            "Read-only file system" if failing == "replace" else "No space left on device",
        )

    if failing == "write":  # the disk fills up half-way through the JSON text
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, text):
                self.f.write(text[: len(text) // 2])
                self.f.flush()
                boom()

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(os, failing, boom)
    with pytest.raises(RecordWriteError) as err:
        write_record(_record(metrics={"top1": 0.9}), tmp_path)
    msg = str(err.value)
    assert str(old) in msg and "writable" in msg and "no partial file" in msg
    assert isinstance(err.value.__cause__, OSError)
    assert _files(tmp_path) == [old.name]  # no temp file left
    assert old.read_text() == old_text  # previous record intact


def test_unwritable_folder(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(RecordWriteError, match="Permission denied.*writable"):
        write_record(_record(), tmp_path / "runs")
    monkeypatch.undo()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(RecordWriteError, match="could not write result record"):
        write_record(_record(), not_a_dir)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod cannot make a folder read-only; covered by the monkeypatched "
    "failure tests above and a read-only bind mount in "
    "tests/reliability/test_full_disk_and_read_only.py",
)
def test_read_only_folder_with_chmod(tmp_path):  # pragma: no cover - only runs as non-root
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(RecordWriteError, match="writable"):
            write_record(_record(), tmp_path)
        assert _files(tmp_path) == []
    finally:
        tmp_path.chmod(0o755)


def test_invalid_file_is_named_and_can_be_skipped(tmp_path, caplog):
    write_record(_record(), tmp_path)
    (tmp_path / "broken.json").write_text('{"method": "vcop", ')
    bad_schema = _record(seed=2)
    del bad_schema["metrics"]
    (tmp_path / "noschema.json").write_text(json.dumps(bad_schema))
    (tmp_path / ".leftover.json.tmp").write_text("{")  # temp files are never read
    (tmp_path / "notes.txt").write_text("ignored")

    with pytest.raises(RecordError) as err:
        load_records(tmp_path)
    assert str(tmp_path / "broken.json") in str(err.value) and "not valid JSON" in str(err.value)

    with caplog.at_level(logging.WARNING, logger="results.records"):
        df = load_records(tmp_path, on_invalid="skip")
    assert len(df) == 2 and set(df.record_file) == {"vcop__r3d__ucf101__split1__linear__seed0__01234567.json"}
    skipped = dict(df.attrs["skipped"])
    assert set(skipped) == {str(tmp_path / "broken.json"), str(tmp_path / "noschema.json")}
    assert "missing fields ['metrics']" in skipped[str(tmp_path / "noschema.json")]
    assert "skipped 2 invalid" in caplog.text and "broken.json" in caplog.text

    with pytest.raises(ValueError, match="on_invalid"):
        load_records(tmp_path, on_invalid="ignore")


def test_empty_and_missing_folder(tmp_path):
    df = load_records(tmp_path)
    assert df.empty and {"metric", "value", "method", "seed"} <= set(df.columns)
    with pytest.raises(FileNotFoundError, match="result folder not found"):
        load_records(tmp_path / "nope")
