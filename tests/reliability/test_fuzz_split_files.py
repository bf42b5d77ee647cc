"""Fuzzing the UCF101 and HMDB51 split-file readers (datasets/splits.py) with hypothesis.

Contract: whatever bytes a split file holds, ``load_split`` either returns an index whose entries are consistent
(labels in range, every path inside the video folder) or raises one of the documented data-layer errors of
datasets/errors.py, whose message names the split file (and the line, where one line is at fault). Any other
exception (ValueError from int(), OSError from a too-long file name, ...) is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from datasets.errors import DatasetError, MissingVideoError, SplitFileError, UnsafePathError
from datasets.splits import HMDB_SPLIT_DIR, UCF_SPLIT_DIR, UCF_VIDEO_DIR, load_split

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
CLASSES = ("MoveLeft", "MoveRight")

# pieces a hostile or damaged split file is made of
NUMBERS = st.sampled_from(["0", "1", "2", "3", "-1", "01", "+1", "1.0", "9" * 5000, "²", "١", "１", "0x1", ""])
NAMES = st.sampled_from(
    [
        "MoveLeft/v_MoveLeft_g01_c01.avi",
        "moveright/v_MoveRight_g02_c01.avi",
        "MoveLeft/",
        "MoveLeft//x.avi",
        "../../etc/passwd",
        "/etc/passwd",
        "MoveLeft/../../x.avi",
        "MoveLeft/..",
        "MoveLeft\\..\\x.avi",
        "C:\\x.avi",
        "MoveLeft/" + "a" * 300 + ".avi",
        "MoveLeft/" + "b/" * 2100 + "c.avi",
        "MoveLeft/x\x00y.avi",
        "MoveLeft/é ü.avi",
        "MoveLeft/v_MoveLeft_g99999999999999999999_c01.avi",
        "Juggling/x.avi",
        "x.avi",
        "",
        "~/x.avi",
    ]
)
SEPARATORS = st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\u2028", "\x85", "\n\n"])
BLANKS = st.sampled_from([" ", "\t", "  ", "\u00a0", "\u3000", ""])


@st.composite
def split_text(draw, fields) -> bytes:
    """A file of lines built from ``fields`` (strategies), shuffled with junk, separators, a BOM or bad bytes."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 5))
        if kind <= 3:
            parts = [draw(f) for f in fields]
            if kind == 1 and parts:
                parts.pop(draw(st.integers(0, len(parts) - 1)))  # a missing field
            if kind == 2:
                parts.append(draw(NUMBERS))  # one field too many
            line = draw(BLANKS).join(parts) if parts else ""
        elif kind == 4:
            line = draw(st.text(max_size=40))
        else:
            line = draw(BLANKS)
        lines.append(line + draw(SEPARATORS))
    data = "".join(lines).encode("utf-8", "surrogatepass")
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe", b"\x00"]))
    return prefix + data if draw(st.booleans()) or not prefix else data + prefix


RAW = st.binary(max_size=200)


def _check_error(err: Exception, files: list[Path]) -> None:
    assert isinstance(err, DatasetError), f"undocumented {type(err).__name__}: {err}"
    text = str(err)
    assert any(str(f) in text for f in files), f"the message does not name the split file: {text}"
    if isinstance(err, SplitFileError):
        assert err.path in files and (err.lineno is None or err.lineno >= 1)
    if isinstance(err, UnsafePathError):
        assert "outside the dataset root" in text or "leaves the dataset root" in text


def _check_index(idx, video_dir: Path) -> None:
    root = video_dir.resolve()
    for e in idx.train + idx.test + idx.missing:
        assert 0 <= e.label < idx.num_classes
        assert e.path.resolve().is_relative_to(root), e.path
    assert len({c.lower() for c in idx.classes}) >= 1


def _load(layout: str, root: Path, files: list[Path]):
    try:
        idx = load_split(layout, root, split=1, on_missing="skip")
    except Exception as err:
        _check_error(err, files)
        return None
    _check_index(idx, root / UCF_VIDEO_DIR if layout == "ucf101" else root)
    return idx


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf-fuzz")
    (root / UCF_VIDEO_DIR / "MoveLeft").mkdir(parents=True)
    (root / UCF_VIDEO_DIR / "MoveRight").mkdir(parents=True)
    (root / UCF_VIDEO_DIR / "MoveLeft" / "v_MoveLeft_g01_c01.avi").write_bytes(b"x")
    outside = root / "outside.avi"
    outside.write_bytes(b"x")
    (root / UCF_VIDEO_DIR / "MoveLeft" / "link.avi").symlink_to(outside)  # leaves the video folder
    (root / UCF_SPLIT_DIR).mkdir()
    return root


def _write_ucf(root: Path, class_ind: bytes, train: bytes, test: bytes) -> list[Path]:
    d = root / UCF_SPLIT_DIR
    files = [d / "classInd.txt", d / "trainlist01.txt", d / "testlist01.txt"]
    for f, data in zip(files, (class_ind, train, test)):
        f.write_bytes(data)
    return files


GOOD_CLASSIND = b"1 MoveLeft\r\n2 MoveRight\r\n"
GOOD_TRAIN = b"MoveLeft/v_MoveLeft_g01_c01.avi 1\r\nMoveRight/v_MoveRight_g01_c01.avi 2\r\n"
GOOD_TEST = b"MoveLeft/v_MoveLeft_g02_c01.avi\r\n"


@SETTINGS
@given(data=split_text([NUMBERS, st.sampled_from(CLASSES + ("", "Move Left", "..", "/", "é", "a" * 300))]))
@example(data=b"1 MoveLeft\n\xb2 MoveRight\n")
@example(data="1 MoveLeft\n²  MoveRight\n".encode())
@example(data=b"1 MoveLeft\n" + b"9" * 5000 + b" MoveRight\n")
@example(data=b"\xef\xbb\xbf1 MoveLeft\r\n2 MoveRight")
def test_ucf_class_index_fuzz(ucf, data):
    files = _write_ucf(ucf, data, GOOD_TRAIN, GOOD_TEST)
    idx = _load("ucf101", ucf, files)
    if idx is not None:
        assert idx.classes[:1] == ["MoveLeft"] and len(idx.classes) <= 6


@SETTINGS
@given(train=split_text([NAMES, NUMBERS]), test=split_text([NAMES]))
@example(train="MoveLeft/v_MoveLeft_g01_c01.avi ²\n".encode(), test=GOOD_TEST)
@example(train=b"MoveLeft/v_MoveLeft_g01_c01.avi " + b"1" * 5000 + b"\n", test=GOOD_TEST)
@example(train=GOOD_TRAIN, test=("MoveLeft/" + "a" * 300 + ".avi\n").encode())
@example(train=GOOD_TRAIN, test=b"MoveLeft/link.avi\n")
@example(train=GOOD_TRAIN, test=b"MoveLeft/x\x00y.avi\n")
def test_ucf_train_and_test_list_fuzz(ucf, train, test):
    files = _write_ucf(ucf, GOOD_CLASSIND, train, test)
    _load("ucf101", ucf, files)


@SETTINGS
@given(classes=RAW, train=RAW, test=RAW)
def test_ucf_split_files_of_arbitrary_bytes(ucf, classes, train, test):
    _load("ucf101", ucf, _write_ucf(ucf, classes, train, test))


@pytest.fixture(scope="module")
def hmdb(tmp_path_factory):
    root = tmp_path_factory.mktemp("hmdb-fuzz")
    for c in ("jump", "wave"):
        (root / c).mkdir()
    (root / HMDB_SPLIT_DIR).mkdir()
    (root / HMDB_SPLIT_DIR / "wave_test_split1.txt").write_bytes(b"wave_0.avi 1\nwave_1.avi 2\n")
    return root


HMDB_NAMES = st.sampled_from(
    [
        "jump_0.avi",
        "jump 1.avi",
        "../wave/wave_0.avi",
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "x/../../y.avi",
        "a" * 300 + ".avi",
        "x\x00.avi",
        "é.avi",
        "",
        "~",
    ]
)
HMDB_FLAGS = st.sampled_from(["0", "1", "2", "3", "01", "²", "-1", "", "1 1", "9" * 5000])


@SETTINGS
@given(data=st.one_of(split_text([HMDB_NAMES, HMDB_FLAGS]), RAW))
@example(data=b"../wave/wave_0.avi 1\njump_1.avi 2\n")
@example(data=("a" * 300 + ".avi 1\njump_1.avi 2\n").encode())
@example(data=b"\xef\xbb\xbfjump_0.avi 1 \r\njump_1.avi 2 \r\n")
def test_hmdb_split_file_fuzz(hmdb, data):
    f = hmdb / HMDB_SPLIT_DIR / "jump_test_split1.txt"
    f.write_bytes(data)
    idx = _load("hmdb51", hmdb, [f, hmdb / HMDB_SPLIT_DIR])
    if idx is not None:
        assert idx.classes == ["jump", "wave"]


def test_fuzz_setup_really_rejects_the_escaping_symlink(ucf):
    """Control for the fuzzers above: the symlink leaving the root is refused, a good file loads."""
    files = _write_ucf(ucf, GOOD_CLASSIND, GOOD_TRAIN, GOOD_TEST)
    idx = load_split("ucf101", ucf, on_missing="skip")
    assert len(idx.train) == 1 and len(idx.missing) == 2
    (ucf / UCF_SPLIT_DIR / "testlist01.txt").write_bytes(b"MoveLeft/link.avi\n")
    with pytest.raises(UnsafePathError, match=r"testlist01.txt:1: 'MoveLeft/link.avi' is a symlink"):
        load_split("ucf101", ucf, on_missing="skip")
    _write_ucf(ucf, GOOD_CLASSIND, GOOD_TRAIN, GOOD_TEST)
    with pytest.raises(MissingVideoError, match=str(files[1])):
        load_split("ucf101", ucf)
