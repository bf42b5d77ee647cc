"""recipe=released trains and evaluates as the released TCGL / VCOP code; recipe=suite is unchanged.

Each test computes the released rule here, independently (the optimiser's groups, ReduceLROnPlateau's rule, the
per-position BatchNorm updates, the list filter, the test clip starts, the centre crop), and compares."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from datasets.samplers import UniformClips
from datasets.splits import VideoEntry
from datasets.transforms import ClipTransform
from experiment import app, data
from experiment.checks import ConfigValueError, check_values
from methods.backbones.base import init_pytorch_default
from methods.ordering import gather_items
from protocols.finetune import Classifier
from runtime import recipes

from helpers import compose_cfg
from videofiles import frame_pattern, write_video


def cfg_for(*overrides):
    return compose_cfg(*overrides)


# ------------------------------------------------------------------------------------------- optimiser, schedule


def test_paper_preset_selects_the_released_recipe_and_suite_stays_the_default():
    assert cfg_for().recipe.name == "suite"
    paper = cfg_for("preset=paper")
    assert paper.recipe.name == "released" and paper.recipe.optimizer == "released"
    assert cfg_for("preset=paper", "recipe=suite").recipe.name == "suite"


@pytest.mark.parametrize("method", ["tcgl", "vcop"])
def test_released_pretraining_optimiser_is_plain_sgd_with_decay_on_every_parameter(method):
    cfg = cfg_for(f"method={method}", "recipe=released", "method.optim.name=sgd", "method.optim.lr=0.003")
    model = app.method_from_config(cfg, 5)
    opt, _ = recipes.pretrain_optimizer(model, cfg)
    assert type(opt) is torch.optim.SGD and len(opt.param_groups) == 1
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["weight_decay"], g["nesterov"], g["dampening"]) == (0.003, 0.9, 5e-4, False, 0)
    assert {id(p) for p in g["params"]} == {id(p) for p in model.parameters()}  # biases and BN included


def test_suite_optimiser_keeps_nesterov_and_no_decay_on_one_d_parameters():
    cfg = cfg_for("method=tcgl", "method.optim.name=sgd")
    model = app.method_from_config(cfg, 5)
    opt, schedule = recipes.pretrain_optimizer(model, cfg)
    assert isinstance(schedule, recipes.Cosine)
    no_decay, decay = opt.param_groups
    assert no_decay["weight_decay"] == 0.0 and no_decay["nesterov"]
    assert all(p.ndim <= 1 for p in no_decay["params"]) and all(p.ndim > 1 for p in decay["params"])


def plateau_reference(metrics, lr, factor, patience, min_lr, threshold=1e-4):
    """ReduceLROnPlateau(mode=min, threshold_mode=rel) written out: the lr of every epoch (before its step)."""
    best, bad, out = float("inf"), 0, []
    for m in metrics:
        out.append(lr)
        if m < best * (1 - threshold):
            best, bad = m, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = max(lr * factor, min_lr), 0
    return out


def test_tcgl_released_schedule_is_a_plateau_on_the_validation_order_loss():
    cfg = cfg_for("method=tcgl", "recipe=released", "method.optim.lr=0.005")
    model = app.method_from_config(cfg, 5)
    opt, schedule = recipes.pretrain_optimizer(model, cfg)
    assert isinstance(schedule, recipes.Plateau) and schedule.metric == "loss_order"
    order = [2.0 - 0.1 * e for e in range(10)] + [1.0] * 290  # improves for 10 epochs, then a plateau
    total = [5.0 - 0.5 * e for e in range(300)]  # the total loss keeps falling: not what the release steps on
    lrs = []
    for epoch, (o, t) in enumerate(zip(order, total)):
        schedule.begin(epoch)
        lrs.append(opt.param_groups[0]["lr"])
        schedule.end(epoch, {"val_loss": t, "loss_order": o})
    expect = plateau_reference(order, 0.005, 0.1, 50, 1e-7)
    assert lrs == pytest.approx(expect, rel=1e-12)
    assert (
        lrs[61] == 0.005 and lrs[62] == pytest.approx(5e-4) and min(lrs) == pytest.approx(1e-7)
    )  # reduced, floored at min_lr
    assert lrs.index(min(lrs)) > 10 + 4 * 51  # four reductions of 51 bad epochs each, then the floor


def test_plateau_state_resumes():
    cfg = cfg_for("method=tcgl", "recipe=released")
    model = app.method_from_config(cfg, 5)
    opt, schedule = recipes.pretrain_optimizer(model, cfg)
    for epoch in range(30):
        schedule.end(epoch, {"loss_order": 1.0})
    opt2, again = recipes.pretrain_optimizer(model, cfg)
    again.load_state_dict(schedule.state_dict())
    for epoch in range(30, 60):
        schedule.end(epoch, {"loss_order": 1.0})
        again.end(epoch, {"loss_order": 1.0})
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"] < float(cfg.method.optim.lr)


def test_plateau_without_a_validation_loss_is_an_error():
    cfg = cfg_for("method=tcgl", "recipe=released")
    _, schedule = recipes.pretrain_optimizer(app.method_from_config(cfg, 5), cfg)
    with pytest.raises(RuntimeError, match="val_fraction"):
        schedule.end(0, {"val_loss": float("nan")})


def test_vcop_released_lr_is_constant():
    cfg = cfg_for("method=vcop", "recipe=released", "method.optim.lr=0.001")
    opt, schedule = recipes.pretrain_optimizer(app.method_from_config(cfg, 5), cfg)
    for epoch in range(120):
        schedule.begin(epoch)
        assert opt.param_groups[0]["lr"] == 0.001
        schedule.end(epoch, {"val_loss": 1.0, "loss_order": 1.0})


def test_released_finetune_groups_and_schedules():
    vcop = cfg_for("method=vcop", "recipe=released", "backbone=r3d")
    model = Classifier(app.method_from_config(vcop, 5).encoder, torch.nn.Identity(), 7)
    s = recipes.finetune_settings(vcop)
    assert (s["epochs"], s["batch_size"], s["select"], s["augment"]) == (150, 8, "val_loss", "crop")
    opt, schedule = recipes.finetune_optimizer(model, s)
    early, late = opt.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].split(".")[1] for p in early["params"]} == {"conv1", "conv2", "conv3"}
    assert {names[id(p)].split(".")[1] if names[id(p)].startswith("encoder") else "head" for p in late["params"]} == {
        "conv4",
        "conv5",
        "head",
    }
    assert all(g["lr"] == 1e-3 and g["weight_decay"] == 5e-4 and not g["nesterov"] for g in opt.param_groups)
    assert isinstance(schedule, recipes.Constant)

    tcgl = cfg_for("method=tcgl", "recipe=released", "backbone=r3d")
    s = recipes.finetune_settings(tcgl)
    assert (s["epochs"], s["batch_size"]) == (200, 16)
    opt, schedule = recipes.finetune_optimizer(model, s)
    assert len(opt.param_groups) == 1 and isinstance(schedule, recipes.Plateau)
    lrs = []
    for epoch in range(120):
        lrs.append(opt.param_groups[0]["lr"])
        schedule.end(epoch, {"val_loss": 1.0})
    assert lrs == pytest.approx(plateau_reference([1.0] * 120, 1e-3, 0.1, 50, 1e-5), rel=1e-12)


def test_method_without_released_code_falls_back_to_the_suite_and_says_so():
    cfg = cfg_for("method=speednet", "recipe=released")
    eff = recipes.effective(cfg)
    assert eff["optimizer"] == eff["finetune"] == "suite" and eff["init"] == "pytorch"
    assert "no released code" in recipes.describe_fallback(cfg)
    _, schedule = recipes.pretrain_optimizer(app.method_from_config(cfg, 5), cfg)
    assert isinstance(schedule, recipes.Cosine)


# ---------------------------------------------------------------------------------------- BatchNorm statistics


def _bn_buffers(module):
    return {n: b.clone() for n, b in module.named_buffers() if "running" in n}


def _capture_perms(monkeypatch, module):
    seen = []
    real = module.random_permutations

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out[0])
        return out

    monkeypatch.setattr(module, "random_permutations", spy)
    return seen


def test_vcop_per_position_calls_give_the_released_running_statistics(monkeypatch):
    import methods.vcop as vcop_module

    cfg = cfg_for("method=vcop", "recipe=released")
    torch.manual_seed(0)
    method = app.method_from_config(cfg, 5)
    assert method.backbone_calls == "per_position"
    start = {k: v.clone() for k, v in method.encoder.state_dict().items()}
    reference, batched = (app.method_from_config(cfg, 5).encoder for _ in range(2))
    reference.load_state_dict(start)
    batched.load_state_dict(start)
    clips = torch.randn(4, 3, 3, 16, 28, 28) * torch.arange(1, 4).view(1, 3, 1, 1, 1, 1)  # positions differ
    perms = _capture_perms(monkeypatch, vcop_module)
    method.train()
    method({"clips": clips, "index": torch.arange(4)})
    x = gather_items(clips, perms[0])
    reference.train()
    batched.train()
    with torch.no_grad():
        for i in range(3):  # the release: one call of B clips per tuple position, in position order
            reference(x[:, i])
        batched(x.flatten(0, 1))  # the suite's single call of B*K clips moves them otherwise
    got, want = _bn_buffers(method.encoder), _bn_buffers(reference)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)
    other = _bn_buffers(batched)
    assert max((other[n] - want[n]).abs().max().item() for n in want) > 1e-3


def test_tcgl_per_position_calls_give_the_released_running_statistics(monkeypatch):
    import methods.tcgl.method as tcgl_module

    cfg = cfg_for("method=tcgl", "recipe=released")
    torch.manual_seed(0)
    method = app.method_from_config(cfg, 5)
    reference = app.method_from_config(cfg, 5).encoder
    reference.load_state_dict(method.encoder.state_dict())
    clips = torch.randn(4, 3, 3, 16, 28, 28) * torch.arange(1, 4).view(1, 3, 1, 1, 1, 1)
    perms = _capture_perms(monkeypatch, tcgl_module)
    method.train()
    method({"clips": clips, "index": torch.arange(4)})
    x = gather_items(clips, perms[0])
    reference.train()

    def dc(v):  # STKD as released: subtract the temporal mean
        return v - v.mean(dim=2, keepdim=True)

    with torch.no_grad():
        for i in range(3):  # the release: snippet i, then its 4 frame-sets, each a call of B clips
            reference(reference.fit_time(dc(x[:, i])))
            for j in range(4):
                reference(reference.fit_time(dc(x[:, i, :, 4 * j : 4 * (j + 1)])))
    got, want = _bn_buffers(method.encoder), _bn_buffers(reference)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["tcgl", "vcop"])
def test_per_position_calls_change_nothing_but_batchnorm(method):
    """In eval mode (BatchNorm on its running statistics) both ways of calling the backbone give the same loss."""
    cfg = cfg_for(f"method={method}")
    torch.manual_seed(0)
    model = app.method_from_config(cfg, 5).eval()
    batch = {
        "clips": torch.randn(3, 3, 3, 16, 28, 28),
        "index": torch.arange(3),
        "sample_seed": torch.tensor([11, 12, 13]),
    }
    with torch.no_grad():
        batched = model(batch).loss
        model.backbone_calls = "per_position"
        per_position = model(batch).loss
    torch.testing.assert_close(per_position, batched, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------- initialisation, settings


def test_released_init_is_pytorchs_default():
    torch.manual_seed(3)
    kaiming = app.method_from_config(cfg_for("method=vcop", "backbone=c3d"), 5)
    torch.manual_seed(3)
    released = app.method_from_config(cfg_for("method=vcop", "backbone=c3d", "recipe=released"), 5)
    conv = released.encoder.features.conv1
    bound = 1 / np.sqrt(conv.weight[0].numel())  # kaiming_uniform(a=sqrt(5)): |w| <= 1/sqrt(fan_in)
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() > 0
    assert kaiming.encoder.features.conv1.weight.abs().max() > bound
    assert torch.count_nonzero(kaiming.encoder.features.conv1.bias) == 0
    torch.manual_seed(3)
    again = app.method_from_config(cfg_for("method=vcop", "backbone=c3d"), 5)
    init_pytorch_default(again)  # the same draws as the recipe: reset_parameters of every built-in layer
    for a, b in zip(again.state_dict().values(), released.state_dict().values()):
        assert torch.equal(a, b)


def test_released_per_backbone_settings():
    r3d = cfg_for("method=tcgl", "backbone=r3d_3463", "recipe=released")
    assert recipes.method_params(r3d)["asop_dropout"] == 0.1
    assert recipes.method_params(cfg_for("method=tcgl", "backbone=c3d", "recipe=released"))["asop_dropout"] == 0.5
    assert recipes.method_params(cfg_for("method=tcgl", "backbone=r3d_3463"))["asop_dropout"] == 0.5  # suite
    assert recipes.retrieval_kernel(cfg_for("method=tcgl", "backbone=r21d", "recipe=released")) == (2, 5, 5)
    assert recipes.retrieval_kernel(cfg_for("method=vcop", "backbone=r21d", "recipe=released")) == (1, 2, 2)
    assert recipes.retrieval_kernel(cfg_for("method=tcgl", "backbone=r21d")) == (1, 2, 2)
    fmap = torch.randn(2, 512, 2, 7, 7)  # R(2+1)D conv5 of a 16x112x112 clip
    from methods.backbones.base import Backbone

    assert Backbone.retrieval_pool(fmap, "max", (2, 5, 5)).shape == (2, 512)
    assert Backbone.retrieval_pool(fmap, "max", (1, 2, 2)).shape == (2, 9216)
    layers = app.method_from_config(r3d, 5).encoder.layer_sizes
    assert layers == (3, 4, 6, 3)


def test_stkd_runs_in_fp32_under_autocast():
    from methods.tcgl.stkd import STKD

    x = torch.randn(2, 3, 16, 8, 8) * 50 + 100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = STKD("dc")(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, x - x.mean(2, keepdim=True), rtol=0, atol=1e-4)


# -------------------------------------------------------------------------------------------------- data, lists


def test_short_videos_are_excluded_and_counted(tmp_path):
    entries = []
    for i, n in enumerate([70, 63, 64, 20, 90]):
        path = write_video(tmp_path / f"v{i}.avi", frame_pattern(n, 16, 16))
        entries.append(VideoEntry(path, f"v{i}.avi", 0, None))
    cfg = cfg_for("recipe=released")
    (train, val), info = data.exclude_short(cfg, [entries[:3], entries[3:]], 64)
    assert [e.relpath for e in train] == ["v0.avi", "v2.avi"] and [e.relpath for e in val] == ["v4.avi"]
    assert (info["span"], info["excluded_train"], info["excluded_val"]) == (64, 1, 1)
    assert info["examples"] == ["v1.avi", "v3.avi"]


def test_released_test_clip_starts_are_floored_as_the_release():
    for n in range(16, 400):
        ours = UniformClips(10, 16, starts="floor").sample(n)
        release = [int(c - 16 / 2) for c in np.linspace(16 / 2, n - 16 / 2, 10)]
        assert [int(c[0]) for c in ours.clips] == release, n
    moved = sum(
        UniformClips(10, 16).sample(n).clips[k][0] != UniformClips(10, 16, starts="floor").sample(n).clips[k][0]
        for n in range(16, 200)
        for k in range(10)
    )
    assert moved > 0  # the suite rounds


def test_released_centre_crop_is_torchvisions():
    from torchvision.transforms import CenterCrop

    frames = torch.arange(128 * 171, dtype=torch.float32).view(1, 1, 128, 171)
    want = CenterCrop(112)(frames)
    for centre, left in (("round", 30), ("floor", 29)):
        p = ClipTransform(False, (128, 171), 112, centre=centre).draw(np.random.default_rng(0))
        assert (p.top, p.left) == (8, left)
    p = ClipTransform(False, (128, 171), 112, centre="round").draw(np.random.default_rng(0))
    assert torch.equal(frames[..., p.top : p.top + 112, p.left : p.left + 112], want)


def test_input_scale_is_unit_for_the_released_recipe_and_official_checkpoints():
    assert data.input_scale(cfg_for()) == "normalised"
    assert data.input_scale(cfg_for("recipe=released")) == "unit"
    official = cfg_for("pretrained=/x.pth", "pretrained_format=tcgl")
    assert data.input_scale(official) == "unit"
    t = data.transform(data.ClipSettings.from_config(official, official.dataset.pretrain_on), False)
    assert t.mean is None and t.std is None


def test_recipe_and_format_values_are_checked():
    with pytest.raises(ConfigValueError, match="recipe.init"):
        cfg = cfg_for()
        with open_dict(cfg):
            cfg.recipe.init = "xavier"
        check_values(cfg)
    with pytest.raises(ConfigValueError, match="pretrained_format"):
        check_values(cfg_for("pretrained_format=vcop"))


def test_released_evaluation_runs_in_fp32():
    import contextlib
    import warnings

    from runtime import engine

    cuda = torch.device("cuda")
    assert isinstance(engine.eval_autocast(cuda, "fp32"), contextlib.nullcontext)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CUDA is absent here: torch warns that it would disable the autocast
        auto = engine.eval_autocast(cuda, "auto")
    assert isinstance(auto, torch.autocast) and auto.fast_dtype == torch.bfloat16
    assert cfg_for("recipe=released").recipe.eval_precision == "fp32"
