"""An embedded dataset written by an older generator is an error naming the folder and the fix, never reused."""

import json
import shutil

import pytest

from datasets.synthetic import MANIFEST, stale_reason
from experiment.data import ensure_embedded


def _copy_manifest(tiny_data, tmp_path, edit=None):
    src = tiny_data / "embedded" / "ucf101-tiny-seed0"
    dst = tmp_path / "embedded" / "ucf101-tiny-seed0"
    dst.mkdir(parents=True)
    manifest = json.loads((src / MANIFEST).read_text())
    if edit:
        edit(manifest)
    (dst / MANIFEST).write_text(json.dumps(manifest))
    return src, dst


def test_current_dataset_is_reused(tiny_data):
    root = tiny_data / "embedded" / "ucf101-tiny-seed0"
    assert stale_reason(root, "ucf101", "tiny", 0) is None
    assert ensure_embedded(root, "ucf101", "tiny", 0) == root


@pytest.mark.parametrize(
    "edit,why",
    [
        (lambda m: m.update(version=1), "written by generator version 1"),
        (
            lambda m: m["spec"].update(scale_change=[2.0, 3.0], bg_range=[30.0, 225.0]),
            "differs in bg_range, scale_change",
        ),
        (lambda m: m["classes"][0].update(name="Other"), "its classes differ"),
        (lambda m: m.update(seed=3), "its seed differs"),
    ],
)
def test_older_generator_output_is_an_error_with_the_fix(tiny_data, tmp_path, edit, why):
    _, root = _copy_manifest(tiny_data, tmp_path, edit)
    with pytest.raises(RuntimeError, match="Delete that folder to regenerate it") as e:
        ensure_embedded(root, "ucf101", "tiny", 0)
    assert str(root) in str(e.value) and why in str(e.value)


def test_folder_without_manifest_is_not_taken_for_a_dataset(tmp_path):
    root = tmp_path / "ucf101-tiny-seed0"
    (root / "UCF-101").mkdir(parents=True)
    with pytest.raises(RuntimeError, match=f"has no {MANIFEST}"):
        ensure_embedded(root, "ucf101", "tiny", 0)
    shutil.rmtree(root)
    assert (ensure_embedded(root, "ucf101", "tiny", 0) / MANIFEST).is_file()  # absent: generated
