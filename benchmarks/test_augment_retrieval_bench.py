"""CPU-side pieces alone (pytest-benchmark; skipped unless asked for, as every benchmark here):

    make bench    # = pytest benchmarks -q --benchmark-only --benchmark-enable

- clip augmentation without decoding: ``ClipTransform`` (train: resize 320x240 -> 171x128, random crop 112, flip,
  colour jitter, normalise; eval: resize, centre crop, normalise) on 16 uint8 frames of the ``bench`` geometry, one
  torch thread (decoding + augmentation together: ``test_decode_bench.py``);
- ``protocols.retrieval.topk_retrieval`` on the CPU, where ``experiment/app.py`` runs it, at a fifth of the
  9,500 x 3,800 gallery/query size of the performance issue (the cost is linear in each), d=512 and d=9,216 (r3d_18's
  real retrieval features at 16x112x112). ``extra_info`` holds per-second rates; the GPU side is
  ``benchmarks/gpu_throughput.py``.

With ``--benchmark-disable`` (tests/test_benchmarks_smoke.py) each runs once, untimed, and its checks still apply.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from datasets.transforms import ClipTransform
from protocols.retrieval import topk_retrieval

CLIPS, ROUNDS = 24, 7  # clips per round, timed rounds
GALLERY, QUERIES = 1900, 760  # a fifth of 9,500 x 3,800


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_augmentation_throughput(benchmark, train):
    torch.set_num_threads(1)
    transform = ClipTransform(train, resize=(128, 171), crop=112, jitter=(0.4, 0.4, 0.4, 0.0))
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (16, 240, 320, 3), dtype=np.uint8))
    rng = np.random.default_rng(1)
    assert transform(frames, rng).shape == (3, 16, 112, 112)
    cpu: list[float] = []

    def one_round():
        t = time.process_time()
        for _ in range(CLIPS):
            transform(frames, params=transform.draw(rng))
        cpu.append(time.process_time() - t)

    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1)
    assert cpu
    if benchmark.disabled:  # one untimed round: no figures
        return
    cpu = sorted(cpu[1:])  # without the warm-up round
    benchmark.extra_info.update(
        {
            "clips_per_cpu_s_best": round(CLIPS / cpu[0], 1),
            "clips_per_cpu_s_median": round(CLIPS / cpu[len(cpu) // 2], 1),
            "ms_per_clip_median": round(1e3 * benchmark.stats.stats.median / CLIPS, 2),
            "load_average": round(os.getloadavg()[0], 2),
        }
    )


@pytest.mark.parametrize("dim", [512, 9216])
def test_retrieval_topk_cpu(benchmark, dim):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    gallery, query = torch.randn(GALLERY, dim, generator=g), torch.randn(QUERIES, dim, generator=g)
    g_labels = torch.randint(0, 101, (GALLERY,), generator=g)
    q_labels = torch.randint(0, 101, (QUERIES,), generator=g)
    metrics = benchmark.pedantic(topk_retrieval, args=(query, q_labels, gallery, g_labels), rounds=5, warmup_rounds=1)
    assert set(metrics) == {"top1", "top5", "top10", "top20", "top50"}
    if benchmark.disabled:  # one untimed call: no figures
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        {
            "queries_per_s": round(QUERIES / median, 1),
            "full_size_estimate_s": round(median * 25, 2),  # 5x the gallery and 5x the queries, one thread
            "load_average": round(os.getloadavg()[0], 2),
        }
    )
