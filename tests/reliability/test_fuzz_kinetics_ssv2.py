"""Fuzzing the Kinetics-400 CSV and Something-Something V2 JSON readers (datasets/kinetics.py, datasets/ssv2.py).

The contract of tests/reliability/test_fuzz_split_files.py: whatever bytes an annotation file holds, ``load_split``
either returns a consistent index (labels in range, paths inside the video folder) or raises a documented data-layer
error (datasets/errors.py) naming the file. Nothing else (a KeyError, a csv.Error, a JSON TypeError) may escape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from datasets.errors import DatasetError, SplitFileError
from datasets.splits import load_split

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

HEADERS = st.sampled_from(
    [
        "label,youtube_id,time_start,time_end,split",
        "label,youtube_id,time_start,time_end,split,is_cc",
        "youtube_id,time_start,time_end,split",
        "label,youtube_id,time_start,time_end,split,split",
        "label,youtube_id,time_start,time_end,split,extra",
        "",
    ]
)
FIELDS = st.sampled_from(
    [
        "abseiling",
        '"air drumming"',
        '"a, b"',
        '"unclosed',
        "x" * 3000,
        "",
        "-abcDEF_123",
        "../x",
        "a/b",
        "0",
        "10",
        "-5",
        "1.5",
        "１",
        "train",
        "validate",
        "val",
        "test",
        "\x00",
        "é",
        '""',
    ]
)
SEPARATORS = st.sampled_from(["\n", "\r\n", "\r", "\x0c", "\u2028"])


@st.composite
def csv_text(draw) -> bytes:
    lines = [draw(HEADERS)]
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.text(max_size=30)))
        else:
            lines.append(",".join(draw(FIELDS) for _ in range(draw(st.integers(0, 7)))))
    data = "".join(line + draw(SEPARATORS) for line in lines).encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"])) + data


def _check(layout: str, root: Path, files: list[Path], video_dir: Path) -> None:
    try:
        idx = load_split(layout, root, on_missing="skip", max_skipped=1.0)
    except Exception as err:
        assert isinstance(err, DatasetError), f"undocumented {type(err).__name__}: {err}"
        assert any(str(f) in str(err) for f in files) or str(video_dir) in str(err), str(err)
        if isinstance(err, SplitFileError):
            assert err.lineno is None or err.lineno >= 1
        return
    for e in idx.train + idx.test + idx.missing:
        assert 0 <= e.label < idx.num_classes
        assert e.path.resolve().is_relative_to(video_dir.resolve()) or e in idx.missing


@pytest.fixture(scope="module")
def k400(tmp_path_factory):
    root = tmp_path_factory.mktemp("k400-fuzz")
    (root / "annotations").mkdir()
    (root / "train" / "abseiling").mkdir(parents=True)
    (root / "train" / "abseiling" / "-abcDEF_123_000010_000020.mp4").write_bytes(b"not a video")
    return root


GOOD_TRAIN = b"label,youtube_id,time_start,time_end,split\nabseiling,-abcDEF_123,10,20,train\n"
GOOD_VAL = b"label,youtube_id,time_start,time_end,split\nabseiling,bbbbbbbbbbb,0,10,validate\n"


@SETTINGS
@given(train=csv_text(), val=csv_text(), which=st.integers(0, 2))
@example(train=b'label,youtube_id,time_start,time_end,split\n"a\nb",x,1,2,train\n', val=GOOD_VAL, which=0)
def test_kinetics_csvs(k400, train, val, which):
    files = [k400 / "annotations" / "train.csv", k400 / "annotations" / "validate.csv"]
    train = GOOD_TRAIN if which == 1 else train
    val = GOOD_VAL if which == 2 else val
    for f, data in zip(files, (train, val)):
        f.write_bytes(data)
    _check("kinetics400", k400, files, k400)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 300)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["Pushing [something] left", "Pushing something left", "0", "1", "7", "../1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "template", "label", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def ssv2(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssv2-fuzz")
    (root / "labels").mkdir()
    (root / "20bn-something-something-v2").mkdir()
    (root / "20bn-something-something-v2" / "1.webm").write_bytes(b"x")
    return root


@SETTINGS
@given(labels=JSON_VALUES, train=JSON_VALUES, raw=st.binary(max_size=40), which=st.integers(0, 3))
def test_ssv2_json(ssv2, labels, train, raw, which):
    d = ssv2 / "labels"
    files = [d / "labels.json", d / "train.json", d / "validation.json"]
    good_labels = {"Pushing something left": "0"}
    good_list = [{"id": "1", "template": "Pushing [something] left"}]
    contents = [
        json.dumps(labels if which != 1 else good_labels, allow_nan=True).encode(),
        json.dumps(train if which != 2 else good_list, allow_nan=True).encode() if which != 3 else raw,
        json.dumps(good_list).encode(),
    ]
    for f, data in zip(files, contents):
        f.write_bytes(data)
    _check("ssv2", ssv2, files, ssv2 / "20bn-something-something-v2")
