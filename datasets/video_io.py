"""Video decoding behind one small interface.

A decoder answers two questions: how many frames a file has, and the RGB frames at given indices, as a uint8
``T x H x W x C`` tensor in the order asked. It decodes only up to the last frame a clip needs, converting to RGB only
the frames asked for. A frame cache or GPU decoding can be added later as another ``VideoDecoder``.

Backends: PyAV (always available, bundles FFmpeg) and torchcodec when it is installed and loads.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from datasets.errors import VideoDecodeError

_FIX = "re-encode or remove the file; `python -m datasets.check` lists every broken video of a split"


class VideoDecoder(Protocol):
    name: str

    def num_frames(self, path: str | Path) -> int: ...

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor: ...


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: zero-byte file; {_FIX}")


class PyAVDecoder:
    """Sequential decode from the first frame to the last index needed; RGB conversion only where asked."""

    name = "pyav"

    def __init__(self):
        import av  # noqa: F401  (fail early with a clear ImportError)

        self._av = av

    def _open(self, path: Path):
        _check_file(path)
        try:
            container = self._av.open(str(path))
        except Exception as e:  # av.error.* and OSError
            raise VideoDecodeError(f"{path}: cannot open video ({e}); {_FIX}") from e
        if not container.streams.video:
            container.close()
            raise VideoDecodeError(f"{path}: has no video stream; {_FIX}")
        return container

    def num_frames(self, path: str | Path) -> int:
        path = Path(path)
        container = self._open(path)
        try:
            stream = container.streams.video[0]
            n = int(stream.frames or 0)
            if n <= 0:  # the container does not store it: count the packets that carry a frame
                n = sum(1 for p in container.demux(stream) if p.size > 0)
        except Exception as e:
            raise VideoDecodeError(f"{path}: cannot read the frame count ({e}); {_FIX}") from e
        finally:
            container.close()
        if n <= 0:
            raise VideoDecodeError(f"{path}: the video has no frames; {_FIX}")
        return n

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        path = Path(path)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            raise ValueError("read() needs at least one frame index")
        if idx.min() < 0:
            raise ValueError(f"negative frame index in {idx.tolist()}")
        wanted = set(idx.tolist())
        last = int(idx.max())
        got: dict[int, np.ndarray] = {}
        container = self._open(path)
        try:
            stream = container.streams.video[0]
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    got[i] = frame.to_ndarray(format="rgb24")
                if i >= last:
                    break
        except Exception as e:
            raise VideoDecodeError(f"{path}: decoding failed ({type(e).__name__}: {e}); {_FIX}") from e
        finally:
            container.close()
        if len(got) < len(wanted):
            have = max(got) + 1 if got else 0
            raise VideoDecodeError(
                f"{path}: frame {last} requested but only {have} decodable frame(s) (truncated file?); {_FIX}"
            )
        return torch.from_numpy(np.stack([got[i] for i in idx.tolist()]))


class TorchCodecDecoder:
    """torchcodec's VideoDecoder (needs system FFmpeg libraries)."""

    name = "torchcodec"

    def __init__(self):
        from torchcodec.decoders import VideoDecoder as _TCDecoder  # noqa: F401

        self._cls = _TCDecoder

    def _open(self, path: Path):
        _check_file(path)
        try:
            return self._cls(str(path), dimension_order="NHWC")
        except Exception as e:
            raise VideoDecodeError(f"{path}: cannot open video ({e}); {_FIX}") from e

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
