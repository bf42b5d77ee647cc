"""Checks of ``benchmarks/gpu_throughput.py`` on the CPU (skipped unless asked for, as every benchmark here):

    make bench    # = pytest benchmarks -q --benchmark-only --benchmark-enable

- its ``--smoke`` mode (tiny backbone and data, batch 2) runs in-process and gives every row of the table with
  positive finite numbers, and a ratio for each training and inference row (~15 s; a CPU check, not a figure);
- the shapes its ceilings train on are the shapes the methods feed their backbone, recorded with a forward pre-hook
  during one real training forward.
"""
from __future__ import annotations

import math
import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from gpu_throughput import CEILING, INFER_CEILING, main, train_shapes  # noqa: E402

from methods.registry import build_method  # noqa: E402

METHODS = ("tcgl", "vcop")
PER_CONFIG = ("train ceiling fp32/tf32", CEILING, "train ours (bf16+CL, end to end)", INFER_CEILING,
              "features ours (10 clips/video)")


def _positive(x) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def test_smoke_table_has_every_row_with_positive_numbers_and_ratios(benchmark, tmp_path, capsys):
    torch.set_num_threads(1)
    argv = ["--smoke", "--data", str(tmp_path / "data"), "--methods", ",".join(METHODS)]
    rows = benchmark.pedantic(main, args=(argv,), rounds=1, iterations=1)
    printed = capsys.readouterr().out
    assert "ratio to bf16+CL ceiling" in printed and "torch " in printed and "git " in printed
    got = {(r.config, r.what) for r in rows}
    assert got >= {(f"{m} / tiny", what) for m in METHODS for what in PER_CONFIG}
    retrieval = [r for r in rows if r.what.startswith("retrieval")]
    assert retrieval and len(rows) == len(METHODS) * len(PER_CONFIG) + len(retrieval)
    for r in rows:
        assert r.note == "", (r.config, r.what, r.note)
        assert all(_positive(v) for v in (r.samples_s, r.ms_step, r.tflops, r.row_s)), r
        assert r.peak_gb is None  # CPU: "n/a"
        if r not in retrieval:
            assert _positive(r.clips_s) and _positive(r.ratio), r
        assert f"| {r.config} | {r.what} |" in printed
    ceilings = [r for r in rows if r.what in (CEILING, INFER_CEILING)]
    assert all(r.ratio == 1.0 for r in ceilings)


@pytest.mark.parametrize("method_name", METHODS)
@pytest.mark.parametrize("backbone", ["tiny", "c3d"])  # c3d: min_frames 8, so TCGL's 4-frame sets are tiled
def test_ceiling_shapes_are_what_the_method_feeds_its_backbone(benchmark, method_name, backbone):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    method = build_method(method_name, backbone).train()
    batch, crop = 2, 32
    seen: list[tuple[int, ...]] = []
    hook = method.encoder.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    clips = torch.randn(batch, method.num_clips, 3, method.clip_len, crop, crop)
    try:
        benchmark.pedantic(lambda: method({"clips": clips}), rounds=1, iterations=1)
    finally:
        hook.remove()
    assert seen == train_shapes(method, batch, crop)
    assert len(seen) == (2 if method_name == "tcgl" else 1)
