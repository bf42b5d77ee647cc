import numpy as np
import pytest
import torch

from datasets.errors import VideoDecodeError
from datasets.video_io import PyAVDecoder, get_decoder

from videofiles import frame_pattern, write_video


def bar_index(frame: torch.Tensor) -> int:
    """Which frame this is: the column of the bright bar (see videofiles.frame_pattern)."""
    return int(frame.float().mean(dim=(0, 2)).argmax()) // 3


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "v.avi", frame_pattern(16, w=48))


def test_reads_requested_frames_in_requested_order(video):
    d = PyAVDecoder()
    assert d.num_frames(video) == 16
    out = d.read(video, [5, 0, 15, 5])
    assert out.dtype == torch.uint8 and out.shape == (4, 32, 48, 3)
    assert [bar_index(f) for f in out] == [5, 0, 15, 5]


def test_mp4_is_read_too(tmp_path):
    path = write_video(tmp_path / "v.mp4", frame_pattern(12, w=48), codec="libx264")
    d = get_decoder("pyav")
    assert d.num_frames(path) == 12
    assert [bar_index(f) for f in d.read(path, [3, 11])] == [3, 11]


def test_zero_byte_and_garbage_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty.avi: zero-byte"):
        PyAVDecoder().num_frames(empty)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(VideoDecodeError, match="junk.avi"):
        PyAVDecoder().read(junk, [0])


def test_truncated_file_is_detected(video, tmp_path):
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    d = PyAVDecoder()
    with pytest.raises(VideoDecodeError, match="cut.avi"):
        n = d.num_frames(cut)  # the header may still claim 16 frames
        d.read(cut, [n - 1])


def test_unknown_decoder_name():
    with pytest.raises(ValueError, match="pyav, torchcodec or auto"):
        get_decoder("opencv")


# ---------------------------------------------------------------------------------------------- keyframe seeking
N = 90  # frames; the bar of frame i sits at column 3 * i, so the width must be >= 3 * N


def sequential():
    return PyAVDecoder(seek_min=10**9)  # never seeks: the reference


@pytest.mark.parametrize(
    "name,codec,gop",
    [
        ("a.avi", "mpeg4", 5),
        ("b.avi", "mpeg4", 12),
        ("c.avi", "mpeg4", 30),
        ("d.mp4", "libx264", 5),
        ("e.mp4", "libx264", 12),
        ("f.mp4", "libx264", 40),
    ],
)
def test_seeking_reads_what_sequential_decoding_reads(tmp_path, name, codec, gop):
    path = write_video(tmp_path / name, frame_pattern(N, w=3 * N), codec=codec, gop=gop)
    ref, seek = sequential(), PyAVDecoder(seek_min=0)
    n = ref.num_frames(path)
    assert n == seek.num_frames(path) == N
    rng = np.random.default_rng(gop)
    sets = [[n - 1], [n - 16, n - 1], list(range(n - 16, n)), [N // 2]]
    sets += [
        rng.choice(np.arange(lo, n), size=min(n - lo, rng.integers(1, 12)), replace=False).tolist()
        for lo in rng.integers(1, n - 1, size=10)
    ]
    for indices in sets:
        expected = ref.read(path, indices)
        assert [bar_index(f) for f in expected] == indices
        assert torch.equal(seek.read(path, indices), expected), indices
    later = sum(min(s) >= gop for s in sets)  # reads with a keyframe after frame 0 to seek to
    assert seek.stats["seeks"] == later if codec == "mpeg4" else seek.stats["seeks"] >= later  # x264: + scene cuts
    assert seek.stats["fallbacks"] == 0 and seek.stats["decoded"] < ref.stats["decoded"]


def test_a_late_clip_decodes_from_the_keyframe_before_it(tmp_path):
    path = write_video(tmp_path / "v.avi", frame_pattern(N, w=3 * N), gop=12)
    ref, seek = sequential(), PyAVDecoder()
    clip = list(range(70, 86))
    assert torch.equal(seek.read(path, clip), ref.read(path, clip))
    assert ref.stats["decoded"] == 86  # frames 0..85
    assert seek.stats == {"decoded": 86 - 60, "seeks": 1, "fallbacks": 0}  # frames 60 (keyframe)..85
    seek.read(path, list(range(10, 26)))  # keyframes at 0 and 12: seeking would skip nothing
    assert seek.stats["seeks"] == 1 and seek.stats["decoded"] == 26 + 26


@pytest.mark.parametrize("name,codec", [("v.mp4", "mpeg4"), ("v.mkv", "libx264"), ("v.avi", "mpeg4")])
def test_irregular_timestamps_fall_back_to_counting_frames(tmp_path, name, codec):
    """A 3-frame gap in the timestamps at frame 40: variable frame rate (mp4, mkv) or dropped-frame entries (avi)."""
    pts = [i if i < 40 else i + 3 for i in range(N)]
    path = write_video(tmp_path / name, frame_pattern(N, w=3 * N), codec=codec, gop=12, pts=pts)
    seek = PyAVDecoder(seek_min=0)
    assert seek.num_frames(path) == N  # decodable frames, not the 93 timestamps (nor AVI's header count)
    for indices in ([50, 60, N - 1], [41, 42], list(range(70, 86))):
        out = seek.read(path, indices)
        assert [bar_index(f) for f in out] == indices
        assert torch.equal(out, sequential().read(path, indices))
    assert seek.stats["seeks"] == 0 and seek.stats["fallbacks"] == 3


def test_truncated_long_file_is_reported_by_name(tmp_path):
    path = write_video(tmp_path / "long.avi", frame_pattern(N, w=3 * N), gop=12)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 2 // 3])
    d = PyAVDecoder(seek_min=0)
    with pytest.raises(VideoDecodeError, match="cut.avi: the header lists 90 frames"):
        d.num_frames(cut)
    with pytest.raises(VideoDecodeError, match="cut.avi: (frame 89 requested|decoding failed)"):
        d.read(cut, [80, 89])


class _AnyFrameSeeks(PyAVDecoder):
    """Seeks land on the frame after the keyframe asked (as an imprecise container index can)."""

    def _open(self, path):
        container = super()._open(path)

        class Proxy:
            def __getattr__(self, name):
                return getattr(container, name)

            def seek(self, offset, **kw):
                return container.seek(offset + 1, any_frame=True, **kw)

        return Proxy()


def test_a_seek_that_misses_the_keyframe_falls_back(tmp_path):
    path = write_video(tmp_path / "v.avi", frame_pattern(N, w=3 * N), gop=30)
    d = _AnyFrameSeeks(seek_min=0)
    for clip in (list(range(40, 56)), [70, 45]):
        assert torch.equal(d.read(path, clip), sequential().read(path, clip))
    assert d.stats["seeks"] == 2 and d.stats["fallbacks"] == 2
