"""Writing a whole synthetic dataset: ``generate`` (plan, split files, videos rendered and encoded by worker
processes, manifest), the manifest ``SYNTHETIC.json`` (``MANIFEST``, ``_manifest``) and ``stale_reason``, which tells
whether a dataset on disk is what this code generates.

The manifest's ``spec`` holds the ``SizeSpec`` fields the layout reads: ucf101 / hmdb51 leave out the kinetics400 and
ssv2 fields (so their manifests, and datasets written before those fields existed, are unchanged), kinetics400
leaves out the ssv2 ones and ssv2 the kinetics400 ones. kinetics400 adds ``missing``, ``broken`` and ``short`` (video
paths relative to the root) and ``num_rows``; ssv2 adds ``mirror_pairs`` and ``num_rows``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from datasets.synthetic.encode import write_mp4, write_video, write_webm
from datasets.synthetic.layout import UCF_VIDEO_DIR, VideoItem, plan_videos, split_files
from datasets.synthetic.layout_kinetics import broken_video_bytes, kinetics_defects, kinetics_rows
from datasets.synthetic.layout_ssv2 import FPS as SSV2_FPS
from datasets.synthetic.layout_ssv2 import mirror_pairs, ssv2_rows
from datasets.synthetic.render import render_item
from datasets.synthetic.spec import KINETICS_FIELDS, SIZES, SSV2_FIELDS, VERSION, SizeSpec, _check_layout, classes

MANIFEST = "SYNTHETIC.json"


def _write_item(args) -> None:
    """The worker of ``generate``: render and encode one video, ``args = (spec, seed, layout, video_dir, item)``."""
    spec, seed, layout, video_dir, item = args
    path = Path(video_dir) / item.relpath
    if item.broken:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(broken_video_bytes(seed))
        return
    frames = render_item(spec, seed, layout, item)
    if layout == "kinetics400":
        write_mp4(path, frames, item.fps)
    elif layout == "ssv2":
        write_webm(path, frames, item.fps)
    else:
        write_video(path, frames, spec.fps, spec.quality)


# ---------------------------------------------------------------------------------------------- generate
def generate(
    out, layout: str, size: str | SizeSpec = "small", seed: int = 0, *, overwrite: bool = False, workers: int = 1
) -> Path:
    """Write a synthetic dataset to ``out`` (the dataset root, returned). ``out`` must be absent or empty, or a
    previous synthetic dataset with ``overwrite=True``. Written to a sibling temp folder, then renamed."""
    _check_layout(layout)
    spec = size if isinstance(size, SizeSpec) else SIZES.get(size)
    if spec is None:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or pass a SizeSpec")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise FileExistsError(
                f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace a "
                "synthetic dataset, or choose another folder"
            )
        if not (out / MANIFEST).is_file():
            raise FileExistsError(f"{out} is not a synthetic dataset (no {MANIFEST}); refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        items = plan_videos(layout, spec, seed)
        for rel, data in split_files(layout, spec, seed, items).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)
        video_dir = tmp / UCF_VIDEO_DIR if layout == "ucf101" else tmp
        jobs = [(spec, int(seed), layout, str(video_dir), item) for item in items]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                list(pool.map(_write_item, jobs, chunksize=4))
        else:
            for job in jobs:
                _write_item(job)
        (tmp / MANIFEST).write_text(json.dumps(_manifest(layout, spec, seed, items), indent=1, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out) if any(out.iterdir()) else out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def stale_reason(root, layout: str, size: str | SizeSpec, seed: int) -> str | None:
    """Why the synthetic dataset at ``root`` is not what this code generates for (layout, size, seed), or None.

    Compares its manifest's generator version, spec and classes with the current ones, so that data written by an
    older generator is never reused as if it were current."""
    spec = size if isinstance(size, SizeSpec) else SIZES[size]
    path = Path(root) / MANIFEST
    try:
        have = json.loads(path.read_text())
    except FileNotFoundError:
        return f"it has no {MANIFEST}, so it is not a dataset this generator wrote"
    except (OSError, ValueError) as e:
        return f"its {MANIFEST} is unreadable ({e})"
    want = json.loads(json.dumps(_manifest(layout, spec, seed, plan_videos(layout, spec, seed))))
    if have.get("version") != want["version"]:
        return f"it was written by generator version {have.get('version')}, this code writes version {VERSION}"
    diff = sorted(
        k for k in set(want["spec"]) | set(have.get("spec", {})) if want["spec"].get(k) != have.get("spec", {}).get(k)
    )
    if diff:
        return f"its size spec differs in {', '.join(diff)}"
    for key in ("layout", "seed", "num_videos", "classes"):
        if have.get(key) != want[key]:
            return f"its {key} differs"
    return None


def manifest_spec(layout: str, spec: SizeSpec) -> dict:
    """The ``spec`` entry of the manifest: the fields of ``spec`` that ``layout`` reads (module docstring)."""
    drop = {"kinetics400": SSV2_FIELDS, "ssv2": KINETICS_FIELDS}.get(layout, KINETICS_FIELDS + SSV2_FIELDS)
    return {k: v for k, v in dataclasses.asdict(spec).items() if k not in drop}


def _manifest(layout: str, spec: SizeSpec, seed: int, items: list[VideoItem]) -> dict:
    motions = classes(layout, spec)
    out = {
        "generator": "datasets.synthetic",
        "version": VERSION,
        "layout": layout,
        "size": spec.name,
        "seed": int(seed),
        "spec": manifest_spec(layout, spec),
        "num_videos": len(items),
        "classes": [{"name": m.name, "description": m.description, "reverse_of": m.reverse_of} for m in motions],
    }
    if layout in ("ucf101", "hmdb51"):
        out["video"] = {
            "width": spec.width,
            "height": spec.height,
            "frames": spec.frames,
            "fps": spec.fps,
            "codec": "mpeg4",
            "container": "avi",
            "pix_fmt": "yuv420p",
        }
        return out
    for entry, m in zip(out["classes"], motions, strict=True):
        entry["motion"] = m.catalogue
    if layout == "kinetics400":
        rows = kinetics_rows(spec, seed)
        out["video"] = {
            "sizes": [list(s) for s in spec.kinetics_sizes],
            "frames": list(spec.kinetics_frames),
            "short_frames": list(spec.kinetics_short_frames),
            "fps": list(spec.kinetics_fps),
            "codec": "h264",
            "container": "mp4",
            "pix_fmt": "yuv420p",
        }
        out |= kinetics_defects(spec, seed)
    else:
        rows = ssv2_rows(spec, seed)
        out["video"] = {
            "height": spec.ssv2_height,
            "widths": list(spec.ssv2_widths),
            "frames": list(spec.ssv2_frames),
            "fps": SSV2_FPS,
            "codec": "vp9",
            "container": "webm",
            "pix_fmt": "yuv420p",
        }
        out["mirror_pairs"] = mirror_pairs(spec)
    splits = sorted({r.split for r in rows})
    out["num_rows"] = {split: sum(r.split == split for r in rows) for split in splits}
    return out
