"""The DVC pipeline end to end on a small matrix (preset=smoke), in a copy of the repository, with launcher: local."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from dvc_repo import changed_stages, copy_repo, dvc, sh
from helpers import REPO

pytestmark = pytest.mark.slow
SMOKE = {
    "methods": ["random", "speednet", "tcgl"],
    "backbones": ["tiny"],
    "seeds": [0],
    "protocols": ["linear", "retrieval"],
    "datasets": ["ucf101"],
}


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory):
    """The smoke matrix (random, speednet, tcgl and tcgl's untrained control; one seed), reproduced: a first
    `dvc repro` in which one cell is killed while the others run (see test_a_killed_cell_...), then a second one.
    Returns the repository, the environment and the two runs' output."""
    repo, env = copy_repo(tmp_path_factory.mktemp("pipeline") / "repo", SMOKE)
    dvc("repro", "data", cwd=repo, env=env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    status = repo / "runs" / "pipeline" / "status.json"
    victim, deadline = None, time.time() + 120
    while victim is None and time.time() < deadline:
        time.sleep(0.2)
        try:
            cell = json.loads(status.read_text())["cells"].get("tcgl__tiny__seed0", {})
        except (OSError, ValueError):
            continue
        if cell.get("state") == "running":
            victim = int(cell["job"].split()[-1])
    assert victim, "tcgl's cell never started"
    time.sleep(2)
    os.kill(victim, signal.SIGKILL)
    first, _ = proc.communicate(timeout=300)
    first_code, first_status = proc.returncode, json.loads(status.read_text())["cells"]
    first_records = {p.name for p in (repo / "results" / "records").glob("*.json")}
    second = dvc("repro", cwd=repo, env=env).stdout
    return (
        repo,
        env,
        {
            "first": first,
            "first_code": first_code,
            "first_status": first_status,
            "first_records": first_records,
            "second": second,
        },
    )


def records(repo) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((repo / "results" / "records").glob("*.json"))}


def test_repro_writes_records_tables_plots_and_metrics(pipeline_repo):
    repo, env, _ = pipeline_repo
    df = pd.read_csv(repo / "results" / "results.csv", keep_default_na=False)
    rows = set(zip(df.method, df.weights))
    assert rows == {
        ("random", "untrained"),
        ("speednet", "pretrained"),
        ("tcgl", "pretrained"),
        ("tcgl", "untrained"),
    }  # tcgl's STKD makes its own control; speednet's is random
    assert set(df.protocol) == {"linear", "retrieval"} and set(df.dataset) == {"embedded-ucf101"}
    assert not df.git_dirty.any() and len(set(df.git_sha)) == 1
    assert {"timestamp", "wall_time_s"}.isdisjoint(df.columns)  # no wall clock in a committed output
    assert json.loads((repo / "results" / "metrics.json").read_text())["records"] == {"expected": 8, "missing": 0}
    for stem in (
        "action_recognition",
        "linear_probe",
        "retrieval_top1",
        "retrieval",
        "reported_vs_reproduced",
        "protocol_sensitivity",
    ):
        assert (repo / "results" / "tables" / f"{stem}.md").stat().st_size > 0
        assert "\\toprule" in (repo / "results" / "tables" / f"{stem}.tex").read_text()
    linear = (repo / "results" / "tables" / "linear_probe.md").read_text()
    assert "| tcgl (untrained) |" in linear and "Holm-corrected" in linear
    assert len(list((repo / "results" / "plots").glob("*.png"))) == 6
    curves = pd.read_csv(repo / "results" / "pretrain_curves.csv")
    assert set(curves.method) == {"speednet", "tcgl"} and set(curves.chance.round(4)) == {0.5, 0.1667}
    assert "speednet-tiny" in json.dumps(json.loads(dvc("metrics", "show", "--json", cwd=repo, env=env).stdout))
    # records are a DVC output (not in git); the aggregates, tables and plots are committed files
    ignored = sh(["git", "status", "--porcelain", "--ignored"], repo, env).stdout
    assert "!! results/records/" in ignored and "?? results/results.csv" in ignored
    assert dvc("status", cwd=repo, env=env).stdout.strip().endswith("up to date.")
    status = sh([sys.executable, "-m", "pipeline", "status"], repo, env).stdout.splitlines()
    cells = {ln.split()[0]: ln.split()[1] for ln in status[1:]}
    assert cells == {
        c: "done"
        for c in ("random__tiny__seed0", "speednet__tiny__seed0", "tcgl__tiny__seed0", "tcgl__untrained__tiny__seed0")
    }


def test_a_fresh_clone_reproduces_the_committed_results_byte_for_byte(pipeline_repo, tmp_path):
    """The results committed (dvc.lock, CSV, metrics, tables, plots) come back bit for bit from a clone that has no
    DVC cache, no data and no runs: every record, the data included, is computed again."""
    repo, env, _ = pipeline_repo
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "results"], repo, env)
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    out = dvc("repro", cwd=clone, env=env).stdout
    assert "4 to run" in out and "Running stage 'data'" in out
    assert sh(["git", "status", "--porcelain"], clone, env).stdout == ""  # dvc.lock and every result file unchanged
    assert records(clone) == records(repo)
    assert dvc("status", cwd=clone, env=env).stdout.strip().endswith("up to date.")
    assert "Running stage" not in dvc("repro", cwd=clone, env=env).stdout


def test_the_sweep_stage_depends_on_the_code_its_records_depend_on():
    from results.provenance import EVAL_CODE

    deps = set(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["sweep"]["deps"])
    assert set(EVAL_CODE) <= deps
    orchestration = {"run.py", "__init__.py"}  # the DVC orchestration is pipeline/ and slurm/, outside protocols/
    for module in (REPO / "protocols").glob("*.py"):
        assert f"protocols/{module.name}" in EVAL_CODE or module.name in orchestration, (
            f"protocols/{module.name} is neither code a record depends on (results.provenance.EVAL_CODE and the "
            "sweep's deps in dvc.yaml) nor orchestration: classify it"
        )


def test_adding_a_seed_runs_only_its_cells(pipeline_repo):
    repo, env, _ = pipeline_repo
    params_file = repo / "params.yaml"
    original = params_file.read_text()
    dry = sh([sys.executable, "-m", "pipeline", "sweep", "--dry-run"], repo, env).stdout
    assert "0 to run" in dry  # nothing left to do, and a dry run changes nothing
    try:
        params = yaml.safe_load(original)
        params["matrix"]["seeds"] = [0, 1]
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        assert changed_stages(repo, env) == {"sweep"}
        dry = sh([sys.executable, "-m", "pipeline", "sweep", "--dry-run"], repo, env).stdout
        assert "8 cell(s) in the matrix, 4 done already, 4 to run" in dry
        assert {ln.split()[-1] for ln in dry.splitlines() if "would run" in ln} == {
            "random__tiny__seed1",
            "speednet__tiny__seed1",
            "tcgl__tiny__seed1",
            "tcgl__untrained__tiny__seed1",
        }
    finally:
        params_file.write_text(original)
    assert changed_stages(repo, env) == set()


def test_one_method_config_edit_reruns_only_that_method_and_keeps_the_old_record(pipeline_repo):
    repo, env, _ = pipeline_repo
    conf = repo / "protocols" / "conf" / "method" / "speednet.yaml"
    original = conf.read_text()
    before = records(repo)
    try:
        conf.write_text(original.replace("lr: ", "lr: 0.5 #", 1))
        assert changed_stages(repo, env) >= {"sweep"}
        # the sweep stage's command itself (what `dvc repro` runs), and the aggregation: no tables or plots needed
        out = sh([sys.executable, "-m", "pipeline", "sweep"], repo, env).stdout
        assert "4 cell(s) in the matrix, 3 done already, 1 to run" in out and "speednet__tiny__seed0: done" in out
        sh([sys.executable, "-m", "results.aggregate"], repo, env)
        after = records(repo)
        kept = {k for k in before if not k.startswith(("speednet", "matrix"))}
        assert all(after[k] == before[k] for k in kept)  # the other cells were not touched
        new = {k for k in after if k.startswith("speednet")}
        assert len(new) == 2 and new.isdisjoint(before)  # another config: another variant, other files
        kept_away = (repo / "results" / "records" / ".superseded").glob("*.json")
        old = {p.name.rsplit(".", 2)[0] + ".json" for p in kept_away}
        assert {k for k in before if k.startswith("speednet")} <= old  # the earlier result is kept, not lost
        df = pd.read_csv(repo / "results" / "results.csv", keep_default_na=False)
        assert len(set(df[df.method == "speednet"].variant_hash)) == 1  # the table holds the matrix's config only
    finally:
        conf.write_text(original)


def test_a_killed_cell_fails_alone_and_the_rerun_runs_only_it(pipeline_repo):
    """Cells run concurrently; one killed mid-run (tcgl's, SIGKILL 2 s in) fails the stage with its log named, the
    others' records stay, and the next `dvc repro` runs that cell alone."""
    repo, env, runs = pipeline_repo
    assert "4 cell(s) in the matrix, 0 done already, 4 to run" in runs["first"]
    assert runs["first_code"] != 0
    assert "tcgl__tiny__seed0: failed" in runs["first"] and "exit -9" in runs["first"]
    assert "runs/pipeline/logs/tcgl__tiny__seed0.log" in runs["first"]
    states = {n: c["state"] for n, c in runs["first_status"].items()}
    assert states == {
        "random__tiny__seed0": "done",
        "speednet__tiny__seed0": "done",
        "tcgl__tiny__seed0": "failed",
        "tcgl__untrained__tiny__seed0": "done",
    }
    assert {n.split("__")[0] for n in runs["first_records"] if n != "matrix.json"} == {"random", "speednet", "tcgl"}
    assert not any(n.startswith("tcgl__tiny__") for n in runs["first_records"])  # the killed cell wrote nothing
    assert "4 cell(s) in the matrix, 3 done already, 1 to run" in runs["second"]
    assert "tcgl__tiny__seed0: done" in runs["second"]
