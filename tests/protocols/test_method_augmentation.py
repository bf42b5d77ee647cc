"""Each method declares its pretraining augmentation (``method.augmentation()``), and pretraining uses it.

VCOP and TCGL pretrain as released: a crop per clip, no colour jitter (their scripts build a ColorJitter and never
hand it to the dataset), no mirroring. SpeedNet gives the versions of a clip one draw of the random parameters, so
that they differ only in speed. The other methods take the suite's default: colour jitter and mirroring, per clip.
"""

import numpy as np
import pytest
import torch

from experiment import data
from experiment.app import method_from_config
from methods import available_methods
from methods.base import Augmentation

from helpers import compose_cfg

# a dataset whose labels a mirror keeps, so that input.flip=auto mirrors unless the method asks for none
REAL = ("dataset=ucf101", "dataset.root=/data/UCF101")
DECLARED = {
    "vcop": Augmentation(colour=False, mirror=False, shared=False),
    "tcgl": Augmentation(colour=False, mirror=False, shared=False),
    "speednet": Augmentation(colour=True, mirror=True, shared=True),
    "sorder": Augmentation(),
    "opn": Augmentation(),
    "supervised": Augmentation(),
    "random": Augmentation(),
}


def draws(transform, n=60):
    return [transform.draw(np.random.default_rng(s)) for s in range(n)]


@pytest.mark.parametrize("name", available_methods())
def test_each_method_declares_its_pretraining_augmentation_and_the_transform_follows_it(name):
    """Every registered method; those in DECLARED must also declare what the suite documents for them."""
    cfg = compose_cfg(f"method={name}", *REAL)
    method = method_from_config(cfg, num_classes=5)
    augment = method.augmentation()
    assert isinstance(augment, Augmentation)
    if name in DECLARED:
        assert augment == DECLARED[name]
    params = draws(data.transform(data.ClipSettings.from_config(cfg, cfg.dataset.pretrain_on), True, augment))
    assert any(p.jitter for p in params) is augment.colour
    assert any(p.flip for p in params) is augment.mirror
    # the protocols' transform (no method augmentation) keeps both, whatever the method asked for
    protocol = draws(data.transform(data.ClipSettings.from_config(cfg, cfg.dataset.pretrain_on), True))
    assert any(p.jitter for p in protocol) and any(p.flip for p in protocol)


@pytest.mark.parametrize(
    "name,flags,expected",
    [
        ("vcop", ("colour_jitter=true", "mirror=true"), Augmentation(colour=True, mirror=True)),
        ("tcgl", ("colour_jitter=true", "mirror=true"), Augmentation(colour=True, mirror=True)),
        ("speednet", ("shared_augmentation=false",), Augmentation()),
        ("supervised", ("colour_jitter=false",), Augmentation(colour=False)),
    ],
)
def test_each_declared_augmentation_is_a_flag_away_from_the_other(name, flags, expected):
    cfg = compose_cfg(f"method={name}", *REAL, *(f"method.params.{f}" for f in flags))
    augment = method_from_config(cfg, num_classes=5).augmentation()
    assert augment == expected
    params = draws(data.transform(data.ClipSettings.from_config(cfg, cfg.dataset.pretrain_on), True, augment))
    assert any(p.jitter for p in params) is expected.colour and any(p.flip for p in params) is expected.mirror


def first_frames_equal(ds, n=12) -> list[bool]:
    """Per sample: are the first frames of SpeedNet's 1x and 2x clips (the same decoded frame) equal after
    augmentation? They are iff both clips got the same crop and colour."""
    out = []
    for i in range(n):
        clips = ds[i]["clips"]  # [K=2, C, T, H, W]
        out.append(torch.equal(clips[0, :, 0], clips[1, :, 0]))
    return out


@pytest.mark.parametrize("shared", [True, False])
def test_speednet_versions_of_a_clip_share_one_draw_only_when_declared(tiny_data, shared):
    cfg = compose_cfg(
        "preset=smoke",
        f"paths.data={tiny_data}",
        "method=speednet",
        f"method.params.shared_augmentation={str(shared).lower()}",
        "input.jitter=[0.4,0.4,0.4,0]",
        "input.jitter_p=1.0",
    )
    pre = data.eval_set(cfg, cfg.dataset.pretrain_on, 0)
    method = method_from_config(cfg, pre.index.num_classes)
    ds = data.clip_dataset(
        data.ClipSettings.from_config(cfg, cfg.dataset.pretrain_on),
        pre.train,
        method.sampler(),
        True,
        0,
        "error",
        method.augmentation(),
    )
    same = first_frames_equal(ds)
    if shared:
        assert all(same)
    else:
        assert not any(same)  # independent crops and colour factors: a coincidence in 12 samples would be a bug


@pytest.mark.parametrize("name", ["vcop", "speednet"])
def test_pretraining_builds_its_datasets_with_the_method_augmentation(tiny_data, tmp_path, monkeypatch, name):
    from experiment import app

    from helpers import smoke_overrides

    class Stop(Exception):
        pass

    seen = []

    def spy(cfg, entries, sampler, train, seed, on_corrupt="error", augment=None):
        seen.append(augment)
        if len(seen) == 2:  # the training and validation sets: enough
            raise Stop
        return None

    monkeypatch.setattr(app.data, "clip_dataset", spy)
    cfg = compose_cfg(*smoke_overrides(tiny_data, tmp_path, f"method={name}", "stage=pretrain", "device=cpu"))
    with pytest.raises(Stop):
        app.run(cfg)
    assert seen == [DECLARED[name]] * 2
