"""TCGL's Kinetics-400 rows on the embedded layouts: pretrain on embedded Kinetics-400 (some videos missing, one
undecodable), evaluate on the embedded UCF101, SSv2 and Kinetics-400 sets; every record carries what was skipped."""

import json
import re
import shlex

import pytest
import yaml

from datasets.errors import IncompleteDatasetError
from experiment import data
from experiment.app import run
from experiment.checks import check_values
from results.identity import Cell

from helpers import REPO, compose_cfg, smoke_overrides


@pytest.fixture(scope="module")
def k400_records(tmp_path_factory):
    data_dir, work = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("work")
    cfg = compose_cfg(
        *smoke_overrides(data_dir, work),
        "method=tcgl",
        "dataset=embedded_k400",
        "dataset.eval_on=[ucf101,ssv2,kinetics400]",
        "protocols=[retrieval]",
    )
    written = run(cfg)
    manifest = json.loads((data_dir / "embedded" / "kinetics400-tiny-seed0" / "SYNTHETIC.json").read_text())
    return {json.loads(p.read_text())["dataset"]: json.loads(p.read_text()) for p in written}, manifest


def test_pretrains_on_kinetics_and_evaluates_every_other_set(k400_records):
    records, _ = k400_records
    assert sorted(records) == ["embedded-kinetics400", "embedded-ssv2", "embedded-ucf101"]
    for r in records.values():
        assert r["extra"]["pretrain_data"] == "embedded-kinetics400" and r["split"] == 1
        assert 0 <= r["metrics"]["top1"] <= 1 and r["n_videos"] > 0


def test_every_record_counts_what_kinetics_skipped(k400_records):
    records, manifest = k400_records
    missing, broken = len(manifest["missing"]), len(manifest["broken"])
    assert missing >= 1 and broken == 1
    fingerprints = {r["extra"]["pretrain_fingerprint"] for r in records.values()}
    assert len(fingerprints) == 1  # one pretraining set, the same fingerprint in every record
    for r in records.values():
        assert r["extra"]["pretrain_skipped"] == {"missing": missing, "undecodable": broken}
    k400 = records["embedded-kinetics400"]
    assert k400["n_skipped"] == missing + broken and k400["extra"]["skipped"]["undecodable"] == broken
    assert k400["dataset_fingerprint"] == next(iter(fingerprints))
    assert records["embedded-ucf101"]["n_skipped"] == 0 and "skipped" not in records["embedded-ucf101"]["extra"]


def test_more_skipped_than_max_skipped_stops_the_run(k400_records, tmp_path):
    cfg = compose_cfg(
        *smoke_overrides(tmp_path / "d", tmp_path / "w"),
        "dataset=embedded_k400",
        "dataset.sets.kinetics400.max_skipped=0.01",
    )
    with pytest.raises(IncompleteDatasetError, match=r"of the \d+ videos listed .* max_skipped"):
        data.load_set(cfg, "kinetics400")


def test_the_pipeline_matrix_offers_the_kinetics_setting():
    from pipeline.params import overrides

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["run"]["dataset"] = "embedded_k400"
    params["matrix"]["datasets"] = ["ucf101", "hmdb51", "ssv2"]
    cfg = compose_cfg(*overrides(params, Cell("tcgl", "tiny", 0)))
    check_values(cfg)
    assert cfg.dataset.pretrain_on == "kinetics400" and list(cfg.dataset.eval_on) == ["ucf101", "hmdb51", "ssv2"]


def _readme_k400_commands():
    text = (REPO / "README.md").read_text()
    block = text.split("## Kinetics-400 and Something-Something V2")[1].split("```bash\n")[1].split("```")[0]
    block = block.replace("\\\n", " ")
    env = dict(re.findall(r'^(\w+)="([^"]*)"$', block, flags=re.M))
    for line in block.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("python protocols/run.py"):
            for k, v in env.items():
                line = line.replace(f"${k}", v)
            yield shlex.split(line)[2:]


def test_the_readme_kinetics_commands_compose():
    commands = list(_readme_k400_commands())
    assert len(commands) >= 5
    for args in commands:
        cfg = compose_cfg(*args)
        check_values(cfg)
        assert cfg.dataset.pretrain_on == "kinetics400"
        if "preset=paper" in args:
            assert cfg.recipe.name == "released" and cfg.method.optim.lr == 5e-3


def test_short_kinetics_videos_follow_the_recipes_short_video_policy(k400_records, tmp_path):
    """Kinetics clips differ in length: frame counts come from the decoder, and recipe.short_videos=exclude (the
    released lists) leaves out exactly the videos shorter than a tuple."""
    _, manifest = k400_records
    cfg = compose_cfg(*smoke_overrides(tmp_path / "d", tmp_path / "w"), "dataset=embedded_k400")
    es = data.eval_set(cfg, "kinetics400", 0)
    (train, val), info = data.exclude_short(cfg, [es.train, es.val], 64)
    short = {p for p in manifest["short"] if p not in manifest["missing"] and p not in manifest["broken"]}
    listed = {e.relpath for e in es.train + es.val}
    assert short & listed and info["excluded_train"] + info["excluded_val"] == len(short & listed)
    assert not ({e.relpath for e in train + val} & short)
