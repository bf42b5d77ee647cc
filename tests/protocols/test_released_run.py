"""Runs under recipe=released, end to end on tiny embedded data: the records say which recipe trained and evaluated
them and which videos the pretext lists left out, the checkpoint carries the schedule's state, and a checkpoint in
the official VCOP naming goes through the protocols with its own input scale."""

from __future__ import annotations

import json

import pytest
import torch

from experiment import app
from experiment.app import run
from methods.official_weights import to_official_state
from runtime.checkpoint import CheckpointError, load_checkpoint

from helpers import compose_cfg, smoke_overrides

ONE_SET = ("dataset.eval_on=[ucf101]",)


def test_released_recipe_run_records_its_recipe_lists_and_schedule(tiny_data, tmp_path):
    cfg = compose_cfg(
        *smoke_overrides(
            tiny_data,
            tmp_path,
            "method=vcop",
            "recipe=released",
            *ONE_SET,
            "method.released.finetune.epochs=1",
            "protocols=[linear,finetune]",
        )
    )
    written = run(cfg)
    assert len(written) == 2
    for path in written:
        rec = json.loads(path.read_text())
        assert rec["extra"]["recipe"]["name"] == "released" and rec["extra"]["input_scale"] == "unit"
        assert rec["extra"]["pretrain_lists"] == {"span": 64, "excluded_train": 0, "excluded_val": 0, "examples": []}
        assert rec["config"]["recipe"]["optimizer"] == "released"
    ft = next(json.loads(p.read_text()) for p in written if "finetune" in p.name)
    assert "val_loss" in ft["metrics"]
    run_dir = next((tmp_path / "runs").glob("vcop__tiny__*"))
    ckpt = load_checkpoint(sorted((run_dir / "checkpoints").glob("epoch_*.pt"))[-1])
    assert "schedule" in ckpt and ckpt["optimizer"]["param_groups"][0]["nesterov"] is False
    assert ckpt["pretrain_lists"]["span"] == 64


def test_released_recipe_refuses_lists_left_empty_by_short_videos(tiny_data, tmp_path):
    # tiny videos have 64 frames: a tuple of 3 x 16 frames with gaps of 9 spans 66
    cfg = compose_cfg(
        *smoke_overrides(tiny_data, tmp_path, "method=vcop", "recipe=released", *ONE_SET, "method.params.gap=9")
    )
    with pytest.raises(RuntimeError, match="shorter than the 66 frames.*short_videos=pad"):
        run(cfg)


def test_official_vcop_checkpoint_goes_through_the_protocols(tiny_data, tmp_path):
    overrides = smoke_overrides(
        tiny_data,
        tmp_path,
        "method=vcop",
        "backbone=r3d",
        "backbone.name=r3d",
        *ONE_SET,
        "protocols=[linear,retrieval]",
    )
    torch.manual_seed(0)
    model = app.method_from_config(compose_cfg(*overrides), 5)
    state = {f"module.{k}": v for k, v in to_official_state(model, "vcop").items()}  # saved from DataParallel
    path = tmp_path / "vcop_official.pth"
    torch.save(state, path)

    written = run(compose_cfg(*overrides, f"pretrained={path}", "pretrained_format=vcop"))
    assert len(written) == 2
    for p in written:
        rec = json.loads(p.read_text())
        assert rec["weights"] == "checkpoint" and rec["extra"]["checkpoint_format"] == "vcop"
        assert rec["extra"]["input_scale"] == "unit"  # the official code's [0, 1] inputs
        assert rec["config"]["pretrained_format"] == "vcop"
    with pytest.raises(CheckpointError, match="(?s)vcop_official.pth.*use pretrained_format=vcop"):
        run(compose_cfg(*overrides, f"pretrained={path}", "pretrained_format=tcgl", "method=tcgl"))
