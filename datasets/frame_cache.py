"""A decoded-frame cache: every frame of a video, resized once to the clip geometry's ``resize`` (128x171), kept as a
uint8 ``.npy`` file that loaders memory-map.

It is a :class:`~datasets.video_io.VideoDecoder`: a ClipDataset reads its frames through it instead of decoding the
video (``paths.frame_cache``). A missing entry is made on first use (the whole video decoded and resized), so the
first epoch builds the cache as it goes; ``python -m datasets.frame_cache`` builds it ahead, in parallel.

Exactness: the frames are resized by :func:`datasets.transforms.resize_frames`, the function the transform would
otherwise apply per clip, so a clip read through the cache equals the one decoded from the video, bit for bit
(tests/datasets/test_frame_cache.py). Then ``ClipTransform.geometry`` finds frames of the right size and only crops
and flips.

Keys: an entry's name is a hash of the video's absolute path, size and modification time, the resize, and
:data:`VERSION`: a replaced or edited video, or another geometry, makes a new entry, never reuses a stale one.
Entries are written to a temporary file and renamed, so a killed build or two workers making the same entry never
leave a partial one. Size: 65.7 KB per frame at 128x171 (UCF101's ~2.5M frames: ~165 GB; the embedded bench set:
2.4 GB).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from datasets.transforms import resize_frames
from datasets.video_io import VideoDecoder, get_decoder

log = logging.getLogger(__name__)
VERSION = 1
CHUNK = 256  # frames decoded and resized at a time while building an entry


class FrameCache:
    """A ``VideoDecoder`` over cached, resized frames; ``source`` decodes what is not cached yet (a decoder name for
    ``datasets.video_io.get_decoder``, made lazily in each worker process). ``stats`` counts hits and builds."""

    name = "frame_cache"

    def __init__(self, root: str | Path, resize: tuple[int, int], source: str | None = None):
        self.root, self.resize, self.source = Path(root), (int(resize[0]), int(resize[1])), source
        self._decoder: VideoDecoder | None = None
        self.stats = {"hits": 0, "built": 0, "rebuilt": 0}

    def __getstate__(self):  # decoders hold library handles: each worker makes its own
        return {**self.__dict__, "_decoder": None}

    @property
    def decoder(self) -> VideoDecoder:
        if self._decoder is None:
            self._decoder = get_decoder(self.source)
        return self._decoder

    def entry(self, path: str | Path) -> Path:
        path = Path(path).resolve()
        st = path.stat()  # FileNotFoundError for a missing video, as the decoders
        key = f"v{VERSION}|{path}|{st.st_size}|{st.st_mtime_ns}|{self.resize[0]}x{self.resize[1]}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.root / digest[:2] / f"{digest}.npy"

    def frames(self, path: str | Path) -> np.ndarray:
        """All frames of ``path``, resized: a read-only ``[N, H, W, 3]`` uint8 memory map (built when missing; an
        unreadable entry, which the atomic writes never leave but a damaged disk can, is logged and made again from
        the video)."""
        file = self.entry(path)
        if file.exists():
            try:
                frames = np.load(file, mmap_mode="r")
                if frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[1:] == (*self.resize, 3):
                    self.stats["hits"] += 1
                    return frames
                why = f"it holds {frames.dtype} {frames.shape}"
            except (OSError, ValueError) as e:
                why = str(e)
            log.warning(
                "frame cache entry %s of %s is unreadable (%s); making it again from the video", file, path, why
            )
            self.stats["rebuilt"] += 1
        self.build(path, file)
        return np.load(file, mmap_mode="r")

    def build(self, path: str | Path, file: Path | None = None) -> Path:
        """Decode and resize every frame of ``path`` into its entry, ``CHUNK`` frames at a time (a long video never
        sits in memory at full resolution)."""
        file = file or self.entry(path)
        n = self.decoder.num_frames(path)  # a broken video raises VideoDecodeError here or below, naming the file
        tmp = None
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{file.stem}-", suffix=".npy", dir=file.parent)
            os.close(fd)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, *self.resize, 3))
            for start in range(0, n, CHUNK):
                chunk = self.decoder.read(path, range(start, min(n, start + CHUNK)))
                out[start : start + len(chunk)] = resize_frames(chunk, self.resize).numpy()
            out.flush()
            del out
            os.replace(tmp, file)
        except OSError as e:  # full disk, read-only folder: nothing partial is left, the run stops naming the fix
            raise OSError(
                e.errno,
                f"frame cache: cannot write the entry of {path} under {self.root} ({e}); free "
                "space there, point paths.frame_cache at a writable folder, or set it to null to decode "
                "the videos",
            ) from e
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        self.stats["built"] += 1
        return file

    # -- the VideoDecoder interface --------------------------------------------------------------------------------
    def num_frames(self, path: str | Path) -> int:
        return int(self.frames(path).shape[0])

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64)
        frames = self.frames(path)
        if idx.size == 0:
            raise ValueError("read() needs at least one frame index")
        if idx.min() < 0 or idx.max() >= len(frames):
            raise ValueError(f"frame indices {idx.min()}..{idx.max()} outside the {len(frames)} frames of {path}")
        return torch.from_numpy(np.ascontiguousarray(frames[idx]))


def _build_one(args) -> int:
    root, resize, path = args
    cache = FrameCache(root, resize)
    if not cache.entry(path).exists():
        cache.build(path)
    return cache.stats["built"]


def build_all(root: str | Path, resize: tuple[int, int], paths: list[Path], workers: int) -> int:
    """Make the entries of ``paths`` that are missing, with ``workers`` processes; returns how many were built."""
    jobs = [(str(root), tuple(resize), str(p)) for p in paths]
    if workers <= 1:
        return sum(map(_build_one, jobs))
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        return sum(pool.imap_unordered(_build_one, jobs, chunksize=4))


def main(argv=None) -> None:
    from datasets.splits import load_split

    p = argparse.ArgumentParser(description="Build the decoded-frame cache of every video a split lists.")
    p.add_argument("--layout", choices=["ucf101", "hmdb51"], required=True)
    p.add_argument("--root", required=True, help="dataset root (as for python -m datasets.check)")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="the cache folder (paths.frame_cache)")
    p.add_argument("--resize", type=int, nargs=2, default=[128, 171], metavar=("H", "W"))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = p.parse_args(argv)
    idx = load_split(a.layout, a.root, a.split)
    paths = sorted({e.path for e in idx.train + idx.test})
    built = build_all(a.out, tuple(a.resize), paths, a.workers)
    print(f"frame cache {a.out}: {built} built, {len(paths) - built} already there ({len(paths)} videos)")


if __name__ == "__main__":
    main()
