import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from datasets.check import main as check_main
from datasets.clips import ClipDataset, collate_clips
from datasets.errors import VideoDecodeError
from datasets.fingerprint import dataset_fingerprint
from datasets.samplers import ClipTuple, UniformClips
from datasets.splits import load_split
from datasets.transforms import ClipTransform

T = ClipTransform(True, resize=(32, 48), crop=28)
TE = ClipTransform(False, resize=(32, 48), crop=28)


def test_pretext_items_and_batches(ucf_root):
    idx = load_split("ucf101", ucf_root)
    ds = ClipDataset(idx.train, ClipTuple(3, 8, 4), T, seed=1, on_corrupt="skip")
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_clips)))
    assert batch["clips"].shape == (4, 3, 3, 8, 28, 28)
    assert batch["meta"].shape == (4, 3) and batch["label"].shape == (4,)
    assert batch["n_skipped"] == 0 and batch["n_short"] == 0


def test_deferred_colour_batches_are_uint8_and_finish_to_the_worker_result(ucf_root):
    # input.colour_on=device: workers return uint8 clips and colour parameters; to_device finishes them
    from runtime.engine import to_device

    idx = load_split("ucf101", ucf_root)
    deferred = ClipTransform(True, resize=(32, 48), crop=28, defer_colour=True)
    worker = ClipDataset(idx.train, ClipTuple(3, 8, 4), T, seed=1)
    device = ClipDataset(idx.train, ClipTuple(3, 8, 4), deferred, seed=1)
    raw = next(iter(DataLoader(device, batch_size=4, collate_fn=collate_clips)))
    assert raw["clips"].dtype == torch.uint8 and raw["clips"].shape == (4, 3, 3, 8, 28, 28)
    assert raw["colour"].shape == (4, 3, 4, 2)
    with pytest.raises(ValueError, match="finish="):
        to_device(raw, torch.device("cpu"))
    done = to_device(raw, torch.device("cpu"), device.finish)
    expected = next(iter(DataLoader(worker, batch_size=4, collate_fn=collate_clips)))
    assert "colour" not in done and done["clips"].dtype == torch.float32
    torch.testing.assert_close(done["clips"], expected["clips"], atol=1e-6, rtol=0)


def test_sampling_is_a_function_of_seed_epoch_index(ucf_root):
    idx = load_split("ucf101", ucf_root)
    a = ClipDataset(idx.train, ClipTuple(3, 8, 4), T, seed=1)
    b = ClipDataset(idx.train, ClipTuple(3, 8, 4), T, seed=1)
    assert torch.equal(a[2]["clips"], b[2]["clips"])
    b.set_epoch(1)
    assert not torch.equal(a[2]["clips"], b[2]["clips"])


def test_corrupt_video_skipped_and_counted_in_training_error_in_eval(ucf_root):
    bad = ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g02_c01.avi"
    bad.write_bytes(bad.read_bytes()[:300])
    idx = load_split("ucf101", ucf_root)
    train = ClipDataset(idx.train, ClipTuple(3, 8, 4), T, on_corrupt="skip")
    batches = list(DataLoader(train, batch_size=8, collate_fn=collate_clips))
    assert sum(b["n_skipped"] for b in batches) == 1
    assert sum(len(b["label"]) for b in batches) == len(idx.train) - 1
    evalset = ClipDataset(idx.train, UniformClips(4, 8), TE)  # on_corrupt="error" is the default
    with pytest.raises(VideoDecodeError, match=r"v_MoveLeft_g02_c01.avi.*listed at .*trainlist01.txt"):
        list(DataLoader(evalset, batch_size=8, collate_fn=collate_clips))


def test_short_videos_are_counted(ucf_root):
    idx = load_split("ucf101", ucf_root)  # videos have 40 frames
    ds = ClipDataset(idx.test, ClipTuple(3, 16, 8), T)
    batch = collate_clips([ds[i] for i in range(len(ds))])
    assert batch["n_short"] == len(ds)


def test_fingerprint_changes_with_file_size(ucf_root):
    fp = dataset_fingerprint(load_split("ucf101", ucf_root))
    assert fp == dataset_fingerprint(load_split("ucf101", ucf_root)) and len(fp) == 16
    f = ucf_root / "UCF-101" / "MoveRight" / "v_MoveRight_g03_c02.avi"
    f.write_bytes(f.read_bytes() + b"\0")
    assert dataset_fingerprint(load_split("ucf101", ucf_root)) != fp


def test_check_cli_reports_counts_and_broken_files(ucf_root, hmdb_root, capsys):
    assert check_main(["--layout", "ucf101", "--root", str(ucf_root), "--split", "1"]) == 0
    out = capsys.readouterr().out
    assert "classes=2 train=8 test=4" in out
    (ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g01_c01.avi").write_bytes(b"")
    (ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g02_c02.avi").unlink()
    assert check_main(["--layout", "ucf101", "--root", str(ucf_root), "--split", "1"]) == 1
    out = capsys.readouterr().out
    assert "MISSING MoveLeft/v_MoveLeft_g02_c02.avi" in out and "BROKEN  MoveLeft/v_MoveLeft_g01_c01.avi" in out
    r = subprocess.run(
        [sys.executable, "-m", "datasets.check", "--layout", "hmdb51", "--root", str(hmdb_root)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("classes=2") == 3
    r = subprocess.run(
        [sys.executable, "-m", "datasets.check", "--layout", "hmdb51", "--root", str(ucf_root)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "testTrainMulti_7030_splits" in r.stderr
