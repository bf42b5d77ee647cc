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
