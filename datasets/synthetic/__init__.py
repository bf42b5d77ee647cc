"""Embedded synthetic video datasets in official layouts (real video files, deterministic): UCF101 and HMDB51
(mpeg4 .avi), Kinetics-400 (H.264 .mp4, CSV annotations, per-video fps / size / length, some videos missing or
broken, as downloads are) and Something-Something V2 (VP9 .webm, JSON labels, direction-dependent classes).

    python -m datasets.synthetic --layout {ucf101,hmdb51,kinetics400,ssv2} --size {tiny,small,bench} --seed S
        --out DIR [--workers N] [--overwrite] [--set KNOB=VALUE ...]

Python: ``generate(out, layout, size="small", seed=0) -> Path`` (the dataset root; ``size`` may be a
:class:`SizeSpec`). ``render_video`` returns the frames of one video without encoding them, ``render_item`` those of
a planned video (``plan_videos``) at its own geometry.

Modules: ``spec`` (version, sizes and their table, class lists), ``motions`` (the motion classes), ``names`` (the
kinetics400 / ssv2 class names of catalogue motions), ``item`` (one planned video), ``layout`` (folder and split-file
layouts of ucf101 / hmdb51, dispatching the others), ``layout_kinetics`` and ``layout_ssv2`` (those two layouts: their
rows, annotation files and defects), ``render`` (frames of one video, what they do and do not reveal, mpeg4
encoding), ``encode`` (H.264 / VP9 encoding), ``generate`` (a whole dataset, its manifest, staleness), ``cli`` (the
command line).
"""

from datasets.synthetic.cli import main
from datasets.synthetic.encode import write_mp4, write_video, write_webm
from datasets.synthetic.generate import MANIFEST, generate, manifest_spec, stale_reason
from datasets.synthetic.item import VideoItem, item_spec
from datasets.synthetic.layout import (
    HMDB_SPLIT_DIR,
    UCF_SPLIT_DIR,
    UCF_VIDEO_DIR,
    hmdb_flags,
    plan_videos,
    split_files,
    ucf_test_groups,
)
from datasets.synthetic.layout_kinetics import (
    KineticsRow,
    broken_video_bytes,
    kinetics_defects,
    kinetics_files,
    kinetics_rows,
)
from datasets.synthetic.layout_ssv2 import Ssv2Row, mirror_pairs, ssv2_files, ssv2_rows
from datasets.synthetic.names import SSV2_TEMPLATES, kinetics_label, mirror_name, ssv2_class
from datasets.synthetic.render import render_item, render_video
from datasets.synthetic.spec import LAYOUTS, SIZES, VERSION, SizeSpec, classes

__all__ = [
    "HMDB_SPLIT_DIR",
    "LAYOUTS",
    "MANIFEST",
    "SIZES",
    "SSV2_TEMPLATES",
    "UCF_SPLIT_DIR",
    "UCF_VIDEO_DIR",
    "VERSION",
    "KineticsRow",
    "SizeSpec",
    "Ssv2Row",
    "VideoItem",
    "broken_video_bytes",
    "classes",
    "generate",
    "hmdb_flags",
    "item_spec",
    "kinetics_defects",
    "kinetics_files",
    "kinetics_label",
    "kinetics_rows",
    "main",
    "manifest_spec",
    "mirror_name",
    "mirror_pairs",
    "plan_videos",
    "render_item",
    "render_video",
    "split_files",
    "ssv2_class",
    "ssv2_files",
    "ssv2_rows",
    "stale_reason",
    "ucf_test_groups",
    "write_mp4",
    "write_video",
    "write_webm",
]
