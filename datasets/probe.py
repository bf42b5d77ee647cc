"""Probe listed videos before a run: which ones open, how many frames they hold, which ones are undecodable.

Kinetics is always incomplete and partly broken (videos vanish from YouTube, downloads stop half-way), so its reader
probes every present video once: the demuxer's frame count plus a decode of the first frame. An undecodable video is
then skipped and counted before training starts, instead of failing an evaluation hours later.

Probing 240k videos takes minutes, so results can be kept in a cache file (JSON, written atomically), keyed by the
video's relative path, size and modification time: a re-encoded or replaced file is probed again.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datasets.entries import VideoEntry
from datasets.errors import DatasetError
from datasets.video_io import get_decoder
from results.atomic import atomic_write

CACHE_VERSION = 1


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


def _probe_one(decoder, path: Path) -> tuple[int | None, str | None]:
    """(frames, None) for a readable video, (None, why) for an undecodable one."""
    try:
        n = decoder.num_frames(path)
        if n < 1:
            return None, f"{path}: holds no video frame"
        decoder.read(path, [0])
        return int(n), None
    except DatasetError as e:
        return None, str(e)


def _load_cache(cache: Path | None) -> dict:
    if cache is None or not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}  # a damaged cache only costs a new probe
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("videos"), dict):
        return {}
    return data["videos"]


def _workers() -> int:
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(8, os.cpu_count() or 1))


def probe_videos(entries: list[VideoEntry], cache: str | Path | None = None, workers: int | None = None):
    """``(frames, broken)``: ``frames`` maps each readable entry's relpath to its frame count, ``broken`` each
    undecodable one's relpath to the reason. Entries must exist. ``cache``: a JSON file reused and updated."""
    cache = Path(cache) if cache else None
    known = _load_cache(cache)
    results: dict[str, list] = {}
    todo = []
    for e in entries:
        stamp = _stamp(e.path)
        hit = known.get(e.relpath)
        if isinstance(hit, list) and len(hit) == 4 and hit[:2] == stamp:
            results[e.relpath] = hit
        else:
            todo.append((e, stamp))
    if todo:
        n = workers or _workers()

        def run(chunk):
            decoder = get_decoder(None)  # one per thread: a decoder holds a scaler context
            return [(e, stamp, *_probe_one(decoder, e.path)) for e, stamp in chunk]

        chunks = [todo[i::n] for i in range(n)]
        with ThreadPoolExecutor(max_workers=n) as pool:
            for done in pool.map(run, chunks):
                for e, stamp, frames, why in done:
                    results[e.relpath] = stamp + [frames, why]
        if cache is not None:
            merged = {**known, **results}
            cache.parent.mkdir(parents=True, exist_ok=True)
            body = json.dumps({"version": CACHE_VERSION, "videos": merged}, sort_keys=True).encode()
            atomic_write(cache, lambda f: f.write(body))
    frames = {rel: r[2] for rel, r in results.items() if r[2] is not None}
    broken = {rel: r[3] for rel, r in results.items() if r[2] is None}
    return frames, broken
