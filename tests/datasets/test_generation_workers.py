"""Rendering an embedded set with several processes writes exactly the files one process writes (the embedded
default generates with one process per CPU)."""

import filecmp

from datasets.synthetic import generate
from experiment.data import generation_workers


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_two_workers_write_byte_identical_files(tmp_path):
    one = generate(tmp_path / "one", "hmdb51", "tiny", seed=3, workers=1)
    two = generate(tmp_path / "two", "hmdb51", "tiny", seed=3, workers=2)
    files = _files(one)
    assert files == _files(two) and sum(p.suffix == ".avi" for p in files) > 10
    match, mismatch, errors = filecmp.cmpfiles(one, two, [str(p) for p in files], shallow=False)
    assert not mismatch and not errors


def test_generation_uses_the_available_cpus():
    assert 1 <= generation_workers() <= 8
