"""results.compare: two record folders with the same results compare equal; any other difference is reported."""

from __future__ import annotations

from results.compare import compare, main
from results.records import write_record

from helpers import make_record


def _folders(tmp_path, **new_fields):
    old, new = tmp_path / "old", tmp_path / "new"
    write_record(make_record(), old, {"timestamp": "2026-01-01T00:00:00+00:00", "wall_time_s": 1.0})
    write_record(make_record(**new_fields), new, {"timestamp": "2026-02-02T00:00:00+00:00", "wall_time_s": 9.0})
    return old, new


def test_only_the_code_identity_differs(tmp_path):
    old, new = _folders(tmp_path, git_sha="f" * 40, code_hash="ffffffffffffffff")
    assert compare(old, new, ignore_code=True) == []  # timings (.timing/) are not results either
    diffs = compare(old, new)
    assert any(d.endswith(".json.git_sha: " + repr(make_record()["git_sha"]) + " != " + repr("f" * 40)) for d in diffs)
    assert main([str(old), str(new), "--ignore-code"]) == 0 and main([str(old), str(new)]) == 1


def test_a_different_metric_or_a_missing_record_is_reported(tmp_path):
    old, new = _folders(tmp_path, metrics={"top1": 0.5, "top5": 0.8})
    assert any(".metrics.top1: 0.5125 != 0.5" in d for d in compare(old, new, ignore_code=True))
    write_record(make_record(seed=1), old)
    assert any("only in old" in d for d in compare(old, new, ignore_code=True))
