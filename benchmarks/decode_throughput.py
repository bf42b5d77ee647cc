"""Decode + clip augmentation throughput on one CPU core, sequential decoding vs keyframe seeking.

    python -m benchmarks.decode_throughput [--data DIR] [--clips N] [--rounds N] [--smoke]

Workload: 16x112x112 training clips (``SingleClip(16)``, ``ClipTransform(True, resize=(128, 171), crop=112,
jitter=(0.4, 0.4, 0.4, 0))``) from 320x240, 120-frame videos of the embedded ``bench`` size (mpeg4 AVI, a keyframe
every 12 frames), a 12-video subset with the same geometry (generated once into ``--data``, ~10 s).
"Per core": clips per second of this process's CPU time with one torch thread (FFmpeg decodes mpeg4 on one thread),
which does not depend on what else runs on the machine; wall-clock figures are printed next to it. ``--smoke``: three
80x60, 40-frame videos, 2 clips, one round (a check that it runs, not a figure; tests/test_benchmarks_smoke.py).
``benchmarks/test_decode_bench.py`` measures the same workload under pytest-benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datasets.clips import ClipDataset
from datasets.samplers import SingleClip
from datasets.splits import load_split
from datasets.synthetic import MANIFEST, SIZES, SizeSpec, generate
from datasets.transforms import ClipTransform
from datasets.video_io import PyAVDecoder

SUBSET = dataclasses.replace(SIZES["bench"], ucf_classes=4, ucf_groups=3)  # 12 videos, bench geometry
SMOKE = dataclasses.replace(SIZES["bench"], ucf_classes=1, ucf_groups=3, width=80, height=60, frames=40)  # 3 videos
MODES = {"sequential": {"seek_min": 10**9}, "seek": {}}  # PyAVDecoder kwargs: never seek / the defaults


COLUMNS = ("decoder", "mode", "clips/s/core", "median", "clips/s wall", "decode ms", "augment ms", "frames/clip")


def bench_subset(out: Path, spec: SizeSpec = SUBSET) -> Path:
    """The subset of geometry ``spec`` (default: bench's) at ``out`` (generated unless already there), returned."""
    if not (out / MANIFEST).is_file():
        generate(out, "ucf101", spec, seed=0, overwrite=out.exists())
    return out


def make_dataset(root: Path, mode: str) -> ClipDataset:
    split = load_split("ucf101", root, 1)
    transform = ClipTransform(True, resize=(128, 171), crop=112, jitter=(0.4, 0.4, 0.4, 0.0))
    return ClipDataset(
        split.train + split.test, SingleClip(16), transform, on_corrupt="error", decoder=PyAVDecoder(**MODES[mode])
    )


def run_items(ds: ClipDataset, n: int, epoch: int = 0) -> None:
    """``n`` items (epochs of the dataset, each its own random clips)."""
    for k in range(n):
        ds.set_epoch(epoch + k // len(ds))
        ds[k % len(ds)]


def measure(ds: ClipDataset, n: int) -> dict:
    """Throughput of ``n`` whole items, then the same clips split into decode and augment time (CPU ms per clip)."""
    for i in range(len(ds)):  # frame counts (cached by the dataset) and the page cache, outside the timing
        ds.decoder.num_frames(ds.entries[i].path)
    run_items(ds, min(n, len(ds)), epoch=1000)  # warm-up
    decoded = ds.decoder.stats["decoded"]
    cpu, wall = time.process_time(), time.perf_counter()
    run_items(ds, n)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    decoded = ds.decoder.stats["decoded"] - decoded
    t_dec = t_aug = 0.0
    for k in range(n):  # the same clips as above: same (seed, epoch, index)
        entry = ds.entries[k % len(ds)]
        rng = np.random.default_rng([ds.seed, k // len(ds), k % len(ds)])
        clip = ds.sampler.sample(ds.decoder.num_frames(entry.path), rng).clips[0]
        t0 = time.process_time()
        frames = ds.decoder.read(entry.path, clip)
        t1 = time.process_time()
        ds.transform(frames, params=ds.transform.draw(rng))
        t_dec, t_aug = t_dec + t1 - t0, t_aug + time.process_time() - t1
    return {
        "clips_per_cpu_s": n / cpu,
        "clips_per_wall_s": n / wall,
        "decode_ms": 1e3 * t_dec / n,
        "augment_ms": 1e3 * t_aug / n,
        "frames_decoded_per_clip": decoded / n,
    }


def main(argv=None) -> list[dict]:
    """Prints the table; returns its rows (dicts keyed by ``COLUMNS``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="where the subset is generated once (default: vssl-decode-bench-subset, or -smoke, in the "
        "temporary folder)",
    )
    p.add_argument("--clips", type=int, default=None, help="clips per round and mode (default 32; smoke 2)")
    p.add_argument(
        "--rounds", type=int, default=None, help="rounds, modes interleaved (the machine is shared; default 4; smoke 1)"
    )
    p.add_argument("--smoke", action="store_true", help="three small videos, 2 clips, one round: a check, not a figure")
    args = p.parse_args(argv)
    spec = SMOKE if args.smoke else SUBSET
    if args.data is None:
        args.data = Path(tempfile.gettempdir()) / f"vssl-decode-bench-{'smoke' if args.smoke else 'subset'}"
    args.clips = args.clips or (2 if args.smoke else 32)
    args.rounds = args.rounds or (1 if args.smoke else 4)
    torch.set_num_threads(1)  # one torch thread: the figures are per core
    root = bench_subset(args.data, spec)
    load = os.getloadavg()[0]
    runs = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            runs[mode].append(measure(make_dataset(root, mode), args.clips))
    print(
        f"{args.clips} clips x {args.rounds} rounds of 16x112x112 from {spec.width}x{spec.height}x{spec.frames}"
        f"-frame videos ({root}); load average {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print("clips/s/core: best round (least disturbed by other load) and median; other columns: medians; ms: CPU")
    widths = (8, 10, 12, 7, 12, 9, 10, 11)
    print(" ".join(f"{c:{'<' if i < 2 else '>'}{w}}" for i, (c, w) in enumerate(zip(COLUMNS, widths))))
    rows = []
    for mode, rs in runs.items():
        med = {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
        best = max(r["clips_per_cpu_s"] for r in rs)
        rows.append(
            dict(
                zip(
                    COLUMNS,
                    (
                        "pyav",
                        mode,
                        best,
                        med["clips_per_cpu_s"],
                        med["clips_per_wall_s"],
                        med["decode_ms"],
                        med["augment_ms"],
                        med["frames_decoded_per_clip"],
                    ),
                )
            )
        )
        print(
            f"{'pyav':8} {mode:10} {best:12.1f} {med['clips_per_cpu_s']:7.1f} {med['clips_per_wall_s']:12.1f} "
            f"{med['decode_ms']:9.1f} {med['augment_ms']:10.1f} {med['frames_decoded_per_clip']:11.1f}"
        )
    return rows


if __name__ == "__main__":
    main()
