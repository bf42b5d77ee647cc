"""The Something-Something V2 reader: the class is the template without brackets (not the filled-in label),
labels.json indices are strings, validation.json is the test split, malformed files are named."""

import json

import pytest

from datasets.errors import LayoutError, MissingVideoError, SplitFileError
from datasets.splits import load_split

from videofiles import SSV2_CLASSES, make_ssv2_root


def test_reads_templates_ids_and_webm(tmp_path):
    idx = load_split("ssv2", make_ssv2_root(tmp_path / "ssv2"))
    assert idx.classes == SSV2_CLASSES
    assert len(idx.train) == 6 and len(idx.test) == 3
    e = idx.train[1]
    assert e.relpath == "101.webm" and e.label == 1 and e.group is None and e.path.is_file()
    assert [x.label for x in idx.test] == [0, 1, 2]


def test_class_comes_from_the_template_not_the_label(tmp_path):
    root = make_ssv2_root(tmp_path / "ssv2")
    train = json.loads((root / "labels" / "train.json").read_text())
    # the label field is the filled-in sentence: it must not matter
    train[0]["label"] = "pushing a pen from right to left"
    (root / "labels" / "train.json").write_text(json.dumps(train))
    assert load_split("ssv2", root).train[0].label == 0
    train[0]["template"] = "Pushing [something] sideways"
    (root / "labels" / "train.json").write_text(json.dumps(train))
    with pytest.raises(SplitFileError, match=r"train.json: entry 0 \(id 100\): class 'Pushing something sideways'"):
        load_split("ssv2", root)


@pytest.mark.parametrize(
    "labels,why",
    [
        ('{"a": "0", "b": "0"}', "index 0 is used by"),
        ('{"a": "0", "b": "2"}', "without gaps"),
        ('{"a": "x"}', "whole numbers"),
        ('{"a": "0",', "not valid JSON"),
    ],
)
def test_a_malformed_labels_file_is_named(tmp_path, labels, why):
    root = make_ssv2_root(tmp_path / "ssv2")
    (root / "labels" / "labels.json").write_text(labels)
    with pytest.raises(SplitFileError, match=rf"labels.json.*{why}"):
        load_split("ssv2", root)


def test_missing_videos_follow_on_missing_and_a_wrong_root_is_named(tmp_path):
    root = make_ssv2_root(tmp_path / "ssv2")
    (root / "20bn-something-something-v2" / "201.webm").unlink()
    with pytest.raises(MissingVideoError, match="201.webm"):
        load_split("ssv2", root)
    assert [e.relpath for e in load_split("ssv2", root, on_missing="skip").missing] == ["201.webm"]
    with pytest.raises(LayoutError, match="20bn-something-something-v2"):
        load_split("ssv2", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="one official split"):
        load_split("ssv2", root, split=3)


def test_datasets_check_decodes_every_ssv2_video(tmp_path, capsys):
    from datasets.check import main as check_main

    root = make_ssv2_root(tmp_path / "ssv2")
    assert check_main(["--layout", "ssv2", "--root", str(root)]) == 0
    assert "classes=3 train=6 test=3" in capsys.readouterr().out
