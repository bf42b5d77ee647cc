"""Deterministic encoders of the synthetic layouts: ``write_video`` (ucf101 / hmdb51: MPEG-4 part 2 in AVI, as
UCF101's Xvid files), ``write_mp4`` (kinetics400: H.264, libx264) and ``write_webm`` (ssv2: VP9, libvpx-vp9). All
encode with one thread and bitexact muxing, so the same frames give byte-identical files (with the same PyAV /
FFmpeg build; checked by tests/datasets/test_synthetic_layouts.py and the digests of
tests/datasets/test_synthetic_digest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# constant quality; x264's defaults otherwise (B-frames, CABAC, as most Kinetics videos); VP9 in constant-quality mode
_H264 = {"preset": "veryfast", "crf": "18", "flags": "+bitexact"}
_VP9 = {"crf": "20", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "0", "flags": "+bitexact"}


def _encode(path: Path, frames: np.ndarray, fps: int, container: str, codec: str, options: dict[str, str]) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = dict(options)
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_video(path: Path, frames: np.ndarray, fps: int, quality: int = 2) -> None:
    """Deterministic mpeg4 (Xvid-like, as UCF101) in AVI: single thread, fixed quantiser ``quality``, bitexact."""
    # fixed quantiser: with +qscale and no per-frame quality, mpeg4 uses qmin, so qmin = qmax = quality
    _encode(
        path, frames, fps, "avi", "mpeg4", {"flags": "+qscale+bitexact", "qmin": str(quality), "qmax": str(quality)}
    )


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """H.264 (libx264, yuv420p, crf 18) in mp4; ``frames`` [T, H, W, 3] uint8 RGB, even H and W."""
    _encode(path, frames, fps, "mp4", "libx264", _H264)


def write_webm(path: Path, frames: np.ndarray, fps: int) -> None:
    """VP9 (libvpx-vp9, yuv420p, crf 20) in WebM; ``frames`` [T, H, W, 3] uint8 RGB, even H and W."""
    _encode(path, frames, fps, "webm", "libvpx-vp9", _VP9)
