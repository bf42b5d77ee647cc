"""Command line of the synthetic dataset generator (``main``; run as ``python -m datasets.synthetic``)::

    python -m datasets.synthetic --layout {ucf101,hmdb51,kinetics400,ssv2} --size {tiny,small,bench} --seed S
        --out DIR [--workers N] [--overwrite] [--set KNOB=VALUE ...]

``--set`` overrides a ``SizeSpec`` field of the size (tuples comma-separated, pairs as WxH: ``--set
kinetics_sizes=48x32,32x48``); the run prints where it wrote the videos, split files and manifest, and the train /
test counts of each split (kinetics400: train / validate / test rows, missing and broken videos; ssv2: train /
validation / test entries). Exit status 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from datasets.synthetic.generate import MANIFEST, generate
from datasets.synthetic.layout import UCF_VIDEO_DIR, plan_videos, split_counts, split_files
from datasets.synthetic.layout_kinetics import kinetics_defects, kinetics_rows
from datasets.synthetic.layout_ssv2 import FPS as SSV2_FPS
from datasets.synthetic.layout_ssv2 import ssv2_rows
from datasets.synthetic.spec import LAYOUTS, SIZES, SizeSpec, classes

# tuple fields of any length (the others keep their length): names and per-video choices
_ANY_LENGTH = {"ucf_names", "hmdb_names", "kinetics_names", "kinetics_sizes", "kinetics_fps"}


def _apply_overrides(spec: SizeSpec, pairs: list[str]) -> SizeSpec:
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in {f.name for f in dataclasses.fields(SizeSpec)} or key == "name":
            raise ValueError(f"--set wants KNOB=VALUE with a SizeSpec field, got {pair!r}")
        current = getattr(spec, key)
        if key == "kinetics_sizes":
            changes[key] = tuple(tuple(int(n) for n in wh.split("x")) for wh in value.split(","))
        elif key in _ANY_LENGTH:
            kind = {"kinetics_fps": int}.get(key, str)
            changes[key] = tuple(kind(x) for x in value.split(",") if x)
        elif isinstance(current, tuple):
            changes[key] = tuple(type(c)(x) for c, x in zip(current, value.split(","), strict=True))
        else:
            changes[key] = type(current)(value)
    return dataclasses.replace(spec, **changes)


def _report(layout: str, spec: SizeSpec, seed: int, root: Path) -> None:
    """The counts and places of a kinetics400 / ssv2 dataset (ucf101 / hmdb51: ``main``)."""
    if layout == "kinetics400":
        rows, defects = kinetics_rows(spec, seed), kinetics_defects(spec, seed)
        sizes = " ".join(f"{w}x{h}" for w, h in spec.kinetics_sizes)
        fps = "/".join(map(str, spec.kinetics_fps))
        lo, hi = spec.kinetics_frames
        print(f"  {sum(r.item is not None for r in rows)} videos, H.264 .mp4: {sizes} px, {lo}-{hi} frames @ {fps} fps")
        print(f"  videos: {root}/{{train,val}}/<label>/<youtube_id>_<start>_<end>.mp4")
        print(f"  annotations: {root / 'annotations'}/{{train,validate,test}}.csv")
        for split in ("train", "validate", "test"):
            print(f"  {split}: {sum(r.split == split for r in rows)} rows")
        print(
            f"  missing (listed, no file): {len(defects['missing'])}, broken: {len(defects['broken'])}, "
            f"short (< {spec.kinetics_frames[0]} frames): {len(defects['short'])}"
        )
    else:
        rows = ssv2_rows(spec, seed)
        lo, hi = spec.ssv2_widths
        print(
            f"  {len(rows)} videos, VP9 .webm: {lo}-{hi}x{spec.ssv2_height} px, {spec.ssv2_frames[0]}-"
            f"{spec.ssv2_frames[1]} frames @ {SSV2_FPS} fps"
        )
        print(f"  videos: {root}/20bn-something-something-v2/<id>.webm")
        print(f"  labels: {root / 'labels'}/{{labels,train,validation,test}}.json")
        for split in ("train", "validation", "test"):
            print(f"  {split}: {sum(r.split == split for r in rows)} entries")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m datasets.synthetic",
        description="Write a synthetic motion-class video dataset in an official layout.",
    )
    p.add_argument("--layout", choices=LAYOUTS, required=True)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="dataset root to create (absent or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing synthetic dataset at --out")
    p.add_argument("--workers", type=int, default=1, help="processes for rendering + encoding (default 1)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="override a SizeSpec field, e.g. --set noise_std=6 --set distractors=0,3",
    )
    args = p.parse_args(argv)
    try:
        spec = _apply_overrides(SIZES[args.size], args.set)
        start = time.perf_counter()
        root = generate(args.out, args.layout, spec, args.seed, overwrite=args.overwrite, workers=args.workers)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    items = plan_videos(args.layout, spec, args.seed)
    names = [m.name for m in classes(args.layout, spec)]
    print(f"wrote {args.layout} size={spec.name} seed={args.seed} to {root.resolve()} in {elapsed:.1f}s")
    if args.layout not in ("ucf101", "hmdb51"):
        print(f"  {len(names)} classes: {' | '.join(names)}")
        _report(args.layout, spec, args.seed, root.resolve())
        print(f"  manifest: {root / MANIFEST}")
        return 0
    print(
        f"  {len(names)} classes, {len(items)} videos: {spec.width}x{spec.height} px, {spec.frames} frames "
        f"@ {spec.fps} fps, mpeg4 .avi"
    )
    print(f"  classes: {' '.join(names)}")
    splits = sorted(split_files(args.layout, spec, args.seed, items))
    video_glob = f"{UCF_VIDEO_DIR}/<Class>/*.avi" if args.layout == "ucf101" else "<class>/*.avi"
    print(f"  videos: {root / video_glob}")
    print(f"  split files ({len(splits)}): {root / Path(splits[0]).parent}/")
    for k in (1, 2, 3):
        train, test = split_counts(args.layout, spec, args.seed, items, k)
        print(f"  split {k}: {train} train, {test} test")
    print(f"  manifest: {root / MANIFEST}")
    return 0
