"""Clip samplers: which frame indices a training or evaluation sample reads.

Every sampler returns :class:`ClipIndices`: K arrays of T frame indices, in temporal order (methods that shuffle do
so themselves), plus one metadata value per clip (the playback rate for speed sampling, else 1).

Short videos (fewer frames than the sampler's ``span``) follow the sampler's ``short`` policy, and are always
flagged (``ClipIndices.short``) so that the dataset counts them:

- ``clamp`` (default): indices past the end repeat the last frame (the sample starts at frame 0);
- ``loop``: indices wrap around to the first frame (as Pace does);
- ``skip``: the sampler returns ``None`` and the dataset skips the video, counting it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHORT_POLICIES = ("clamp", "loop", "skip")


@dataclass
class ClipIndices:
    clips: list[np.ndarray]  # K arrays of T frame indices each
    meta: np.ndarray  # [K] per-clip metadata (playback rate), float32
    short: bool = False  # the video was shorter than the sampler's span

    @property
    def unique(self) -> np.ndarray:
        return np.unique(np.concatenate(self.clips))


class _Sampler:
    """Shared logic: a span of frames starting at ``start``; subclasses give offsets relative to the start."""

    short: str = "clamp"
    random_start: bool = True

    def __init__(self, short: str = "clamp"):
        if short not in SHORT_POLICIES:
            raise ValueError(f"short policy must be one of {SHORT_POLICIES}, got {short!r}")
        self.short = short

    @property
    def span(self) -> int:
        raise NotImplementedError

    def offsets(self) -> tuple[list[np.ndarray], np.ndarray]:
        raise NotImplementedError

    @property
    def num_clips(self) -> int:
        return len(self.offsets()[0])

    def _fit(self, idx: np.ndarray, num_frames: int) -> np.ndarray:
        if self.short == "loop":
            return idx % num_frames
        return np.minimum(idx, num_frames - 1)

    def sample(self, num_frames: int, rng: np.random.Generator) -> ClipIndices | None:
        if num_frames <= 0:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        offsets, meta = self.offsets()
        short = num_frames < self.span
        if short and self.short == "skip":
            return None
        if short:
            start = 0
        elif self.random_start:
            start = int(rng.integers(0, num_frames - self.span + 1))
        else:
            start = (num_frames - self.span) // 2
        clips = [self._fit(start + o, num_frames) for o in offsets]
        return ClipIndices(clips, meta, short)


class SingleClip(_Sampler):
    """One clip of ``clip_len`` frames taken every ``stride`` frames, at a random start (centre with random=False)."""

    def __init__(self, clip_len: int = 16, stride: int = 1, random: bool = True, short: str = "clamp"):
        super().__init__(short)
        self.clip_len, self.stride, self.random_start = int(clip_len), int(stride), bool(random)

    @property
    def span(self) -> int:
        return (self.clip_len - 1) * self.stride + 1

    def offsets(self):
        return [np.arange(self.clip_len) * self.stride], np.ones(1, np.float32)


class ClipTuple(_Sampler):
    """K clips of T frames separated by ``gap`` frames (VCOP/TCGL: 3 x 16 with a gap of 8, a 64-frame span)."""

    def __init__(self, num_clips: int = 3, clip_len: int = 16, gap: int = 8, stride: int = 1, short: str = "clamp"):
        super().__init__(short)
        if num_clips < 2:
            raise ValueError("a clip tuple needs at least 2 clips")
        self.k, self.clip_len, self.gap, self.stride = int(num_clips), int(clip_len), int(gap), int(stride)

    @property
    def clip_span(self) -> int:
        return (self.clip_len - 1) * self.stride + 1

    @property
    def span(self) -> int:
        return self.k * self.clip_span + (self.k - 1) * self.gap

    def offsets(self):
        base = np.arange(self.clip_len) * self.stride
        return [base + i * (self.clip_span + self.gap) for i in range(self.k)], np.ones(self.k, np.float32)


class FrameTuple(_Sampler):
    """``num`` short clips (``clip_len`` 1 = single frames) whose starts are ``spacing`` frames apart."""

    def __init__(self, num: int = 3, clip_len: int = 1, spacing: int = 8, short: str = "clamp"):
        super().__init__(short)
        self.num, self.clip_len, self.spacing = int(num), int(clip_len), int(spacing)

    @property
    def span(self) -> int:
        return (self.num - 1) * self.spacing + self.clip_len

    def offsets(self):
        base = np.arange(self.clip_len)
        return [base + i * self.spacing for i in range(self.num)], np.ones(self.num, np.float32)


class SpeedClips(_Sampler):
    """The same start played at several speeds by frame skipping: one clip per rate, ``meta`` holds the rate."""

    def __init__(self, clip_len: int = 16, rates=(1, 2), short: str = "clamp"):
        super().__init__(short)
        self.clip_len, self.rates = int(clip_len), tuple(int(r) for r in rates)
        if not self.rates or min(self.rates) < 1:
            raise ValueError(f"rates must be positive integers, got {rates}")

    @property
    def span(self) -> int:
        return (self.clip_len - 1) * max(self.rates) + 1

    def offsets(self):
        return [np.arange(self.clip_len) * r for r in self.rates], np.asarray(self.rates, np.float32)


class UniformClips(_Sampler):
    """N clips spread uniformly over the video (evaluation; 10 by default), deterministic.

    Starts are ``linspace(0, num_frames - clip_span, N)``, i.e. the VCOP/TCGL test protocol
    (``linspace(cl/2, len - cl/2, N) - cl/2``), rounded (``starts='round'``) or floored as the released code's
    ``int(...)`` (``starts='floor'``). A video shorter than one clip is clamped (and counted).
    """

    random_start = False

    def __init__(
        self, num_clips: int = 10, clip_len: int = 16, stride: int = 1, short: str = "clamp", starts: str = "round"
    ):
        if short == "skip":
            raise ValueError("evaluation never skips videos: use short='clamp' or 'loop'")
        if starts not in ("round", "floor"):
            raise ValueError(f"starts must be 'round' or 'floor', got {starts!r}")
        super().__init__(short)
        self.n, self.clip_len, self.stride, self.starts = int(num_clips), int(clip_len), int(stride), starts

    @property
    def span(self) -> int:
        return (self.clip_len - 1) * self.stride + 1

    def offsets(self):
        return [np.arange(self.clip_len) * self.stride], np.ones(1, np.float32)

    @property
    def num_clips(self) -> int:
        return self.n

    def sample(self, num_frames: int, rng: np.random.Generator | None = None) -> ClipIndices:
        if num_frames <= 0:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        base = np.arange(self.clip_len) * self.stride
        short = num_frames < self.span
        if short:
            starts = np.zeros(self.n, np.int64)
        else:
            if self.starts == "floor":  # exactly the released arithmetic: int(centre - cl/2), centres on a linspace
                half = self.span / 2
                starts = np.trunc(np.linspace(half, num_frames - half, self.n) - half)
            else:
                starts = np.linspace(0, num_frames - self.span, self.n).round()
        clips = [self._fit(int(s) + base, num_frames) for s in starts]
        return ClipIndices(clips, np.ones(self.n, np.float32), short)
