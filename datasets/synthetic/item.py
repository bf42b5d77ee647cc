"""One planned video file of a synthetic dataset (:class:`VideoItem`), and the size spec it renders with
(``item_spec``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from datasets.synthetic.spec import SizeSpec


@dataclass(frozen=True)
class VideoItem:
    relpath: str  # relative to the video folder (UCF-101/, or the dataset root), '/'-separated
    class_index: int
    group: int  # UCF group / HMDB source / the video's number within its class (kinetics400, ssv2), 1-based
    clip: int  # 1-based
    # kinetics400 / ssv2 only: per-video geometry (0: the spec's), split ("" for ucf101 / hmdb51, whose split files
    # assign every video to several splits) and whether the file is written undecodable on purpose
    width: int = 0
    height: int = 0
    frames: int = 0
    fps: int = 0
    split: str = ""
    broken: bool = False


def item_spec(spec: SizeSpec, item: VideoItem) -> SizeSpec:
    """``spec`` with the item's own geometry (kinetics400, ssv2), or ``spec`` itself (ucf101, hmdb51)."""
    if not item.width:
        return spec
    return dataclasses.replace(spec, width=item.width, height=item.height, frames=item.frames, fps=item.fps)
