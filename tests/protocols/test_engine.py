"""runtime.engine's optimiser and schedule equal timm's factories, which they replace to keep timm's ~3 s import
out of every training process."""

import subprocess
import sys

import pytest
import torch

from runtime import engine

from helpers import REPO


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv3d(3, 4, 3),
        torch.nn.BatchNorm3d(4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )


@pytest.mark.parametrize(
    "name,keys",
    [
        ("sgd", ("lr", "momentum", "nesterov", "weight_decay", "foreach", "dampening")),
        ("adamw", ("lr", "betas", "eps", "weight_decay", "foreach", "amsgrad")),
    ],
)
def test_optimizer_matches_timm_groups_and_steps(name, keys):
    from timm.optim import create_optimizer_v2

    a, b = model(), model()
    ours = engine.make_optimizer(a, 0.1, 0.9, 5e-4, name)
    ref = create_optimizer_v2(b, opt=name, lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=True)
    assert type(ours) is type(ref)
    assert [{k: g[k] for k in keys} for g in ours.param_groups] == [{k: g[k] for k in keys} for g in ref.param_groups]
    assert [[p.shape for p in g["params"]] for g in ours.param_groups] == [
        [p.shape for p in g["params"]] for g in ref.param_groups
    ]
    x = torch.randn(2, 3, 5, 5, 5)
    for m, opt in ((a, ours), (b, ref)):
        for _ in range(3):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_unknown_optimizer_is_an_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match="sgd, adamw"):
        engine.make_optimizer(model(), 0.1, 0.9, 0.0, "adam")


@pytest.mark.parametrize("epochs,warmup", [(10, 1), (300, 5), (4, 0), (1, 0), (3, 3)])
def test_schedule_matches_timm_cosine_with_warmup_prefix(epochs, warmup):
    from timm.scheduler import CosineLRScheduler

    lr = 0.05
    ours_opt, ref_opt = engine.make_optimizer(model(), lr, 0.9, 0.0), engine.make_optimizer(model(), lr, 0.9, 0.0)
    ours = engine.make_scheduler(ours_opt, epochs, warmup, lr)
    ref = CosineLRScheduler(
        ref_opt,
        t_initial=max(1, epochs),
        lr_min=lr * 1e-2,
        warmup_t=warmup,
        warmup_lr_init=lr * 1e-2 if warmup else lr,
        warmup_prefix=True,
        t_in_epochs=True,
    )
    assert ours_opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-12)
    for epoch in range(epochs + warmup + 2):
        ours.step(epoch)
        ref.step(epoch)
        for g, h in zip(ours_opt.param_groups, ref_opt.param_groups):
            assert g["lr"] == pytest.approx(h["lr"], rel=1e-12, abs=1e-15), epoch


def test_training_does_not_import_timm():
    code = (
        "import sys, torch; from runtime import engine; m = torch.nn.Linear(2, 2); "
        "engine.make_scheduler(engine.make_optimizer(m, 0.1, 0.9, 0.0), 3, 1, 0.1); "
        "sys.exit(1 if 'timm' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_loader_workers_that_live_across_epochs_give_each_epochs_own_batches(ucf_root):
    from datasets.clips import ClipDataset
    from datasets.samplers import ClipTuple
    from datasets.splits import load_split
    from datasets.transforms import ClipTransform
    from runtime.engine import EpochLoader, make_loader

    ds = ClipDataset(
        load_split("ucf101", ucf_root).train, ClipTuple(3, 8, 4), ClipTransform(True, resize=(32, 48), crop=28), seed=5
    )
    cpu = torch.device("cpu")
    persistent = EpochLoader(ds, 3, True, 5, 2, cpu)
    seen, iterators = [], []
    for epoch in range(3):
        rng = torch.random.get_rng_state()
        loader = persistent.epoch(epoch)
        first = next(iter(loader))  # an epoch left after one batch: the next one must not see its leftovers
        got = [b["clips"] for b in loader]
        fresh = [b["clips"] for b in make_loader(ds, 3, True, 5, epoch, 0, cpu)]
        assert len(got) == len(fresh) and all(torch.equal(a, b) for a, b in zip(got, fresh))
        assert torch.equal(first["clips"], fresh[0])
        seen.append(got[0])
        # starting workers (epoch 0) or not (later epochs) leaves the global RNG alone: a resumed run draws the same
        assert torch.equal(torch.random.get_rng_state(), rng)
        iterators.append(loader._iterator)  # DataLoader internals: the object that owns the worker processes
    assert not torch.equal(seen[0], seen[1])  # another epoch: another order and augmentation
    workers = iterators[0]._workers
    assert all(it is iterators[0] for it in iterators) and all(w.is_alive() for w in workers)  # the same processes
    persistent.close()
    assert not any(w.is_alive() for w in workers)
