"""What a user sees: a short header first, the resolved config in the run folder, a summary table of the records
last; a user error (wrong dataset root, missing split file, bad checkpoint, broken evaluation video) is one line
naming the file and the fix, exit status 2, no traceback unless VSSL_DEBUG=1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from helpers import REPO, smoke_overrides

RUN = [sys.executable, str(REPO / "protocols" / "run.py")]


def cli(tmp_path, *args, debug=False, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "VSSL_DEBUG"} | ({"VSSL_DEBUG": "1"} if debug else {})
    return subprocess.run(
        [*RUN, f"hydra.run.dir={tmp_path}/hydra", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=env,
    )


def _one_line_error(r, *needles):
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vssl-bench: error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr + r.stdout
    for n in needles:
        assert n in lines[0]
    return lines[0]


def test_a_wrong_dataset_root_is_one_line_naming_what_was_expected(tmp_path):
    r = cli(tmp_path, "preset=smoke", "dataset=ucf101", f"dataset.root={tmp_path}/nowhere")
    _one_line_error(r, f"{tmp_path}/nowhere/UCF-101", "video_dir=")
    debug = cli(tmp_path, "preset=smoke", "dataset=ucf101", f"dataset.root={tmp_path}/nowhere", debug=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "LayoutError" in debug.stderr


def test_a_missing_split_file_is_one_line_naming_it(tiny_data, tmp_path):
    root = tmp_path / "ucf"
    subprocess.run(["cp", "-r", str(tiny_data / "embedded" / "ucf101-tiny-seed0"), str(root)], check=True)
    (root / "ucfTrainTestlist" / "testlist01.txt").unlink()
    r = cli(tmp_path, *smoke_overrides(tiny_data, tmp_path, "dataset=ucf101", f"dataset.root={root}"))
    _one_line_error(r, "testlist01.txt")


def test_a_bad_checkpoint_is_one_line_naming_it(tiny_data, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    r = cli(tmp_path, *smoke_overrides(tiny_data, tmp_path, "method=random", "stage=eval", f"pretrained={bad}"))
    _one_line_error(r, str(bad))


def test_a_broken_evaluation_video_is_one_line_naming_it(tiny_data, tmp_path):
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(tiny_data), str(data)], check=True)
    video = sorted((data / "embedded" / "hmdb51-tiny-seed0").rglob("*.avi"))[0]
    video.write_bytes(video.read_bytes()[:200])  # truncated: not decodable
    r = cli(
        tmp_path, *smoke_overrides(data, tmp_path, "method=random", "dataset.eval_on=[hmdb51]", "protocols=[linear]")
    )
    _one_line_error(r, video.name)


@pytest.mark.slow
def test_header_first_resolved_config_in_the_run_folder_summary_last(tiny_data, tmp_path):
    r = cli(tmp_path, *smoke_overrides(tiny_data, tmp_path, "method=random", "protocols=[linear,retrieval]"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout.splitlines()
    assert out[0].startswith("vssl-bench git ") and "| method random | backbone tiny |" in out[0]
    assert out[1].startswith("run folder ")
    resolved = tmp_path / "hydra" / "config.resolved.yaml"
    assert out[2] == f"resolved config {resolved}"
    cfg = yaml.safe_load(resolved.read_text())
    assert cfg["method"]["name"] == "random" and cfg["paths"]["records"] == f"{tmp_path}/records"  # resolved
    assert len(r.stdout) < 6000  # the header is short: no 140-line config dump
    start = out.index("records written (4):")
    assert out[start + 1].split() == ["dataset", "protocol", "top1", "top5", "record"]
    assert {tuple(ln.split()[:2]) for ln in out[start + 2 : start + 6]} == {
        (d, p) for d in ("embedded-ucf101", "embedded-hmdb51") for p in ("linear", "retrieval")
    }
