"""Shared helpers for the methods tests: tiny batches and synthetic moving-blob videos with a built-in signal."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from methods.backbones import Backbone


def blob_videos(
    n: int,
    length: int,
    size: int = 32,
    *,
    power: float = 2.0,
    travel: float = 0.45,
    radius: tuple[float, float] = (0.08, 0.3),
    speed_jitter: float = 0.2,
    noise: float = 0.02,
    seed: int = 0,
) -> torch.Tensor:
    """``[n, 3, length, size, size]`` videos of one coloured Gaussian blob.

    The blob moves along a random direction and grows; its progress along the path is ``(t / (length-1)) ** power``
    (``power=1``: constant speed, ``power=2``: accelerating), scaled per video by ``1 +- speed_jitter``. Time
    therefore shows in every frame (size, position along the path) and in every clip (speed), which is the
    pretext signal order and speed tasks can learn.
    """
    g = torch.Generator().manual_seed(seed)
    prog = (torch.arange(length, dtype=torch.float32) / (length - 1)) ** power  # [L]
    scale = 1.0 + speed_jitter * (2 * torch.rand(n, 1, generator=g) - 1)  # [n, 1]
    prog = (prog.unsqueeze(0) * scale).clamp(max=1.0 + speed_jitter)  # [n, L]
    angle = 2 * math.pi * torch.rand(n, generator=g)
    direction = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # [n, 2]
    start = 0.5 - direction * travel / 2
    centre = (start.unsqueeze(1) + direction.unsqueeze(1) * travel * prog.unsqueeze(-1)) * size  # [n, L, 2]
    rad = (radius[0] + (radius[1] - radius[0]) * prog.clamp(max=1.0)) * size  # [n, L]
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    dy = coords.view(1, 1, size, 1) - centre[..., 1].view(n, length, 1, 1)
    dx = coords.view(1, 1, 1, size) - centre[..., 0].view(n, length, 1, 1)
    blob = torch.exp(-(dx**2 + dy**2) / (2 * rad.view(n, length, 1, 1) ** 2))  # [n, L, H, W]
    colour = 0.4 + 0.6 * torch.rand(n, 3, generator=g)
    video = colour.view(n, 3, 1, 1, 1) * blob.unsqueeze(1)
    video = video + noise * torch.randn(video.shape, generator=g)
    return (video - 0.25) / 0.25


def take_clips(videos: torch.Tensor, vid: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """``videos [N, C, L, H, W]``, ``vid [B]``, ``frames [B, K, T]`` -> clips ``[B, K, C, T, H, W]``."""
    out = videos[vid.view(-1, 1, 1), :, frames]  # [B, K, T, C, H, W]
    return out.permute(0, 1, 3, 2, 4, 5).contiguous()


def _batch(videos, offsets, batch_size, gen, meta=None):
    n, _, length = videos.shape[:3]
    span = int(offsets.max()) + 1
    vid = torch.randint(n, (batch_size,), generator=gen)
    start = torch.randint(length - span + 1, (batch_size,), generator=gen)
    clips = take_clips(videos, vid, start.view(-1, 1, 1) + offsets.unsqueeze(0))
    k = offsets.shape[0]
    meta = torch.zeros(batch_size, k) if meta is None else meta.expand(batch_size, k).clone()
    return {"clips": clips, "meta": meta, "label": torch.zeros(batch_size, dtype=torch.long), "index": vid}


def tuple_batch(videos, batch_size, num_clips, clip_len, gap, gen):
    """Ordered clip tuples as ``ClipTuple`` gives them."""
    offsets = torch.stack([k * (clip_len + gap) + torch.arange(clip_len) for k in range(num_clips)])
    return _batch(videos, offsets, batch_size, gen)


def speed_batch(videos, batch_size, clip_len, rates, gen):
    """One clip per rate from a common start, as ``SpeedClips`` gives them (``meta`` = rate)."""
    offsets = torch.stack([torch.arange(clip_len) * r for r in rates])
    return _batch(videos, offsets, batch_size, gen, meta=torch.tensor(rates, dtype=torch.float32).view(1, -1))


def frame_tuple_batch(videos, batch_size, num, clip_len, spacing, gen):
    """``num`` ordered frames / short clips ``spacing`` frames apart, as ``FrameTuple`` gives them."""
    offsets = torch.stack([k * spacing + torch.arange(clip_len) for k in range(num)])
    return _batch(videos, offsets, batch_size, gen)


def random_batch(batch_size, num_clips, clip_len, size=16, num_classes=5, meta=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(batch_size, num_clips, 3, clip_len, size, size, generator=g)
    if meta is None:
        meta = torch.zeros(batch_size, num_clips)
    else:
        meta = torch.tensor(meta, dtype=torch.float32).expand(batch_size, -1).clone()
    return {
        "clips": clips,
        "meta": meta,
        "label": torch.randint(num_classes, (batch_size,), generator=g),
        "index": torch.arange(batch_size),
    }


def train_pretext(method, make_batch, steps, lr=2e-3, tail=25):
    """Adam for ``steps`` steps; returns the mean pretext accuracy over the last ``tail`` steps and all outputs."""
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    method.train()
    accs, outs = [], []
    for _ in range(steps):
        out = method(make_batch())
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        accs.append(float(out.accuracy))
        outs.append({k: float(v) for k, v in out.logs.items()})
    return sum(accs[-tail:]) / tail, outs


class SpyBackbone(Backbone):
    """A 1x1x1-conv "backbone" that records every input it is called with (for batching / preprocessing checks)."""

    def __init__(self, feat_dim: int = 8, min_frames: int = 1):
        super().__init__()
        self.proj = nn.Conv3d(3, feat_dim, 1)
        self.feat_dim = feat_dim
        self.min_frames = min_frames
        self.calls: list[torch.Tensor] = []

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        self.calls.append(x.detach().clone())
        return self.proj(x)


@pytest.fixture
def synth():
    return SimpleNamespace(
        blob_videos=blob_videos,
        take_clips=take_clips,
        tuple_batch=tuple_batch,
        speed_batch=speed_batch,
        frame_tuple_batch=frame_tuple_batch,
        random_batch=random_batch,
        train_pretext=train_pretext,
        SpyBackbone=SpyBackbone,
    )


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield
