"""The decoded-frame cache gives the clips that decoding gives, bit for bit, and never serves a stale entry."""

import os

import pytest
import torch
from torch.utils.data import DataLoader

from datasets.clips import ClipDataset, collate_clips
from datasets.errors import VideoDecodeError
from datasets.frame_cache import FrameCache
from datasets.frame_cache import main as build_main
from datasets.samplers import ClipTuple, UniformClips
from datasets.splits import load_split
from datasets.transforms import ClipTransform

RESIZE = (32, 48)
TRAIN = ClipTransform(True, resize=RESIZE, crop=28)
EVAL = ClipTransform(False, resize=RESIZE, crop=28)


def test_cached_clips_equal_decoded_clips_and_the_second_pass_only_reads(ucf_root, tmp_path):
    idx = load_split("ucf101", ucf_root)
    for sampler, transform in ((ClipTuple(3, 8, 4), TRAIN), (UniformClips(4, 8), EVAL)):
        plain = ClipDataset(idx.train, sampler, transform, seed=3)
        cached = ClipDataset(idx.train, sampler, transform, seed=3, decoder=FrameCache(tmp_path / "fc", RESIZE))
        for i in range(len(plain)):
            assert torch.equal(plain[i]["clips"], cached[i]["clips"]), idx.train[i].path
    again = FrameCache(tmp_path / "fc", RESIZE)
    ds = ClipDataset(idx.train, ClipTuple(3, 8, 4), TRAIN, seed=3, decoder=again)
    for i in range(len(ds)):
        ds[i]
    assert again.stats["built"] == 0 and again.stats["hits"] > 0
    frames = again.frames(idx.train[0].path)
    assert frames.shape[1:] == (*RESIZE, 3) and frames.dtype.name == "uint8"


def test_cache_through_loader_workers(ucf_root, tmp_path):
    idx = load_split("ucf101", ucf_root)
    cached = ClipDataset(idx.train, ClipTuple(3, 8, 4), TRAIN, seed=1, decoder=FrameCache(tmp_path / "fc", RESIZE))
    plain = ClipDataset(idx.train, ClipTuple(3, 8, 4), TRAIN, seed=1)
    a = next(iter(DataLoader(cached, batch_size=4, num_workers=2, collate_fn=collate_clips)))
    b = next(iter(DataLoader(plain, batch_size=4, collate_fn=collate_clips)))
    assert torch.equal(a["clips"], b["clips"])
    assert len(list((tmp_path / "fc").rglob("*.npy"))) >= 4  # the workers wrote the entries


def test_an_edited_video_gets_a_new_entry(ucf_root, tmp_path):
    idx = load_split("ucf101", ucf_root)
    path = idx.train[0].path
    cache = FrameCache(tmp_path / "fc", RESIZE)
    old = cache.entry(path)
    cache.frames(path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the same size, modified later
    assert cache.entry(path) != old
    assert FrameCache(tmp_path / "fc", (40, 48)).entry(path) != cache.entry(path)  # another geometry


def test_a_broken_video_is_an_error_naming_it_and_leaves_no_entry(ucf_root, tmp_path):
    bad = ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g02_c01.avi"
    bad.write_bytes(bad.read_bytes()[:300])
    cache = FrameCache(tmp_path / "fc", RESIZE)
    with pytest.raises(VideoDecodeError, match="v_MoveLeft_g02_c01.avi"):
        cache.read(bad, [0, 1])
    assert not list((tmp_path / "fc").rglob("*.npy*"))
    with pytest.raises(FileNotFoundError):
        cache.entry(ucf_root / "UCF-101" / "nope.avi")


def test_build_command_makes_every_entry_once(ucf_root, tmp_path, capsys):
    args = [
        "--layout",
        "ucf101",
        "--root",
        str(ucf_root),
        "--out",
        str(tmp_path / "fc"),
        "--resize",
        "32",
        "48",
        "--workers",
        "1",
    ]
    build_main(args)
    n = len(list((tmp_path / "fc").rglob("*.npy")))
    assert n > 0 and f"{n} built, 0 already there" in capsys.readouterr().out
    build_main(args)
    assert f"0 built, {n} already there" in capsys.readouterr().out


def test_an_unreadable_entry_is_logged_and_made_again_from_the_video(ucf_root, tmp_path, caplog):
    path = load_split("ucf101", ucf_root).train[0].path
    cache = FrameCache(tmp_path / "fc", RESIZE)
    want = cache.read(path, [0, 3])
    entry = cache.entry(path)
    entry.write_bytes(entry.read_bytes()[:100])  # a damaged entry (the atomic writes never leave one)
    again = FrameCache(tmp_path / "fc", RESIZE)
    assert torch.equal(again.read(path, [0, 3]), want)
    assert again.stats["rebuilt"] == 1 and again.stats["built"] == 1
    assert entry.name in caplog.text and "making it again from the video" in caplog.text


def test_a_cache_folder_that_cannot_be_written_is_an_error_naming_the_fix(ucf_root, tmp_path):
    path = load_split("ucf101", ucf_root).train[0].path
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")  # running as root, chmod cannot make a folder read-only: a file in the way instead
    with pytest.raises(OSError, match=r"frame cache: cannot write the entry of .*paths.frame_cache.*null"):
        FrameCache(blocker / "fc", RESIZE).read(path, [0])
