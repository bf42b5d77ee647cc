"""The DVC pipeline end to end on a small matrix (preset=smoke), in a copy of the repository."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from helpers import REPO

pytestmark = pytest.mark.slow


def sh(cmd, cwd, env, check=True, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def dvc(*args, cwd, env, check=True):
    return sh([sys.executable, "-m", "dvc", *args], cwd, env, check)


def changed_stages(repo, env) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo, env=env).stdout or "{}"))


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory):
    """A committed copy of this checkout (tracked and new files) with a 2-method x 1-seed smoke matrix, reproduced."""
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("results/tables/", "results/plots/")):
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / rel)
    for stale in ("dvc.lock", "results/results.csv", "results/metrics.json"):
        (repo / stale).unlink(missing_ok=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["matrix"].update(methods=["random", "speednet"], seeds=[0], protocols=["linear", "retrieval"],
                            datasets=["ucf101"])
    params["run"].update(preset="smoke", overrides=[])
    params["local"] = {"warm_worker": True, "idle_s": 30}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "copy"]):
        sh(["git", *cmd], repo, env)
    out = dvc("repro", cwd=repo, env=env).stdout
    cells = {st for st in ran_stages(out) if st not in ("aggregate", "tables", "plots")}
    assert len(cells) == 9 and out.count("forked from warm worker") == 9  # every cell ran in the warm worker
    return repo, env


def test_repro_writes_records_tables_plots_and_metrics(pipeline_repo):
    repo, env = pipeline_repo
    df = pd.read_csv(repo / "results" / "results.csv")
    assert set(df.method) == {"random", "speednet"} and set(df.protocol) == {"linear", "retrieval"}
    assert set(df.dataset) == {"embedded-ucf101"} and not df.git_dirty.any()  # dvc.lock updates are not "dirty"
    assert json.loads((repo / "results" / "metrics.json").read_text())["cells"] == {"expected": 4, "missing": 0}
    for stem in ("action_recognition", "linear_probe", "retrieval", "reported_vs_reproduced", "protocol_sensitivity"):
        assert (repo / "results" / "tables" / f"{stem}.md").stat().st_size > 0
        assert "\\toprule" in (repo / "results" / "tables" / f"{stem}.tex").read_text()
    assert len(list((repo / "results" / "plots").glob("*.png"))) == 6
    shown = json.loads(dvc("metrics", "show", "--json", cwd=repo, env=env).stdout)
    assert "speednet-tiny" in json.dumps(shown)
    assert json.loads((repo / "data" / "manifest.json").read_text())["ucf101"]["synthetic"] is True
    # data, checkpoints and features are DVC outputs, ignored by git
    ignored = sh(["git", "status", "--porcelain", "--ignored"], repo, env).stdout
    for path in ("data/", "runs/", "results/records/"):
        assert f"!! {path}" in ignored
    assert dvc("status", cwd=repo, env=env).stdout.strip().endswith("up to date.")


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_one_method_config_edit_reruns_only_that_method(pipeline_repo):
    repo, env = pipeline_repo
    conf = repo / "protocols" / "conf" / "method" / "speednet.yaml"
    original = conf.read_text()
    other = next((repo / "results" / "records").glob("random__tiny__seed0__ucf101__linear/*.json"))
    before = other.read_bytes()
    try:
        conf.write_text(original.replace("lr: ", "lr: 0.5 #", 1))
        assert changed_stages(repo, env) == {"pretrain@speednet-tiny-0"}
        assert ran_stages(dvc("repro", cwd=repo, env=env).stdout) == {
            "pretrain@speednet-tiny-0", "features@speednet-tiny-0-ucf101", "evaluate@speednet-tiny-0-linear-ucf101",
            "evaluate@speednet-tiny-0-retrieval-ucf101", "aggregate", "tables", "plots"}
        assert other.read_bytes() == before
    finally:
        conf.write_text(original)
    dvc("repro", cwd=repo, env=env)  # back to the committed config: DVC restores those cells from its run cache
    assert changed_stages(repo, env) == set()


def test_adding_a_seed_adds_only_its_cells(pipeline_repo):
    repo, env = pipeline_repo
    params_file = repo / "params.yaml"
    original = params_file.read_text()
    try:
        params = yaml.safe_load(original)
        params["matrix"]["seeds"] = [0, 1]
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        changed = changed_stages(repo, env)
        assert {s for s in changed if s.startswith(("pretrain", "features", "evaluate"))} == {
            "pretrain@random-tiny-1", "pretrain@speednet-tiny-1", "features@random-tiny-1-ucf101",
            "features@speednet-tiny-1-ucf101", "evaluate@random-tiny-1-linear-ucf101",
            "evaluate@random-tiny-1-retrieval-ucf101", "evaluate@speednet-tiny-1-linear-ucf101",
            "evaluate@speednet-tiny-1-retrieval-ucf101"}
        assert "aggregate" in changed and not any("-0" in s for s in changed)
    finally:
        params_file.write_text(original)


def test_exp_run_with_a_one_off_variation_keeps_finished_cells(pipeline_repo):
    repo, env = pipeline_repo
    record = next((repo / "results" / "records").glob("speednet__tiny__seed0__ucf101__linear/*.json"))
    before = record.read_bytes()
    dvc("exp", "run", "-S", "matrix.protocols=[linear]", cwd=repo, env=env)
    df = pd.read_csv(repo / "results" / "results.csv")
    assert set(df.protocol) == {"linear"}
    assert record.read_bytes() == before  # the evaluate cell was not re-run
    assert "linear" in dvc("exp", "show", "--no-pager", "--csv", cwd=repo, env=env).stdout


def _tensors(path) -> dict:
    import torch

    def flat(o, p=""):
        if isinstance(o, dict):
            for k, v in o.items():
                yield from flat(v, f"{p}/{k}")
        elif torch.is_tensor(o):
            yield p, o

    return dict(flat(torch.load(path, map_location="cpu", weights_only=False)))


def _cell_outputs(repo) -> dict:
    ckpt = next((repo / "runs/pipeline/pretrain/speednet__tiny__seed0").glob("*/final.pt"))
    feats = sorted((_tensors(f) for f in (repo / "runs/pipeline/features/speednet__tiny__seed0__ucf101").glob("*.pt")),
                   key=lambda d: (d["/labels"].numel(), float(d["/pooled"].sum())))
    rec = json.loads(next((repo / "results/records/speednet__tiny__seed0__ucf101__linear").glob("*.json")).read_text())
    return {"weights": _tensors(ckpt), "features": feats, "record": rec}


def test_cells_in_the_warm_worker_equal_cells_in_fresh_processes(pipeline_repo):
    """Runs last (it re-runs cells). The fixture's repro ran every cell in a fork of the warm worker; the same
    three cells again, each in a fresh process (VSSL_WARM=0), give the same weights, features and metrics."""
    import torch

    repo, env = pipeline_repo
    sh(["git", "checkout", "--", "params.yaml"], repo, env)  # undo the exp run's params: a clean tree, as before
    warm = _cell_outputs(repo)
    cold_env = {**env, "VSSL_WARM": "0"}
    stages = ("pretrain@speednet-tiny-0", "features@speednet-tiny-0-ucf101", "evaluate@speednet-tiny-0-linear-ucf101")
    for stage in stages:
        out = dvc("repro", "-f", "-s", stage, cwd=repo, env=cold_env).stdout
        assert "forked from warm worker" not in out and "Running stage" in out
    cold = _cell_outputs(repo)
    assert warm["weights"].keys() == cold["weights"].keys() and len(warm["weights"]) > 5
    assert all(torch.equal(warm["weights"][k], cold["weights"][k]) for k in warm["weights"])
    assert len(warm["features"]) == len(cold["features"]) == 3
    for a, b in zip(warm["features"], cold["features"]):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    volatile = {"timestamp", "wall_time_s"}  # the checkpoint sha256 too is the same: byte-identical weights
    assert {k: v for k, v in warm["record"].items() if k not in volatile} == \
        {k: v for k, v in cold["record"].items() if k not in volatile}
