"""Checks of ``benchmarks/gpu_throughput.py`` on the CPU (skipped unless asked for, as every benchmark here):

    make bench    # = pytest benchmarks -q --benchmark-only --benchmark-enable

- its ``--smoke`` mode (tiny backbone and data, batch 2) runs in-process and gives every row of the table with
  positive finite numbers, and a ratio for each training and inference row (~15 s; a CPU check, not a figure);
- the shapes its ceilings train on are the shapes the methods feed their backbone, recorded with a forward pre-hook
  during one real training forward.

These are checks more than timings: with ``--benchmark-disable`` (tests/test_benchmarks_smoke.py) they run the same.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import gpu_throughput as g
from benchmarks.gpu_throughput import CEILING, INFER_CEILING, main, train_shapes
from methods.backbones import build_backbone
from methods.registry import build_method

METHODS = ("tcgl", "vcop")
PER_CONFIG = (
    "train ceiling fp32/tf32",
    CEILING,
    "train ours, one batch resident (no loader)",
    "train ours end to end, decoding videos",
    "train ours end to end, frame cache",
    INFER_CEILING,
    "features ours (10 clips/video, frame cache)",
)
PER_METHOD = ("loader alone, decoding videos (0 workers)", "loader alone, frame cache (0 workers)")


def _positive(x) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def test_smoke_table_has_every_row_with_positive_numbers_and_ratios(benchmark, tmp_path, capsys):
    torch.set_num_threads(1)
    argv = ["--smoke", "--data", str(tmp_path / "data"), "--methods", ",".join(METHODS), "--decode-end-to-end"]
    rows = benchmark.pedantic(main, args=(argv,), rounds=1, iterations=1)
    printed = capsys.readouterr().out
    assert "ratio to bf16+CL ceiling" in printed and "torch " in printed and "git " in printed
    got = {(r.config, r.what) for r in rows}
    per_config = {(f"{m} / tiny", what) for m in METHODS for what in PER_CONFIG}
    loaders = {(f"{m} / loader", what) for m in METHODS for what in PER_METHOD}
    assert got >= per_config | loaders
    retrieval = [r for r in rows if r.what.startswith("retrieval")]
    build = [r for r in rows if r.what.startswith("frame cache build")]
    assert retrieval and len(build) == 1 and len(rows) == len(per_config | loaders) + len(retrieval) + 1
    assert build[0].note.startswith("50 built, 0 already there")
    for r in rows:
        assert r.note == "" or r in build, (r.config, r.what, r.note)
        assert _positive(r.samples_s) and _positive(r.row_s), r
        assert r.peak_gb is None  # CPU: "n/a"
        assert f"| {r.config} | {r.what} |" in printed
        if (r.config, r.what) in per_config:
            assert all(_positive(v) for v in (r.clips_s, r.ratio, r.ms_step, r.tflops)), r
        elif (r.config, r.what) in loaders:
            assert _positive(r.clips_s) and _positive(r.ms_step) and r.ratio is None, r
        elif r in retrieval:
            assert _positive(r.ms_step) and _positive(r.tflops), r
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


@pytest.mark.parametrize("method_name", METHODS)
def test_flops_counted_on_the_meta_device_equal_those_on_real_tensors(benchmark, method_name):
    torch.manual_seed(0)
    counts = {}
    for dev in ("cpu", "meta"):
        d = torch.device(dev)
        counts[dev] = (
            g.ceiling_flops_per_sample(lambda: build_backbone("c3d"), build_method(method_name, "c3d"), 32, d),
            g.method_flops_per_sample(build_method(method_name, "c3d").train().to(d), 32, d),
            g.infer_flops_per_video(lambda: build_backbone("c3d"), (2, 3, 16, 32, 32), d),
        )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert counts["meta"] == counts["cpu"] and all(c > 0 for c in counts["cpu"])
