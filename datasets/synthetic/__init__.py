"""Embedded synthetic video datasets in the official UCF101 / HMDB51 layouts (real .avi files, deterministic).

    python -m datasets.synthetic --layout {ucf101,hmdb51} --size {tiny,small,bench} --seed S --out DIR
        [--workers N] [--overwrite] [--set KNOB=VALUE ...]

Python: ``generate(out, layout, size="small", seed=0) -> Path`` (the dataset root; ``size`` may be a
:class:`SizeSpec`). ``render_video`` returns the frames of one video without encoding them.

Modules: ``spec`` (version, sizes and their table, class lists), ``motions`` (the motion classes), ``layout``
(folder and split-file layouts), ``render`` (frames of one video, what they do and do not reveal, encoding),
``generate`` (a whole dataset, its manifest, staleness), ``cli`` (the command line).
"""

from datasets.synthetic.cli import main
from datasets.synthetic.generate import MANIFEST, generate, stale_reason
from datasets.synthetic.layout import (
    HMDB_SPLIT_DIR,
    UCF_SPLIT_DIR,
    UCF_VIDEO_DIR,
    VideoItem,
    hmdb_flags,
    plan_videos,
    split_files,
    ucf_test_groups,
)
from datasets.synthetic.render import render_video, write_video
from datasets.synthetic.spec import LAYOUTS, SIZES, VERSION, SizeSpec, classes

__all__ = [
    "HMDB_SPLIT_DIR",
    "LAYOUTS",
    "MANIFEST",
    "SIZES",
    "UCF_SPLIT_DIR",
    "UCF_VIDEO_DIR",
    "VERSION",
    "SizeSpec",
    "VideoItem",
    "classes",
    "generate",
    "hmdb_flags",
    "main",
    "plan_videos",
    "render_video",
    "split_files",
    "stale_reason",
    "ucf_test_groups",
    "write_video",
]
