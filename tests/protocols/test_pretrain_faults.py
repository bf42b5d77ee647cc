"""Pretraining stops on a non-finite loss and keeps the last good checkpoint."""

from pathlib import Path

import pytest
import torch

from experiment.app import run
from methods import registry
from methods.vcop import VCOP
from protocols.pretrain import LossWatch, NonFiniteLossError
from runtime.checkpoint import latest_good_checkpoint

from helpers import compose_cfg, smoke_overrides


class NanInSecondEpoch(VCOP):
    """VCOP whose loss turns NaN after the first few training steps (a diverging run)."""

    steps = 0

    def forward(self, batch):
        out = super().forward(batch)
        if self.training:
            NanInSecondEpoch.steps += 1
            if NanInSecondEpoch.steps > 4:  # tiny data: 4 steps of 8 clips make one epoch
                out.loss = out.loss * float("nan")
        return out


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tiny_data, tmp_path, request):
    registry.available_methods()  # discover the real methods first
    registry.register("test_nan_in_epoch_2")(NanInSecondEpoch)
    request.addfinalizer(lambda: registry.METHODS.unregister("test_nan_in_epoch_2"))  # for this test only
    cfg = compose_cfg(*smoke_overrides(tiny_data, tmp_path, "method=vcop", "pretrain.epochs=3", "stage=pretrain"))
    cfg.method.name = "test_nan_in_epoch_2"
    NanInSecondEpoch.steps = 0
    with pytest.raises(NonFiniteLossError, match=r"non-finite pretraining loss \(nan\) at epoch 2.*last good"):
        run(cfg)
    work = next((tmp_path / "runs").glob("test_nan_in_epoch_2__*"))
    good = latest_good_checkpoint(work / "checkpoints")
    assert good is not None and good.name == "epoch_0000.pt"
    assert not (work / "final.pt").exists()
    state = torch.load(good, weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_a_loss_read_every_few_steps_still_names_the_first_bad_step():
    # on CUDA the loss is read every CUDA_READ_EVERY steps, not every step (each read stalls the GPU)
    watch = LossWatch(torch.device("cpu"), 3, epoch=4, meta={"method": "vcop"}, ckpt_dir=Path("ck"))
    watch.on_loss(torch.tensor(1.5), 0)
    watch.add(torch.tensor(1.5), torch.tensor(0.25), 8)
    watch.on_loss(torch.tensor(float("inf")), 1)  # not read yet: no error
    watch.add(torch.tensor(float("inf")), torch.tensor(0.5), 8)
    with pytest.raises(NonFiniteLossError, match=r"\(inf\) at epoch 5, step 2 of vcop.*last good checkpoint in ck"):
        watch.on_loss(torch.tensor(float("nan")), 2)  # the third step reads: the first bad one is named
    clean = LossWatch(torch.device("cpu"), 100, epoch=0, meta={"method": "vcop"}, ckpt_dir=Path("ck"))
    clean.on_loss(torch.tensor(2.0), 0)
    clean.add(torch.tensor(2.0), torch.tensor(0.5), 4)
    clean.add(torch.tensor(1.0), 0.25, 4)
    clean.check()  # the end-of-epoch read: finite, so no error
    assert clean.sums.tolist() == [12.0, 3.0]
    clean.on_loss(torch.tensor(float("nan")), 1)
    with pytest.raises(NonFiniteLossError, match="step 2"):
        clean.check()
