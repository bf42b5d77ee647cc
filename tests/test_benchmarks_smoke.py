"""The benchmarks still run: CI never measures them, so without these a refactor could silently break them
(``benchmarks/gpu_throughput.py`` alone reaches into a dozen internal names).

Each script under benchmarks/ is imported and run in-process on the smallest input it takes (``--smoke``: tiny data,
one or two steps or clips, CPU), and its table is checked for the expected columns; the pytest-benchmark files run
once in a subprocess with ``--benchmark-disable`` (each benchmarked call once, untimed, the files' own checks
included). ``gpu_throughput.py``'s CPU smoke run is its bench file's first test
(``test_smoke_table_has_every_row_with_positive_numbers_and_ratios``), so it is not run a second time here; on a
machine with CUDA it also runs here on the GPU.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest
import torch

from benchmarks import (
    dataset_properties,
    decode_throughput,
    gpu_throughput,
    pretext_probe,
)

from helpers import REPO

BENCH_FILES = ("test_augment_retrieval_bench.py", "test_decode_bench.py", "test_gpu_throughput.py")
# Left out of the bench files' run here, for time: the c3d backbone's checks (~25 s of CPU: building c3d's 78M
# parameters a dozen times). The FLOP counters and train_shapes they check run in the smoke table test on `tiny`.
SLOW_BENCH_TESTS = "not c3d and not flops"


def _number(x) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x >= 0


@pytest.fixture(scope="module")
def bench_files_run(tmp_path_factory):
    """The pytest-benchmark files, once each, in their own process: started by the first test of this module (so
    that it runs beside the in-process scripts, on the other core), read by the last. Yields (process, log file)."""
    log = tmp_path_factory.mktemp("bench-files") / "pytest.log"
    # addopts cleared: its --benchmark-skip would skip every test that uses the benchmark fixture
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *[f"benchmarks/{f}" for f in BENCH_FILES],
        "-o",
        "addopts=",
        "--benchmark-disable",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rs",
        "-k",
        SLOW_BENCH_TESTS,
        "--basetemp",
        str(log.parent / "tmp"),
    ]
    with log.open("w") as f:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
    yield proc, log
    if proc.poll() is None:  # not waited for: the test that reads it was deselected, or stopped by -x
        proc.kill()
    proc.wait()


def test_decode_throughput_smoke(tmp_path, capsys, bench_files_run):  # the first test: starts the bench files' run
    rows = decode_throughput.main(["--smoke", "--data", str(tmp_path / "subset")])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("decoder"))
    assert all(c in header for c in decode_throughput.COLUMNS)
    assert [r["mode"] for r in rows] == list(decode_throughput.MODES)
    for r in rows:
        assert list(r) == list(decode_throughput.COLUMNS) and r["decoder"] == "pyav"
        assert all(_number(r[c]) and r[c] > 0 for c in decode_throughput.COLUMNS[2:]), r
        assert f"pyav     {r['mode']}" in out


@pytest.mark.parametrize("method", ["vcop", "supervised"])  # the two branches of its evaluation
def test_pretext_probe_smoke(tmp_path, capsys, method):
    per_class = pretext_probe.main(["--smoke", "--method", method, "--work", str(tmp_path)])
    out = capsys.readouterr().out
    names = pretext_probe.variant_spec("smoke").ucf_names
    assert set(per_class) == set(names)
    assert all(0.0 <= acc <= 1.0 for acc in per_class.values())
    assert out.startswith(f"smoke, {method}: 2 steps")
    for name in names:
        assert re.search(rf"^  {name} +\d\.\d\d$", out, flags=re.MULTILINE), out


def test_dataset_properties_smoke(tmp_path, capsys, tiny_data):
    """The real chain: ``protocols/run.py`` in a subprocess per (method, seed), then the table from its records."""
    lines = dataset_properties.main(
        ["--methods", "speednet", "--seeds", "0", "--work", str(tmp_path), "--smoke", f"paths.data={tiny_data}"]
    )
    assert capsys.readouterr().out.splitlines() == lines
    head, rule, row = lines
    cols = dataset_properties.COLUMNS
    assert [c.strip() for c in head.strip("|").split("|")] == list(cols)
    assert rule == "|" + "---|" * len(cols)
    cells = dict(zip(cols, (c.strip() for c in row.strip("|").split("|"))))
    assert cells["method"] == "speednet" and cells["seeds"] == "1"
    # the pretraining log was found (its checkpoint's sha256 is the one the records evaluated), chance next to it
    assert re.fullmatch(r"\d\.\d{3} \(0\.500\)", cells["pretext val acc (chance)"]), cells
    assert re.fullmatch(r"\d\.\d{3}", cells["linear top-1 ucf"]) and re.fullmatch(
        r"\d\.\d{3}", cells["retrieval top-1 ucf"]
    )
    assert cells["linear top-1 hmdb"] == cells["retrieval top-1 hmdb"] == ""  # --smoke evaluates on ucf101 only


def test_gpu_throughput_imports_and_parses_its_smoke_mode():
    """Its CPU smoke run is in the bench files (below); here: the module imports and --smoke means CPU, tiny."""
    args = gpu_throughput.parse_args(["--smoke", "--data", "somewhere"])
    assert (args.device, args.backbones, args.batch, args.steps, args.workers) == ("cpu", "tiny", 2, 2, 0)
    assert gpu_throughput.overrides(args, "vcop", "tiny")[:2] == ["preset=smoke", "method=vcop"]
    table = gpu_throughput.table([gpu_throughput.Row("vcop / tiny", gpu_throughput.CEILING, samples_s=1.0)])
    head = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert head[:3] == ["config", "measurement", "samples/s"] and "ratio to bf16+CL ceiling" in head
    assert f"| vcop / tiny | {gpu_throughput.CEILING} | 1.0 | n/a |" in table


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA: the GPU rows (autocast, channels_last, peak memory)")
def test_gpu_throughput_smoke_on_cuda(tmp_path, capsys):
    rows = gpu_throughput.main(["--smoke", "--device", "cuda", "--methods", "vcop", "--data", str(tmp_path / "data")])
    assert "ratio to bf16+CL ceiling" in capsys.readouterr().out
    timed = [r for r in rows if not r.what.startswith("frame cache build")]
    assert timed and all(r.note == "" and r.samples_s and r.samples_s > 0 for r in timed), timed
    assert all(r.peak_gb is not None for r in rows if r.what.startswith("train"))


def test_benchmark_files_run_once(bench_files_run):
    """Every bench test selected passes once with --benchmark-disable, and none is skipped (they run on the CPU)."""
    proc, log = bench_files_run
    proc.wait(timeout=300)
    out = log.read_text()
    assert proc.returncode == 0, out[-6000:]
    summary = out.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 9 and "skipped" not in summary, out[-3000:]
