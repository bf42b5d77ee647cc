"""Decode + clip augmentation throughput on one CPU core, sequential decoding vs keyframe seeking.

    OMP_NUM_THREADS=1 python benchmarks/decode_throughput.py [--data DIR] [--clips N]

Workload: 16x112x112 training clips (``SingleClip(16)``, ``ClipTransform(True, resize=(128, 171), crop=112,
jitter=(0.4, 0.4, 0.4, 0))``) from 320x240, 120-frame videos of the embedded ``bench`` size (mpeg4 AVI, a keyframe
every 12 frames), a 12-video subset with the same geometry (generated once into ``--data``, ~10 s).
"Per core": clips per second of this process's CPU time with one torch thread (FFmpeg decodes mpeg4 on one thread),
which does not depend on what else runs on the machine; wall-clock figures are printed next to it.
``benchmarks/test_decode_bench.py`` measures the same workload under pytest-benchmark.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from datasets.clips import ClipDataset  # noqa: E402
from datasets.samplers import SingleClip  # noqa: E402
from datasets.splits import load_split  # noqa: E402
from datasets.synthetic import MANIFEST, SIZES, generate  # noqa: E402
from datasets.transforms import ClipTransform  # noqa: E402
from datasets.video_io import PyAVDecoder  # noqa: E402

SUBSET = dataclasses.replace(SIZES["bench"], ucf_classes=4, ucf_groups=3)  # 12 videos, bench geometry
MODES = {"sequential": {"seek_min": 10**9}, "seek": {}}  # PyAVDecoder kwargs: never seek / the defaults


def bench_subset(out: Path) -> Path:
    """The bench-geometry subset at ``out`` (generated unless already there), returned."""
    if not (out / MANIFEST).is_file():
        generate(out, "ucf101", SUBSET, seed=0, overwrite=out.exists())
    return out


def make_dataset(root: Path, mode: str) -> ClipDataset:
    split = load_split("ucf101", root, 1)
    transform = ClipTransform(True, resize=(128, 171), crop=112, jitter=(0.4, 0.4, 0.4, 0.0))
    return ClipDataset(split.train + split.test, SingleClip(16), transform, on_corrupt="error",
                       decoder=PyAVDecoder(**MODES[mode]))


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
    return {"clips_per_cpu_s": n / cpu, "clips_per_wall_s": n / wall, "decode_ms": 1e3 * t_dec / n,
            "augment_ms": 1e3 * t_aug / n, "frames_decoded_per_clip": decoded / n}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "vssl-decode-bench-subset")
    p.add_argument("--clips", type=int, default=32, help="clips per round and mode")
    p.add_argument("--rounds", type=int, default=4, help="rounds, modes interleaved (the machine is shared)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    root = bench_subset(args.data)
    load = os.getloadavg()[0]
    runs = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            runs[mode].append(measure(make_dataset(root, mode), args.clips))
    print(f"{args.clips} clips x {args.rounds} rounds of 16x112x112 from {SUBSET.width}x{SUBSET.height}x{SUBSET.frames}"
          f"-frame videos ({root}); load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    print("clips/s/core: best round (least disturbed by other load) and median; other columns: medians; ms: CPU")
    print(f"{'decoder':8} {'mode':10} {'clips/s/core':>12} {'median':>7} {'clips/s wall':>12} {'decode ms':>9} "
          f"{'augment ms':>10} {'frames/clip':>11}")
    for mode, rs in runs.items():
        med = {k: float(np.median([r[k] for r in rs])) for k in rs[0]}
        best = max(r["clips_per_cpu_s"] for r in rs)
        print(f"{'pyav':8} {mode:10} {best:12.1f} {med['clips_per_cpu_s']:7.1f} {med['clips_per_wall_s']:12.1f} "
              f"{med['decode_ms']:9.1f} {med['augment_ms']:10.1f} {med['frames_decoded_per_clip']:11.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
