"""Frozen-encoder feature extraction for the linear probe and retrieval, cached on disk.

One pass over N uniformly spaced centre-cropped clips per video gives both features: the globally average-pooled
conv5 vector of every clip (linear probe) and the locally pooled, flattened conv5 map averaged over the clips
(retrieval). The encoder runs in eval mode under no_grad, so its BatchNorm statistics never move.

The cache key covers the checkpoint's sha256, the dataset fingerprint, the exact video list, the transform, the clip
geometry, the pooling and the method's evaluation-time input transform: a new checkpoint never reuses stale
features (a bug of the VCOP-lineage retrieval script).

In a multi-process run each rank extracts a contiguous share of the videos and the shares are gathered in video
order, every video exactly once (``distributed.gather_videos``); rank 0 alone reads and writes the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from datasets.samplers import UniformClips
from methods.backbones.base import channels_last
from runtime import distributed as dist
from runtime import engine, recipes
from runtime.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


def cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


@torch.no_grad()
def extract(
    method,
    dataset,
    batch_size: int,
    workers: int,
    device,
    pool: str = "max",
    kernel: tuple[int, int, int] = (1, 2, 2),
    precision: str = "auto",
) -> dict:
    """Features of every video of ``dataset`` (a ClipDataset with a UniformClips sampler and eval transform); in a
    multi-process run every rank gets all of them, and ``batch_size`` is per rank. ``kernel``: the retrieval pooling;
    ``precision``: ``engine.eval_autocast`` (``fp32``: no autocast, as the released code)."""
    encoder = method.encoder
    was_training = method.training
    method.eval()
    pooled, retr, labels, index = [], [], [], []
    loader = engine.make_eval_loader(dataset, batch_size, workers, device)
    for batch in tqdm(loader, desc="features", leave=False, disable=None if dist.is_main() else True):
        if batch["clips"] is None or batch["n_skipped"]:
            raise RuntimeError("evaluation videos must never be skipped")
        clips = engine.to_device(batch, device, loader.dataset.finish)["clips"]  # [B, N, C, T, H, W]
        b, n = clips.shape[:2]
        with engine.eval_autocast(device, precision):  # STKD itself always runs in fp32
            x = channels_last(encoder.fit_time(method.preprocess(clips.flatten(0, 1))))
            fmap = encoder.forward_features(x)
        fmap = fmap.float()
        # kept on the device until the end: a .cpu() per batch would wait for the GPU at every batch
        pooled.append(fmap.mean(dim=(2, 3, 4)).view(b, n, -1))
        retr.append(encoder.retrieval_pool(fmap, pool, kernel).view(b, n, -1).mean(1))
        labels.append(batch["label"])
        index.append(batch["index"])
    method.train(was_training)
    mine = (
        {
            "pooled": torch.cat(pooled).cpu(),
            "retrieval": torch.cat(retr).cpu(),
            "labels": torch.cat(labels),
            "index": torch.cat(index),
        }
        if labels
        else None
    )  # None: more ranks than videos
    out = dist.gather_videos(mine, len(dataset))
    if len(out["labels"]) != len(dataset):
        raise RuntimeError(f"extracted {len(out['labels'])} videos, expected {len(dataset)}")
    return out


class FeatureCacheMiss(RuntimeError):
    """Features were required from the cache (``eval.features_from_cache_only``) but are not there."""


@dataclass(frozen=True)
class FeatureSettings:
    """What frozen-feature extraction and its cache key need from the run's config."""

    transform: dict  # the ``input`` section: part of the cache key
    pool: str  # protocol.retrieval.pool
    kernel: tuple[int, int, int]  # the retrieval pooling kernel (runtime.recipes.retrieval_kernel)
    recipe: dict  # the recipe switches in effect (runtime.recipes.effective)
    pretrained_format: str
    cache_only: bool  # eval.features_from_cache_only
    batch_size: int  # eval.batch_size, per process
    workers: int  # eval.num_workers
    precision: str  # recipe.eval_precision

    @classmethod
    def from_config(cls, cfg) -> FeatureSettings:
        return cls(
            OmegaConf.to_container(cfg.input, resolve=True),
            str(cfg.protocol.retrieval.pool),
            recipes.retrieval_kernel(cfg),
            recipes.effective(cfg),
            str(cfg.get("pretrained_format", "ours")),
            bool(cfg.eval.features_from_cache_only),
            int(cfg.eval.batch_size),
            int(cfg.eval.num_workers),
            str(cfg.recipe.eval_precision),
        )


def cached_features(method, dataset, s: FeatureSettings, device, key_parts: dict, cache_dir: Path) -> dict:
    sampler = dataset.sampler
    key = cache_key(
        videos=[e.relpath for e in dataset.entries],
        transform=s.transform,
        clips=sampler.num_clips,
        clip_len=sampler.clip_len,
        pool=s.pool,
        kernel=list(s.kernel),
        recipe=s.recipe,
        pretrained_format=s.pretrained_format,
        **key_parts,
    )
    path = Path(cache_dir) / f"features-{key}.pt"
    feats = None
    if dist.is_main() and path.exists():
        try:
            feats = load_checkpoint(path)
            log.info("features from cache %s", path)
        except CheckpointError as e:
            log.warning("ignoring a bad feature cache file (%s); extracting again", e)
    if dist.broadcast(feats is not None):
        return feats  # None on ranks other than 0: only rank 0 uses frozen features (linear probe, retrieval)
    if s.cache_only:
        raise FeatureCacheMiss(
            f"no cached features {path.name} in {cache_dir} for {key_parts.get('part')} of this checkpoint and "
            "config; run the features stage first (stage=features) with the same settings, or set "
            "eval.features_from_cache_only=false to extract them here"
        )
    feats = extract(method, dataset, s.batch_size, s.workers, device, s.pool, s.kernel, s.precision)
    if dist.is_main():
        save_checkpoint(path, feats)
    return feats


def uniform_sampler(cfg, clip_len: int, num_clips: int | None = None) -> UniformClips:
    """``eval.clips_per_video`` (or ``num_clips``) uniformly spaced clips, their starts rounded or floored as
    ``recipe.test_clip_starts`` says."""
    return UniformClips(
        int(num_clips or cfg.eval.clips_per_video), int(clip_len), starts=str(cfg.recipe.test_clip_starts)
    )
