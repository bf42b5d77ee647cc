"""Decode + clip augmentation throughput per CPU core (pytest-benchmark; skipped unless asked for):

    make bench    # = pytest benchmarks -q --benchmark-only --benchmark-enable

16x112x112 training clips from 320x240 videos of the embedded ``bench`` geometry (a 12-video subset generated once
per session, ~10 s), one process, one torch thread. ``extra_info`` holds clips/s: per wall-clock second (what
pytest-benchmark times) and per CPU second of this process (one core; less sensitive to other load on the machine,
not immune: the best round is the least disturbed one).
The workload is ``benchmarks/decode_throughput.py``'s, which prints the same figures as a table. With
``--benchmark-disable`` (tests/test_benchmarks_smoke.py) one round runs, untimed, and its checks still apply.
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from benchmarks.decode_throughput import MODES, bench_subset, make_dataset, run_items

CLIPS, ROUNDS = 24, 7  # clips per round, timed rounds


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory):
    return bench_subset(tmp_path_factory.mktemp("decode-bench") / "ucf101-bench-subset")


@pytest.mark.parametrize("mode", list(MODES))
def test_decode_and_augment_throughput(benchmark, bench_root, mode):
    torch.set_num_threads(1)
    ds = make_dataset(bench_root, mode)
    item = ds[len(ds) - 1]  # frame counts of all videos are read lazily; this one is checked here
    assert item["clips"].shape == (1, 3, 16, 112, 112) and item["clips"].dtype == torch.float32
    for i in range(len(ds)):
        ds.decoder.num_frames(ds.entries[i].path)
    cpu: list[float] = []

    def one_round():
        t = time.process_time()
        run_items(ds, CLIPS)
        cpu.append(time.process_time() - t)

    decoded = ds.decoder.stats["decoded"]
    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1)
    per_clip = (ds.decoder.stats["decoded"] - decoded) / (len(cpu) * CLIPS)  # the warm-up round included
    if benchmark.enabled:
        cpu = sorted(cpu[1:])  # without the warm-up round
        benchmark.extra_info.update(
            {
                "clips_per_cpu_s_best": round(CLIPS / cpu[0], 1),  # the round least disturbed by other load
                "clips_per_cpu_s_median": round(CLIPS / cpu[len(cpu) // 2], 1),
                "clips_per_wall_s_median": round(CLIPS / benchmark.stats.stats.median, 1),
                "frames_decoded_per_clip": round(per_clip, 1),
                "target_clips_per_cpu_s": 40,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    # the seek mode must really skip decoding (SingleClip(16) over 120 frames: ~72 frames per clip from frame 0)
    assert per_clip < 30 if mode == "seek" else per_clip > 60
