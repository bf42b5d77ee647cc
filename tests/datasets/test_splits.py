import pytest

from datasets.errors import LayoutError, MissingVideoError, SplitFileError, UnsafePathError
from datasets.splits import load_split, train_val_split


def test_ucf_reader_labels_groups_and_crlf(ucf_root):
    assert b"\r\n" in (ucf_root / "ucfTrainTestlist" / "trainlist01.txt").read_bytes()
    idx = load_split("ucf101", ucf_root, split=1)
    assert idx.classes == ["MoveLeft", "MoveRight"]
    assert len(idx.train) == 2 * 2 * 2 and len(idx.test) == 2 * 1 * 2
    # testlist has no label: it comes from the folder through classInd (1-based -> 0-based)
    assert {e.label for e in idx.test if e.relpath.startswith("MoveRight/")} == {1}
    assert all(e.group.endswith("/g01") for e in idx.test)
    assert all(e.path.is_file() for e in idx.train + idx.test)


def test_ucf_video_and_split_dirs_given_separately(ucf_root):
    idx = load_split("ucf101", video_dir=ucf_root / "UCF-101", split_dir=ucf_root / "ucfTrainTestlist", split=2)
    assert len(idx.test) == 4 and all("_g02_" in e.relpath for e in idx.test)


def test_hmdb_reader_flags_and_sorted_classes(hmdb_root):
    idx = load_split("hmdb51", hmdb_root, split=3)
    assert idx.classes == ["jump", "wave"]
    # split 3 marks the last video of each class as unused (flag 0)
    assert len(idx.train) + len(idx.test) == 2 * 3
    assert all(not e.relpath.endswith("_3.avi") for e in idx.train + idx.test)
    assert {e.label for e in idx.train} == {0, 1}


def test_wrong_root_names_expected_files(tmp_path):
    with pytest.raises(LayoutError, match="classInd.txt|UCF-101"):
        load_split("ucf101", tmp_path)
    (tmp_path / "UCF-101").mkdir()
    with pytest.raises(LayoutError, match="classInd.txt"):
        load_split("ucf101", tmp_path)
    with pytest.raises(LayoutError, match="testTrainMulti_7030_splits"):
        load_split("hmdb51", tmp_path)


def test_unknown_class_gives_file_and_line(ucf_root):
    f = ucf_root / "ucfTrainTestlist" / "testlist01.txt"
    f.write_bytes(f.read_bytes() + b"Juggling/v_Juggling_g01_c01.avi\r\n")
    with pytest.raises(SplitFileError, match=r"testlist01.txt:5: unknown class 'Juggling'"):
        load_split("ucf101", ucf_root)


def test_malformed_and_empty_lines(ucf_root, hmdb_root):
    f = ucf_root / "ucfTrainTestlist" / "trainlist01.txt"
    f.write_bytes(b"MoveLeft/v_MoveLeft_g02_c01.avi one two\r\n")
    with pytest.raises(SplitFileError, match=r"trainlist01.txt:1: expected"):
        load_split("ucf101", ucf_root)
    f.write_bytes(b"\r\n\r\n")
    with pytest.raises(SplitFileError, match="trainlist01.txt: the split is empty"):
        load_split("ucf101", ucf_root)
    h = hmdb_root / "testTrainMulti_7030_splits" / "jump_test_split1.txt"
    h.write_text("jump_video_0.avi 7 \n")
    with pytest.raises(SplitFileError, match=r"jump_test_split1.txt:1: expected '<name>.avi <0\|1\|2>'"):
        load_split("hmdb51", hmdb_root)


def test_label_disagreeing_with_classind(ucf_root):
    f = ucf_root / "ucfTrainTestlist" / "trainlist01.txt"
    f.write_bytes(b"MoveLeft/v_MoveLeft_g02_c01.avi 2\r\n")
    with pytest.raises(SplitFileError, match="disagrees with classInd"):
        load_split("ucf101", ucf_root)


def test_missing_video_error_and_counted_skip(ucf_root):
    (ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g02_c01.avi").unlink()
    with pytest.raises(MissingVideoError, match=r"v_MoveLeft_g02_c01.avi \(listed at .*trainlist01.txt:\d+\)"):
        load_split("ucf101", ucf_root)
    idx = load_split("ucf101", ucf_root, on_missing="skip")
    assert len(idx.missing) == 1 and len(idx.train) == 7


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "MoveLeft/../../x.avi"])
def test_paths_leaving_the_root_are_refused(ucf_root, bad):
    f = ucf_root / "ucfTrainTestlist" / "testlist01.txt"
    f.write_bytes(f"{bad}\r\n".encode())
    with pytest.raises((UnsafePathError, SplitFileError)):
        load_split("ucf101", ucf_root)


def test_symlink_leaving_the_root_is_refused(ucf_root, tmp_path):
    outside = tmp_path / "outside.avi"
    outside.write_bytes(b"x")
    link = ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g01_c01.avi"
    link.unlink()
    link.symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symlink"):
        load_split("ucf101", ucf_root)


def test_validation_split_is_group_aware_and_deterministic(ucf_root):
    idx = load_split("ucf101", ucf_root)
    tr, va = train_val_split(idx.train, 0.3, seed=0)
    assert va and tr and len(tr) + len(va) == len(idx.train)
    assert not {e.group for e in tr} & {e.group for e in va}
    assert [e.relpath for e in va] == [e.relpath for e in train_val_split(idx.train, 0.3, seed=0)[1]]
    assert not {e.relpath for e in va} & {e.relpath for e in idx.test}
    # every class keeps training videos
    assert {e.label for e in tr} == {0, 1}
