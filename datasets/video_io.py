"""Video decoding behind one small interface.

A decoder answers two questions: how many frames a file has, and the RGB frames at given indices, as a uint8
``T x H x W x C`` tensor in the order asked. PyAV seeks to the keyframe before the first frame a clip needs, decodes
only up to the last one and converts to RGB only the frames asked for. A frame cache or GPU decoding can be added later
as another ``VideoDecoder``.

Backends: PyAV (always available, bundles FFmpeg) and torchcodec when it is installed and loads.

Policy for hostile or unusual files. Every refusal is a :class:`~datasets.errors.VideoDecodeError` naming the file;
what happens next is the dataset's policy (datasets/clips.py: skipped and counted in training, an error in
evaluation):

- zero-byte file: refused before FFmpeg sees it;
- truncated file: refused when it holds fewer frames than its header lists, or when a frame asked for is not there;
- not a video (text, an audio-only file, an unknown codec/FourCC): refused at open, or at the first decode;
- a still image under a video name (a PNG renamed ``.avi``: FFmpeg's image demuxers would read it as one frame):
  refused, it is not a video;
- huge resolution: frames above ``max_pixels`` (default :data:`MAX_PIXELS`, 3840 x 2160 = 4K UHD) are refused
  from the header, before anything is decoded (one 16-frame clip of a 4000 x 3000 video is 576 MB of RGB; UCF101
  and HMDB51 are 320 x 240); downscale such a file first (``ffmpeg -vf scale=-2:240``);
- a 1-frame (or any short) video is a valid video: the sampler's ``short`` policy applies and it is counted
  (``n_short``), see datasets/samplers.py;
- variable frame rate: frames are indexed in decode order, timestamps are not trusted as frame indices (the
  seeking path checks them and falls back to counting frames, see :class:`PyAVDecoder`).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, Protocol, Sequence

import numpy as np
import torch

from datasets.errors import VideoDecodeError

_FIX = "re-encode or remove the file; `python -m datasets.check` lists every broken video of a split"
MAX_PIXELS = 3840 * 2160  # per frame; larger videos are refused (see the policy above)
_IMAGE_DEMUXERS = ("image2", "image2pipe")  # and every "<codec>_pipe" demuxer (png_pipe, jpeg_pipe, ...)


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise VideoDecodeError(
            f"{path}: {width}x{height} frames exceed the limit of {max_pixels} pixels per frame (4K UHD); "
            f"downscale the video first (e.g. ffmpeg -i IN -vf scale=-2:240 OUT) or raise max_pixels"
        )


class VideoDecoder(Protocol):
    name: str

    def num_frames(self, path: str | Path) -> int: ...

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor: ...


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: zero-byte file; {_FIX}")


class _Scan(NamedTuple):
    frames: int  # packets that decode to a frame: what a sequential decode yields
    grid: tuple[int, Fraction] | None  # (start, step): frame k has pts start + k * step; None if not so
    keys: np.ndarray  # frame indices of the keyframes, ascending (empty without a grid)


def _scan_packets(stream, pts: list, key: list) -> tuple[_Scan, int]:
    """The scan of one stream's frame packets (timestamps, keyframe flags), and the number of frame periods they
    span. The grid is set when the timestamps are exactly ``start + k * step`` for k = 0..n-1 (a constant frame rate
    without gaps or duplicates: then a timestamp gives the decode-order frame index)."""
    rate, tb, start = stream.average_rate, stream.time_base, stream.start_time
    if not rate or not tb or start is None or not pts or None in pts:
        return _Scan(len(pts), None, np.zeros(0, np.int64)), len(pts)
    step = 1 / (rate * tb)  # pts units per frame, exact (Fractions)
    pos = (np.asarray(pts, dtype=np.float64) - start) / float(step)
    span = int(round(pos.max())) + 1
    if np.abs(np.sort(pos) - np.arange(len(pts))).max() >= 0.1:
        return _Scan(len(pts), None, np.zeros(0, np.int64)), span
    return _Scan(len(pts), (int(start), step), np.sort(pos.round().astype(np.int64)[np.asarray(key, bool)])), span


class PyAVDecoder:
    """Decodes forward from the keyframe at or before the first frame asked, converting only the frames asked.

    A frame's index is its position in decode (display) order; ``num_frames`` counts the packets that decode to a
    frame, as a sequential decode does (AVI's ``stream.frames`` also counts dropped-frame entries), and reports a file
    that holds fewer frames than its header lists as truncated. One demux pass per file (cached) also finds the
    keyframes and checks that the timestamps form a constant-rate grid. Then a read seeks to the last keyframe at or
    before its first index (when that skips more than ``seek_min`` frames) and computes each decoded frame's index
    from its timestamp, ``round((pts - start_time) * time_base * average_rate)``. The indices are trusted only while
    they stay consistent (the first decoded frame is a keyframe at or before the first index asked, then +1 per frame,
    on the grid); otherwise, and on any error, the read starts again from frame 0 and counts frames.
    ``stats`` counts decoded frames, seeks and fallbacks to counting (instrumentation for tests and benchmarks).
    An instance holds one RGB scaler context and a scan cache: use one per thread (DataLoader workers are processes).
    """

    name = "pyav"
    _CACHE = 50_000  # scanned files remembered (UCF101 has 13,320 videos)

    def __init__(self, seek_min: int = 2, max_pixels: int = MAX_PIXELS):
        import av
        import av.video.reformatter

        self._av = av
        self._rgb = av.video.reformatter.VideoReformatter()  # one scaler context for all frames: 0.1 vs 0.4 ms
        self.seek_min = int(seek_min)
        self.max_pixels = int(max_pixels)
        self.stats = {"decoded": 0, "seeks": 0, "fallbacks": 0}
        self._scans: dict[tuple, _Scan] = {}

    def _open(self, path: Path):
        _check_file(path)
        try:
            container = self._av.open(str(path))
        except Exception as e:  # av.error.* and OSError
            raise VideoDecodeError(f"{path}: cannot open video ({e}); {_FIX}") from e
        fmt = container.format.name or ""
        try:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: has no video stream; {_FIX}")
            if fmt in _IMAGE_DEMUXERS or fmt.endswith("_pipe"):
                raise VideoDecodeError(f"{path}: is a still image ({fmt}), not a video; {_FIX}")
            cc = container.streams.video[0].codec_context
            if cc is None:  # FFmpeg has no decoder for this codec / FourCC
                raise VideoDecodeError(f"{path}: no decoder for its video codec; {_FIX}")
            _check_size(path, int(cc.width or 0), int(cc.height or 0), self.max_pixels)
        except VideoDecodeError:
            container.close()
            raise
        return container

    def _scan(self, path: Path) -> _Scan:
        """Frame count and timestamp grid from the packets (demuxed, not decoded: about 5 us per frame). AVI lists
        dropped frames in ``stream.frames`` (then the timestamps still span it); a truncated file does not."""
        _check_file(path)
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key in self._scans:
            return self._scans[key]
        container = self._open(path)
        try:
            stream = container.streams.video[0]
            packets = [(p.pts, p.is_keyframe, p.is_discard) for p in container.demux(stream) if p.size > 0]
            kept = [p for p in packets if not p[2]]  # discarded: cut by an edit list, never output
            scan, span = _scan_packets(stream, [p[0] for p in kept], [p[1] for p in kept])
            header = int(stream.frames or 0)
        except Exception as e:
            raise VideoDecodeError(f"{path}: cannot read the frame count ({e}); {_FIX}") from e
        finally:
            container.close()
        if scan.frames <= 0:
            raise VideoDecodeError(f"{path}: the video has no frames; {_FIX}")
        if len(packets) < header and span < header:  # not explained by edit lists or AVI's dropped-frame entries
            raise VideoDecodeError(
                f"{path}: the header lists {header} frames but the file holds {scan.frames} (truncated file?); {_FIX}"
            )
        if len(self._scans) >= self._CACHE:
            del self._scans[next(iter(self._scans))]
        self._scans[key] = scan
        return scan

    def num_frames(self, path: str | Path) -> int:
        return self._scan(Path(path)).frames

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        path = Path(path)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            raise ValueError("read() needs at least one frame index")
        if idx.min() < 0:
            raise ValueError(f"negative frame index in {idx.tolist()}")
        wanted = set(idx.tolist())
        got = self._read_seeking(path, wanted)
        if got is None:
            got = self._read_sequential(path, wanted)
        return torch.from_numpy(np.stack([got[i] for i in idx.tolist()]))

    def _read_sequential(self, path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
        last, n = max(wanted), 0
        got: dict[int, np.ndarray] = {}
        container = self._open(path)
        try:
            for i, frame in enumerate(container.decode(container.streams.video[0])):
                self.stats["decoded"] += 1
                n = i + 1
                if i in wanted:
                    got[i] = self._rgb.reformat(frame, format="rgb24").to_ndarray()
                if i >= last:
                    break
        except Exception as e:
            raise VideoDecodeError(f"{path}: decoding failed ({type(e).__name__}: {e}); {_FIX}") from e
        finally:
            container.close()
        if len(got) < len(wanted):
            raise VideoDecodeError(
                f"{path}: frame {last} requested but only {n} decodable frame(s) (truncated file?); {_FIX}"
            )
        return got

    def _read_seeking(self, path: Path, wanted: set[int]) -> dict[int, np.ndarray] | None:
        """The frames asked, decoded from the last keyframe at or before the first one; None where that skips no
        more than ``seek_min`` frames, or timestamps cannot be trusted as frame indices, or anything fails."""
        first, last = min(wanted), max(wanted)
        got: dict[int, np.ndarray] = {}
        try:
            scan = self._scan(path)
        except VideoDecodeError:  # the sequential read reports it
            self.stats["fallbacks"] += 1
            return None
        keys = scan.keys[scan.keys <= first]
        if scan.grid is None or not len(keys) or keys[-1] <= self.seek_min:
            self.stats["fallbacks"] += int(scan.grid is None)
            return None
        start, step = scan.grid
        container = self._open(path)
        try:
            stream = container.streams.video[0]
            container.seek(start + int(keys[-1] * step), stream=stream)  # backward: lands on that keyframe
            self.stats["seeks"] += 1
            prev = None
            for frame in container.decode(stream):
                self.stats["decoded"] += 1
                pos = (frame.pts - start) / step if frame.pts is not None else -1  # no pts: fails the checks
                i = round(pos)
                ok = i == prev + 1 if prev is not None else frame.key_frame and 0 <= i <= first
                if not ok or abs(pos - i) > 0.1:  # landed after the frame, a duplicate, a gap, off the grid
                    self.stats["fallbacks"] += 1
                    return None
                prev = i
                if i in wanted:
                    got[i] = self._rgb.reformat(frame, format="rgb24").to_ndarray()
                if i >= last:
                    break
        except Exception:  # the sequential read reports it, naming the file
            got = {}
        finally:
            container.close()
        if len(got) < len(wanted):
            self.stats["fallbacks"] += 1
            return None
        return got


class TorchCodecDecoder:
    """torchcodec's VideoDecoder (needs system FFmpeg libraries)."""

    name = "torchcodec"

    def __init__(self, max_pixels: int = MAX_PIXELS):
        from torchcodec.decoders import VideoDecoder as _TCDecoder

        self._cls = _TCDecoder
        self.max_pixels = int(max_pixels)

    def _open(self, path: Path):
        _check_file(path)
        try:
            dec = self._cls(str(path), dimension_order="NHWC")
        except Exception as e:
            raise VideoDecodeError(f"{path}: cannot open video ({e}); {_FIX}") from e
        _check_size(path, int(dec.metadata.width or 0), int(dec.metadata.height or 0), self.max_pixels)
        return dec

    def num_frames(self, path: str | Path) -> int:
        path = Path(path)
        n = int(self._open(path).metadata.num_frames or 0)
        if n <= 0:
            raise VideoDecodeError(f"{path}: the video has no frames; {_FIX}")
        return n

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        path = Path(path)
        try:
            return self._open(path).get_frames_at(indices=list(map(int, indices))).data
        except VideoDecodeError:
            raise
        except Exception as e:
            raise VideoDecodeError(f"{path}: decoding failed ({e}); {_FIX}") from e


def get_decoder(name: str | None = None) -> VideoDecoder:
    """``pyav``, ``torchcodec`` or ``auto`` (torchcodec if it loads, else PyAV). Env var ``VSSL_DECODER`` overrides."""
    name = name or os.environ.get("VSSL_DECODER", "pyav")
    if name == "pyav":
        return PyAVDecoder()
    if name == "torchcodec":
        return TorchCodecDecoder()
    if name == "auto":
        try:
            return TorchCodecDecoder()
        except Exception:
            return PyAVDecoder()
    raise ValueError(f"unknown decoder {name!r}; choose pyav, torchcodec or auto")
