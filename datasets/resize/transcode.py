"""One video: decode the source, scale it so that its shorter side is the target, encode it by its container's codec,
write it under a temporary name beside its destination, check it, and rename it onto the final name.

This is what a worker process runs (``process``); it returns the video's journal entry. Errors are classified: a
source PyAV cannot open, decode or encode is *broken* (an entry with ``status: broken`` and the error, no output);
anything wrong on the output side that is an ``OSError`` (disk full, permission denied, read-only file system) is
raised (:class:`OutputError`), and the command stops: every later video would fail the same way.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from fractions import Fraction
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")  # matched case-insensitively
CODECS = {  # output codec by container (lower-case extension)
    ".mp4": "libx264",
    ".mkv": "libx264",
    ".mov": "libx264",
    ".m4v": "libx264",
    ".avi": "mpeg4",
    ".webm": "libvpx-vp9",
}
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
_PARTIAL = re.compile(r"^\..+\.partial-\d+(\.[^.]*)?$")  # .<stem>.partial-<pid><ext>
_IMAGE_DEMUXERS = ("image2", "image2pipe")  # and every "<codec>_pipe" demuxer: a still image under a video name


class SourceError(Exception):
    """The source cannot be opened, decoded or encoded: the video is *broken* (counted, no output)."""


class OutputError(Exception):
    """The output cannot be written (an ``OSError``: disk full, permissions): fatal for the whole run."""


@dataclasses.dataclass(frozen=True)
class Encoding:
    """The encoder settings of a run (all of them land in the journal's settings line and the manifest)."""

    short_side: int
    crf: int = 23  # libx264
    preset: str = "veryfast"  # libx264
    qscale: int = 3  # mpeg4: fixed quantiser (2 = best .. 31)
    vp9_crf: int = 32  # libvpx-vp9: constant quality (0 = best .. 63), realtime deadline, cpu-used 8

    def options(self, codec: str) -> dict[str, str]:
        """FFmpeg encoder options of ``codec`` (one thread is set on the codec context, not here)."""
        if codec == "libx264":
            return {"crf": str(self.crf), "preset": self.preset}
        if codec == "mpeg4":  # with +qscale and no per-frame quality, mpeg4 encodes every frame at qmin
            return {"flags": "+qscale", "qmin": str(self.qscale), "qmax": str(self.qscale)}
        if codec == "libvpx-vp9":
            return {"crf": str(self.vp9_crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "0"}
        raise ValueError(f"no settings for codec {codec!r}")


@dataclasses.dataclass(frozen=True)
class Task:
    """One video for a worker. ``reuse``: an output already at ``dst`` (not journaled) is probed and kept if valid."""

    rel: str  # path relative to the roots, POSIX separators
    src: str
    dst: str
    encoding: Encoding
    reuse: bool = False


def is_video(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def partial_name(path: Path, pid: int | None = None) -> Path:
    """The temporary name an output is written under, beside it: ``.<stem>.partial-<pid><ext>``."""
    return path.with_name(f".{path.stem}.partial-{os.getpid() if pid is None else pid}{path.suffix}")


def is_partial(name: str) -> bool:
    return bool(_PARTIAL.match(name))


def target_size(width: int, height: int, short_side: int) -> tuple[int, int] | None:
    """(width, height) with the shorter side ``short_side``, the aspect ratio kept and both sides even; None when
    the shorter side is already ``short_side`` or less (never upscale: the file is copied)."""
    short, long_ = min(width, height), max(width, height)
    if short <= short_side:
        return None
    other = max(2, 2 * round(long_ * short_side / short / 2))
    return (short_side, other) if width <= height else (other, short_side)


# ---------------------------------------------------------------------------------------------- reading
def _open_source(path: str):
    """The container and its first video stream, decoding on one thread; SourceError when it is not a video."""
    import av

    try:
        container = av.open(path)
    except Exception as e:  # av.error.* and OSError
        raise SourceError(f"cannot open: {e}") from e
    fmt = container.format.name or ""
    if not container.streams.video or fmt in _IMAGE_DEMUXERS or fmt.endswith("_pipe"):
        container.close()
        raise SourceError("no video stream" if fmt not in _IMAGE_DEMUXERS else f"a still image ({fmt}), not a video")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        container.close()
        raise SourceError("no decoder for its video codec")
    stream.codec_context.thread_count = 1
    return container, stream


def _frames(container, stream):
    """The decoded frames; a decoding error is a SourceError."""
    it = container.decode(stream)
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except Exception as e:
            raise SourceError(f"decoding failed: {type(e).__name__}: {e}") from e
        yield frame


def frame_rate(stream) -> Fraction | None:
    """The stream's frame rate (average, else guessed, else base), or None when the file gives none."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return Fraction(rate)
    return None


def _fps(rate: Fraction | None) -> float | None:
    return None if rate is None else round(float(rate), 6)


def probe(path: str) -> dict:
    """``{width, height, frames, fps}`` of a video, every frame decoded (width/height: the first frame's)."""
    container, stream = _open_source(path)
    try:
        n, size = 0, None
        for frame in _frames(container, stream):
            size = size or (frame.width, frame.height)
            n += 1
        rate = frame_rate(stream)
    finally:
        container.close()
    if n == 0:
        raise SourceError("the video has no decodable frames")
    return {"width": size[0], "height": size[1], "frames": n, "fps": _fps(rate)}


# ---------------------------------------------------------------------------------------------- writing
def _output_rate(rate: Fraction | None, codec: str) -> Fraction:
    rate = rate or Fraction(25)  # no rate in the file: frames are kept, their timing is made up
    return rate.limit_denominator(65535) if codec == "mpeg4" else rate  # MPEG-4 Part 2's time base limit


def _encode(frames, first, out_path: Path, size: tuple[int, int], rate: Fraction | None, enc: Encoding) -> int:
    """Scale and encode ``first`` then ``frames`` into ``out_path``; returns the number of frames written."""
    import av
    from av.video.reformatter import Interpolation, VideoReformatter

    ext = out_path.suffix.lower()
    codec = CODECS[ext]
    scaler = VideoReformatter()
    n = 0
    with av.open(str(out_path), "w", format=MUXERS[ext]) as out:
        out_rate = _output_rate(rate, codec)
        step = 1 / out_rate
        stream = out.add_stream(codec, rate=out_rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = enc.options(codec)
        for frame in _chain(first, frames):
            small = scaler.reformat(
                frame, width=size[0], height=size[1], format="yuv420p", interpolation=Interpolation.AREA, threads=1
            )
            small.pts, small.time_base = n, step  # constant rate: frame n at n / rate
            for packet in stream.encode(small):
                out.mux(packet)
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    return n


def _chain(first, rest):
    yield first
    yield from rest


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_output(path: Path, size: tuple[int, int], frames: int) -> int:
    """The output decodes to ``frames`` frames of ``size``; returns its byte count. SourceError otherwise."""
    try:
        got = probe(str(path))
    except SourceError as e:
        raise SourceError(f"the encoded output does not decode ({e})") from e
    if (got["width"], got["height"], got["frames"]) != (*size, frames):
        raise SourceError(
            f"the encoded output has {got['frames']} frames of {got['width']}x{got['height']}, "
            f"expected {frames} of {size[0]}x{size[1]}"
        )
    return path.stat().st_size


def _transcode_into(task: Task, tmp: Path) -> tuple[str, dict, dict]:
    """Decode the source once, encoding it into ``tmp`` unless it is small enough to be copied then: (status,
    source, output)."""
    container, stream = _open_source(task.src)
    try:
        frames = _frames(container, stream)
        first = next(frames, None)
        if first is None:
            raise SourceError("the video has no decodable frames")
        rate, (w, h) = frame_rate(stream), (first.width, first.height)
        size = target_size(w, h, task.encoding.short_side)
        if size is None:
            n = 1 + sum(1 for _ in frames)
        else:
            try:
                n = _encode(frames, first, tmp, size, rate, task.encoding)
            except (SourceError, OSError):
                raise
            except Exception as e:  # FFmpeg refused this stream's frames or rate: the source's fault, not the disk's
                raise SourceError(f"cannot encode: {type(e).__name__}: {e}") from e
    finally:
        container.close()
    source = {"width": w, "height": h, "frames": n, "fps": _fps(rate)}
    if size is None:
        shutil.copyfile(task.src, tmp)
        return "copied", source, {"width": w, "height": h, "bytes": tmp.stat().st_size}
    return "transcoded", source, {"width": size[0], "height": size[1], "bytes": _check_output(tmp, size, n)}


def _reusable(task: Task, source: dict) -> tuple[str, dict] | None:
    """(status, output) of an existing, unjournaled ``dst`` when it is what this run would write, else None: the
    source's bytes where it is copied, else a file that decodes to the source's frame count at the target size."""
    dst = Path(task.dst)
    size = target_size(source["width"], source["height"], task.encoding.short_side)
    if size is None:
        if dst.stat().st_size != os.stat(task.src).st_size or not _same_bytes(task.src, task.dst):
            return None
        return "copied", {"width": source["width"], "height": source["height"], "bytes": dst.stat().st_size}
    try:
        nbytes = _check_output(dst, size, source["frames"])
    except SourceError:
        return None
    return "transcoded", {"width": size[0], "height": size[1], "bytes": nbytes}


def _same_bytes(a: str, b: str, chunk: int = 1 << 20) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


def source_stamp(path: str) -> dict:
    """``{bytes, mtime_ns}`` of a source (empty when it is gone): the journal redoes a video whose stamp changed."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _entry(task: Task, status: str, source: dict | None, output: dict | None, t0: float, **extra) -> dict:
    """The journal entry of one video (``seconds``: the time it took, journal only)."""
    src = {**source_stamp(task.src), **(source or {})}
    seconds = round(time.perf_counter() - t0, 3)
    return {"path": task.rel, "status": status, "source": src, "output": output, **extra, "seconds": seconds}


def process(task: Task) -> dict:
    """Transcode (or copy) one video onto ``task.dst``; returns its journal entry. Raises OutputError only."""
    t0 = time.perf_counter()
    dst = Path(task.dst)
    tmp = partial_name(dst)
    try:
        if task.reuse and dst.is_file():
            source = probe(task.src)
            kept = _reusable(task, source)
            if kept is not None:
                return _entry(task, kept[0], source, kept[1], t0, reused=True)
        dst.parent.mkdir(parents=True, exist_ok=True)
        status, source, output = _transcode_into(task, tmp)
        _fsync(tmp)
        os.replace(tmp, dst)
    except SourceError as e:
        _remove(tmp)
        _remove(dst)  # an older output of a source that is broken now
        return _entry(task, "broken", None, None, t0, error=str(e))
    except OSError as e:
        _remove(tmp)
        raise OutputError(f"{task.dst}: {type(e).__name__}: {e}") from e
    except BaseException:
        _remove(tmp)
        raise
    return _entry(task, status, source, output, t0)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
