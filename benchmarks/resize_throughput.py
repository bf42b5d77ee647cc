"""Throughput of ``python -m datasets.resize`` on Kinetics-like videos, with 1 and 2 worker processes.

    python -m benchmarks.resize_throughput [--root DIR | --data DIR] [--videos 60] [--frames 300]
        [--size 340x256] [--fps 30] [--short-side 128] [--workers 1,2] [--smoke]

Workload: ``--videos`` H.264 MP4 files of ``--size`` pixels, ``--frames`` frames at ``--fps`` (default 340x256, 300
frames at 30 fps: 10 s, a Kinetics-400 clip at the size the usual pre-resized copies have; libx264 CRF 20, preset
veryfast, no audio), in a Kinetics layout (``train/<label>/<id>_<start>_<end>.mp4`` and an annotation CSV),
generated once into ``--data`` (default: ``vssl-resize-bench-...`` in the temporary folder); or any dataset root
given as ``--root``. Frames: a smooth background panning 2 px a frame, four moving discs and
grey noise (std 3): content that compresses like camera video, not like white noise.

Each ``--workers`` value resizes the whole root into a fresh folder (``datasets.resize.cli.run``: the command's own
code path, progress bar on stderr), with the command's defaults (libx264 CRF 23, preset veryfast). Columns: wall
seconds of the whole command, videos/s, source frames/s (the frames decoded and re-encoded per second) and videos/s
per worker. ``--smoke``: three 96x72, 12-frame videos to short side 32, workers 1 and 2 (a check that it runs, not a
figure; tests/datasets/test_resize.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from datasets.resize import cli as resize_cli

COLUMNS = ("workers", "videos", "seconds", "videos/s", "source frames/s", "videos/s per worker")
LABELS = ("abseiling", "air drumming", "playing guitar", "riding a bike")
DONE = ".generated"  # marks a finished generated root


def kinetics_frames(seed: int, width: int, height: int, frames: int) -> np.ndarray:
    """[T, H, W, 3] uint8: a smooth colour background panning 2 px a frame, four moving discs, grey noise."""
    rng = np.random.default_rng(seed)
    wide = width + 2 * frames
    y, x = np.mgrid[0:height, 0:wide].astype(np.float32)
    bg = np.full((height, wide, 3), 110.0, np.float32)
    for c in range(3):
        for _ in range(3):
            fx, fy, ph = rng.uniform(0.005, 0.05), rng.uniform(0.005, 0.05), rng.uniform(0, 2 * np.pi)
            bg[..., c] += rng.uniform(15, 40) * np.sin(fx * x + fy * y + ph)
    discs = [
        (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-3, 3), rng.uniform(-2, 2), rng.uniform(8, 30))
        for _ in range(4)
    ]
    colours = rng.uniform(0, 255, (4, 3)).astype(np.float32)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        f = bg[:, 2 * t : 2 * t + width].copy()
        for (x0, y0, vx, vy, r), col in zip(discs, colours):
            _disc(f, (x0 + vx * t) % width, (y0 + vy * t) % height, r, col)
        f += rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(3.0)
        np.clip(f, 0, 255, out=f)
        out[t] = f
    return out


def _disc(f: np.ndarray, cx: float, cy: float, r: float, colour: np.ndarray) -> None:
    """Fill a disc of ``f`` [H, W, 3] (clipped at the borders), computed in its bounding box only."""
    y0, y1 = max(0, int(cy - r)), min(f.shape[0], int(cy + r) + 1)
    x0, x1 = max(0, int(cx - r)), min(f.shape[1], int(cx + r) + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    f[y0:y1, x0:x1][(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = colour


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """H.264 in MP4 as Kinetics' files (CRF 20, preset veryfast, one thread)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _video_path(root: Path, k: int) -> Path:
    return root / "train" / LABELS[k % len(LABELS)] / f"vid{k:07d}_{10 * k:06d}_{10 * k + 10:06d}.mp4"


def _generate_one(job: tuple) -> None:
    root, k, width, height, frames, fps = job
    write_mp4(_video_path(root, k), kinetics_frames(k, width, height, frames), fps)


def generate(root: Path, videos: int, width: int, height: int, frames: int, fps: int, workers: int) -> Path:
    """The Kinetics-like root (generated once: kept when its marker file is there)."""
    if (root / DONE).is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    jobs = [(root, k, width, height, frames, fps) for k in range(videos)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_generate_one, jobs))
    rows = [f"{LABELS[k % len(LABELS)]},vid{k:07d},{10 * k},{10 * k + 10},train" for k in range(videos)]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n" + "\n".join(rows))
    (root / DONE).write_text(f"{videos} videos {width}x{height} {frames} frames {fps} fps\n")
    return root


def command(root: Path, out: Path | str, short_side: int, workers: int | str) -> list[str]:
    """The arguments of ``python -m datasets.resize`` for one row."""
    return [
        "--layout",
        "kinetics400",
        "--root",
        str(root),
        "--out",
        str(out),
        "--short-side",
        str(short_side),
        "--workers",
        str(workers),
    ]


def measure(root: Path, out: Path, short_side: int, workers: int) -> dict:
    """Resize ``root`` into a fresh ``out`` with ``workers`` processes: one row (``COLUMNS``)."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = resize_cli.run(resize_cli.parse_args(command(root, out, short_side, workers)))
    seconds = time.perf_counter() - t0
    manifest = json.loads(summary.manifest.read_text())
    frames = sum(v["source"].get("frames", 0) for v in manifest["videos"])
    n = summary.processed
    shutil.rmtree(out, ignore_errors=True)
    return dict(zip(COLUMNS, (workers, n, seconds, n / seconds, frames / seconds, n / seconds / workers)))


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), Python {platform.python_version()}"
    )


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['videos']} | {r['seconds']:.1f} | {r['videos/s']:.2f} | "
            f"{r['source frames/s']:.0f} | {r['videos/s per worker']:.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=None, help="a dataset root to resize (default: generated videos)")
    p.add_argument(
        "--data", type=Path, default=None, help="where the videos are generated once (default: in the temporary folder)"
    )
    p.add_argument("--videos", type=int, default=None, help="videos to generate (default 60; smoke 3)")
    p.add_argument("--frames", type=int, default=None, help="frames per generated video (default 300; smoke 12)")
    p.add_argument("--size", default=None, help="WIDTHxHEIGHT of the generated videos (default 340x256; smoke 96x72)")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--short-side", type=int, default=None, help="resize target (default 128; smoke 32)")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts, one row each (default 1,2)")
    p.add_argument("--smoke", action="store_true", help="three tiny videos: a check that it runs, not a figure")
    args = p.parse_args(argv)
    args.videos = args.videos or (3 if args.smoke else 60)
    args.frames = args.frames or (12 if args.smoke else 300)
    args.size = args.size or ("96x72" if args.smoke else "340x256")
    args.short_side = args.short_side or (32 if args.smoke else 128)
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


def main(argv=None) -> list[dict]:
    """Prints the machine, the command and the Markdown table; returns the rows (dicts keyed by ``COLUMNS``)."""
    args = parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    tmp = Path(tempfile.gettempdir())
    root = args.root
    if root is None:
        name = f"vssl-resize-bench-{args.videos}x{width}x{height}x{args.frames}x{args.fps}"
        root = generate(args.data or tmp / name, args.videos, width, height, args.frames, args.fps, max(args.workers))
    out = Path(tempfile.mkdtemp(prefix="vssl-resize-bench-out-")) / "out"
    load = os.getloadavg()[0]
    try:
        rows = [measure(root, out, args.short_side, w) for w in args.workers]
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    print(
        f"machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {load:.2f} -> "
        f"{os.getloadavg()[0]:.2f} (other processes on the machine slow the rows down)"
    )
    print(f"command: python -m datasets.resize {' '.join(command(root, 'OUT', args.short_side, 'N'))}")
    print(
        f"workload: {rows[0]['videos']} videos under {root}"
        + ("" if args.root else f" ({width}x{height}, {args.frames} frames at {args.fps} fps, H.264 MP4)")
    )
    print(table(rows))
    sys.stdout.flush()
    return rows


if __name__ == "__main__":
    main()
