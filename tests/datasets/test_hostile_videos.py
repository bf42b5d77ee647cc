"""Hostile and unusual video files follow the documented policy (datasets/video_io.py, datasets/clips.py) and are
counted: in training an undecodable file is skipped and counted (n_skipped), a short one is sampled by the
sampler's short policy and counted (n_short); in evaluation an undecodable file is an error naming it."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datasets.clips import ClipDataset, collate_clips
from datasets.errors import VideoDecodeError
from datasets.samplers import SingleClip, UniformClips
from datasets.splits import VideoEntry
from datasets.transforms import ClipTransform
from datasets.video_io import MAX_PIXELS, PyAVDecoder

from videofiles import frame_pattern, write_video

TRAIN = ClipTransform(True, resize=(32, 48), crop=28)
EVAL = ClipTransform(False, resize=(32, 48), crop=28)
CLIP = 8  # frames per clip: the 1-frame video is short, the others are not


def _bar(frame: torch.Tensor) -> int:
    return int(frame.float().mean(dim=(0, 2)).argmax()) // 3


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


def _unknown_fourcc(path: Path) -> Path:
    data = write_video(path, frame_pattern(20)).read_bytes()
    path.write_bytes(data.replace(b"FMP4", b"ZZZZ").replace(b"fmp4", b"zzzz"))  # a codec FFmpeg does not know
    return path


def _png(path: Path) -> Path:
    import matplotlib

    png = Path(matplotlib.get_data_path()) / "images" / "home.png"
    path.write_bytes(png.read_bytes())
    return path


BAD = ("zero_byte", "truncated", "text", "png_as_avi", "audio_only", "unknown_fourcc", "huge_4000x3000")
GOOD = ("good", "one_frame", "vfr")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    long = write_video(d / "long.avi", frame_pattern(90, w=270), gop=12).read_bytes()
    files = {
        "zero_byte": d / "zero_byte.avi",
        "truncated": d / "truncated.avi",
        "text": d / "text.avi",
        "png_as_avi": _png(d / "png_as_avi.avi"),
        "audio_only": _audio_only(d / "audio_only.avi"),
        "unknown_fourcc": _unknown_fourcc(d / "unknown_fourcc.avi"),
        "huge_4000x3000": write_video(d / "huge_4000x3000.avi", np.zeros((2, 3000, 4000, 3), np.uint8)),
        "good": write_video(d / "good.avi", frame_pattern(20)),
        "one_frame": write_video(d / "one_frame.avi", frame_pattern(1)),
        # variable frame rate: gaps between timestamps grow (mp4 keeps them)
        "vfr": write_video(
            d / "vfr.mp4", frame_pattern(30, w=96), codec="libx264", gop=8, pts=[i + i * i // 10 for i in range(30)]
        ),
    }
    files["zero_byte"].write_bytes(b"")
    files["truncated"].write_bytes(long[: len(long) // 3])
    files["text"].write_text("this is not a video\n" * 20)
    return files


def _entries(videos, names):
    return [VideoEntry(videos[n], f"x/{videos[n].name}", i % 2, None, f"list.txt:{i + 1}") for i, n in enumerate(names)]


@pytest.mark.parametrize(
    "name, message",
    [
        ("zero_byte", "zero-byte file"),
        ("truncated", "the header lists 90 frames but the file holds"),
        ("text", "cannot open video"),
        ("png_as_avi", r"is a still image \(png_pipe\)"),
        ("audio_only", "has no video stream"),
        ("unknown_fourcc", "no decoder for its video codec"),
        ("huge_4000x3000", "4000x3000 frames exceed the limit"),
    ],
)
def test_each_bad_file_is_an_error_naming_it_in_evaluation(videos, name, message):
    ds = ClipDataset(_entries(videos, [name]), UniformClips(2, CLIP), EVAL)  # on_corrupt="error"
    with pytest.raises(VideoDecodeError, match=rf"{videos[name]}: {message}.*listed at list.txt:1"):
        ds[0]


def test_training_skips_and_counts_bad_files_and_counts_short_ones(videos, caplog):
    names = [*BAD, *GOOD]
    ds = ClipDataset(_entries(videos, names), SingleClip(CLIP, random=True), TRAIN, seed=3, on_corrupt="skip")
    with caplog.at_level(logging.WARNING, logger="datasets.clips"):
        batches = list(DataLoader(ds, batch_size=4, collate_fn=collate_clips))
    assert sum(b["n_skipped"] for b in batches) == len(BAD)
    assert sum(b["n_short"] for b in batches) == 1  # the 1-frame video, clamped to CLIP copies of its frame
    kept = sorted(int(i) for b in batches if b["clips"] is not None for i in b["index"])
    assert [names[i] for i in kept] == list(GOOD)  # never substituted by another video
    for name in BAD:
        assert str(videos[name]) in caplog.text


def test_short_policy_skip_counts_the_one_frame_video_as_skipped(videos):
    ds = ClipDataset(_entries(videos, ["one_frame", "good"]), SingleClip(CLIP, short="skip"), TRAIN, on_corrupt="skip")
    batch = collate_clips([ds[0], ds[1]])
    assert batch["n_skipped"] == 1 and batch["n_short"] == 0 and batch["index"].tolist() == [1]


def test_one_frame_video_is_a_short_video(videos):
    item = ClipDataset(_entries(videos, ["one_frame"]), UniformClips(2, CLIP), EVAL)[0]
    assert bool(item["short"]) and item["clips"].shape == (2, 3, CLIP, 28, 28)
    assert (item["clips"][:, :, :1] == item["clips"]).all()  # every frame is the one frame


def test_variable_frame_rate_frames_are_indexed_in_decode_order(videos):
    d = PyAVDecoder(seek_min=0)
    assert d.num_frames(videos["vfr"]) == 30
    wanted = [0, 7, 8, 17, 29, 12]
    assert [_bar(f) for f in d.read(videos["vfr"], wanted)] == wanted
    assert d.stats["seeks"] == 0  # the timestamps are off the constant-rate grid: counted, not trusted


def test_huge_resolution_refused_from_the_header_and_the_limit_can_be_raised(videos):
    d = PyAVDecoder()
    assert d.max_pixels == MAX_PIXELS == 3840 * 2160
    with pytest.raises(VideoDecodeError, match="exceed the limit"):
        d.read(videos["huge_4000x3000"], [0])
    assert d.stats["decoded"] == 0  # nothing was decoded
    big = PyAVDecoder(max_pixels=4000 * 3000)
    assert big.num_frames(videos["huge_4000x3000"]) == 2
    assert big.read(videos["huge_4000x3000"], [1]).shape == (1, 3000, 4000, 3)
