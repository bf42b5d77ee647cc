"""The Kinetics-400 reader: both CSV headers, both on-disk layouts, missing and undecodable videos skipped and
counted up to a threshold, malformed lines named by file and line."""

import shutil

import pytest

from datasets.errors import IncompleteDatasetError, LayoutError, SplitFileError
from datasets.fingerprint import dataset_fingerprint
from datasets.splits import load_split

from videofiles import KINETICS_ROWS, make_kinetics_root


def test_class_folder_layout_with_both_csv_headers(tmp_path):
    root = make_kinetics_root(tmp_path / "k400")
    idx = load_split("kinetics400", root, max_skipped=0.0)
    assert idx.classes == ["air drumming", "passing American football (in game)"]  # sorted train labels
    assert len(idx.train) == 4 and len(idx.test) == 2 and not idx.missing and not idx.undecodable
    by_name = {e.relpath.rsplit("/", 1)[-1]: e for e in idx.train + idx.test}
    first = by_name["-abcDEF_123_000005_000015.mp4"]  # a YouTube id starting with a dash
    assert first.relpath == "train/air drumming/-abcDEF_123_000005_000015.mp4" and first.label == 0
    assert first.group == "-abcDEF_123" and first.path.is_file()
    assert {e.label for e in idx.test} == {0, 1} and all(e.relpath.startswith("val/") for e in idx.test)


def test_flat_layout_reads_the_same_videos(tmp_path):
    folders = load_split("kinetics400", make_kinetics_root(tmp_path / "a"))
    flat = load_split("kinetics400", make_kinetics_root(tmp_path / "b", flat=True, is_cc=False))
    assert [(e.label, e.group) for e in flat.train] == [(e.label, e.group) for e in folders.train]
    assert all(e.relpath.startswith("videos/") for e in flat.train + flat.test)


def test_missing_and_undecodable_are_skipped_counted_and_fingerprinted(tmp_path):
    root = make_kinetics_root(tmp_path / "k400", absent=("bbbbbbbbbbb",))
    complete = dataset_fingerprint(load_split("kinetics400", make_kinetics_root(tmp_path / "full")))
    broken = root / "val" / "air drumming" / "eeeeeeeeeee_000007_000017.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    idx = load_split("kinetics400", root, max_skipped=0.5)
    assert [e.group for e in idx.missing] == ["bbbbbbbbbbb"] and [e.group for e in idx.undecodable] == ["eeeeeeeeeee"]
    assert idx.skipped == 2 and len(idx.train) == 3 and len(idx.test) == 1
    assert all(e.relpath != broken.name for e in idx.train + idx.test)
    fp = dataset_fingerprint(idx)
    assert fp != complete and fp == dataset_fingerprint(load_split("kinetics400", root, max_skipped=0.5))


def test_too_many_skipped_stops_with_the_counts_and_the_fix(tmp_path):
    root = make_kinetics_root(tmp_path / "k400", absent=("bbbbbbbbbbb", "ccccccccccc"))
    with pytest.raises(
        IncompleteDatasetError, match=r"2 of the 6 videos .* missing \(2\) or undecodable \(0\).*max_skipped"
    ):
        load_split("kinetics400", root, max_skipped=0.1)
    assert load_split("kinetics400", root, max_skipped=0.34).skipped == 2


def test_a_wrong_root_names_what_it_expected(tmp_path):
    with pytest.raises(LayoutError, match=r"train.csv.*annotations/\{train,validate\}.csv"):
        load_split("kinetics400", tmp_path)
    root = make_kinetics_root(tmp_path / "k400")
    shutil.rmtree(root / "train"), shutil.rmtree(root / "val")
    with pytest.raises(LayoutError, match=r"none of the 6 videos .* expected files like .*<label>/"):
        load_split("kinetics400", root)


@pytest.mark.parametrize(
    "line,why",
    [
        ("air drumming,xxxxxxxxxxx,5,15", "expected 6 fields"),
        ("air drumming,xxxxxxxxxxx,five,15,train,0", "whole seconds"),
        ("air drumming,xxxxxxxxxxx,15,5,train,0", "whole seconds"),
        ("air drumming,../../etc/x,5,15,train,0", "not a YouTube id"),
        ("air drumming,xxxxxxxxxxx,5,15,test,0", "split column says 'test'"),
        ("air drumming,bbbbbbbbbbb,0,10,train,0", "listed twice"),
        ('"air drumming,xxxxxxxxxxx,5,15,train,0', "expected 6 fields|not valid CSV"),
    ],
)
def test_a_malformed_csv_line_names_file_and_line(tmp_path, line, why):
    root = make_kinetics_root(tmp_path / "k400")
    csv = root / "annotations" / "train.csv"
    csv.write_text(csv.read_text() + line + "\n")
    n = sum(1 for r in KINETICS_ROWS if r[3] == "train") + 2  # header + rows + the new line
    with pytest.raises(SplitFileError, match=rf"train.csv:{n}: .*({why})"):
        load_split("kinetics400", root)


def test_validation_label_unknown_to_train_and_a_bad_header(tmp_path):
    root = make_kinetics_root(tmp_path / "k400")
    val = root / "annotations" / "validate.csv"
    val.write_text(val.read_text() + "juggling,zzzzzzzzzzz,0,10,validate\n")
    with pytest.raises(SplitFileError, match=r"validate.csv:4: class 'juggling' does not occur in train.csv"):
        load_split("kinetics400", root)
    val.write_text("youtube_id,label,time_start,time_end,split\n")
    with pytest.raises(SplitFileError, match=r"validate.csv:1: expected the header"):
        load_split("kinetics400", root)


def test_one_official_split_only(tmp_path):
    with pytest.raises(ValueError, match="one official split"):
        load_split("kinetics400", make_kinetics_root(tmp_path / "k400"), split=2)


def test_the_probe_cache_is_reused_and_invalidated_by_a_changed_file(tmp_path, monkeypatch):
    import datasets.probe as probe

    root = make_kinetics_root(tmp_path / "k400")
    cache = tmp_path / "probe.json"
    load_split("kinetics400", root, probe_cache=cache)
    calls = []
    real = probe._probe_one
    monkeypatch.setattr(probe, "_probe_one", lambda d, p: calls.append(p) or real(d, p))
    load_split("kinetics400", root, probe_cache=cache)
    assert calls == []  # every video known from the cache
    video = next((root / "train").rglob("*.mp4"))
    video.write_bytes(b"garbage")
    idx = load_split("kinetics400", root, probe_cache=cache, max_skipped=0.5)
    assert calls == [video] and [e.path for e in idx.undecodable] == [video]


def test_datasets_check_lists_what_is_gone_and_accepts_a_threshold(tmp_path, capsys):
    from datasets.check import main as check_main

    root = make_kinetics_root(tmp_path / "k400", absent=("bbbbbbbbbbb",))
    (root / "val" / "air drumming" / "eeeeeeeeeee_000007_000017.mp4").write_bytes(b"not a video")
    assert check_main(["--layout", "kinetics400", "--root", str(root)]) == 1  # default: nothing may be gone
    out = capsys.readouterr().out
    assert "MISSING bbbbbbbbbbb_000000_000010.mp4" in out and "BROKEN  val/air drumming/eeeeeeeeeee" in out
    assert "4 decodable, 1 missing, 1 broken" in out
    assert check_main(["--layout", "kinetics400", "--root", str(root), "--max-skipped", "0.34"]) == 0
    assert check_main(["--layout", "kinetics400", "--root", str(tmp_path / "nothing")]) == 2
