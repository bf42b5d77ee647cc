"""sorder / opn: ``level`` (clip by default, frame as a flag) sets what an item of a tuple is.

Pinned here: the default samples multi-frame clips (``ClipTuple``) whose tuple fits the 64 frames every embedded
video has; ``level='frame'`` reproduces the old frame-level sampling exactly; the reason for the default (every
temporal tap of a padded 3x3x3 kernel gets gradient from clips, the outer taps get none from single frames); forward
shapes and labels at both levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from datasets.samplers import ClipTuple, FrameTuple
from methods import build_method

CONF_DIR = Path(__file__).resolve().parents[2] / "protocols" / "conf" / "method"
ITEMS = {"sorder": 5, "opn": 4}  # items the sampler gives per sample
CLASSES = {"sorder": 2, "opn": 12}
# the sampler the old default (clip_len 1, spacing 8) built, and the 64 frames the embedded sets guarantee
OLD_FRAME_SAMPLER = {
    "sorder": lambda: FrameTuple(num=5, clip_len=1, spacing=8),
    "opn": lambda: FrameTuple(num=4, clip_len=1, spacing=8),
}
GUARANTEED_FRAMES = 64


def _config_params(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / f"{name}.yaml").params)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_default_is_clip_level_and_fits_the_embedded_videos(name):
    params = _config_params(name)
    assert params["level"] == "clip"
    for backbone in ("tiny", "r3d"):
        method = build_method(name, backbone, **params)
        sampler = method.sampler()
        assert isinstance(sampler, ClipTuple) and sampler.k == ITEMS[name]
        assert sampler.span <= GUARANTEED_FRAMES  # no clamped (repeated-last-frame) clips on tiny (64) or small (72)
        for frames in (64, 72, 200):
            drawn = sampler.sample(frames, np.random.default_rng(frames))
            assert not drawn.short and len(drawn.clips) == ITEMS[name]
            for clip in drawn.clips:  # clip_len consecutive real frames, at least the backbone's min_frames
                assert len(clip) == params["clip_len"] >= max(8, method.encoder.min_frames)
                assert np.array_equal(np.diff(clip), np.ones(len(clip) - 1))
            starts = [int(c[0]) for c in drawn.clips]
            assert np.all(np.diff(starts) == params["clip_len"] + params["gap"])  # gaps of `gap` frames
            assert params["gap"] > 0  # never adjacent clips (order readable from continuity at the boundary)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_vcop_geometry_is_one_override_away(name):
    """clip_len=16 gap=8 (for real UCF101/HMDB51 lengths) gives VCOP's 16-frame clips 8 frames apart."""
    sampler = build_method(name, "r3d", clip_len=16, gap=8).sampler()
    vcop = build_method("vcop", "r3d").sampler()
    ours, theirs = sampler.offsets()[0], vcop.offsets()[0]
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    assert all(len(o) == 16 for o in ours) and len(ours) == ITEMS[name]
    assert sampler.span == ITEMS[name] * 16 + (ITEMS[name] - 1) * 8  # 112 (sorder), 88 (opn)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_frame_flag_reproduces_the_old_sampling_exactly(name):
    params = {**_config_params(name), "level": "frame"}
    new, old = build_method(name, "tiny", **params).sampler(), OLD_FRAME_SAMPLER[name]()
    assert type(new) is type(old) and new.span == old.span and new.short == old.short
    for frames in (1, 20, 33, 64, 72, 300):
        a = new.sample(frames, np.random.default_rng(frames))
        b = old.sample(frames, np.random.default_rng(frames))
        assert a.short == b.short and np.array_equal(a.meta, b.meta)
        assert all(np.array_equal(x, y) for x, y in zip(a.clips, b.clips))
        assert all(len(x) == 1 for x in a.clips)
    # spacing is still the frame-level knob; clip_len and gap do not change frame-level sampling
    ours = build_method(name, "tiny", level="frame", spacing=12, clip_len=4, gap=3).sampler().offsets()[0]
    want = FrameTuple(num=ITEMS[name], clip_len=1, spacing=12).offsets()[0]
    assert len(ours) == len(want) and all(np.array_equal(a, b) for a, b in zip(ours, want))


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_bad_level_and_geometry(name):
    with pytest.raises(ValueError, match="level must be one of"):
        build_method(name, "tiny", level="video")
    with pytest.raises(ValueError, match="clip_len >= 1"):
        build_method(name, "tiny", clip_len=0)


def _temporal_conv_grads(method: nn.Module, batch: dict) -> list[torch.Tensor]:
    """Per 3D conv with 3 temporal taps: |grad| summed over everything but the temporal tap, ``[3]`` each."""
    method.zero_grad()
    method(batch).loss.backward()
    convs = [m for m in method.encoder.modules() if isinstance(m, nn.Conv3d) and m.kernel_size[0] == 3]
    assert convs
    return [c.weight.grad.abs().sum(dim=(0, 1, 3, 4)) for c in convs]


def _batch(k: int, t: int, b: int = 4, size: int = 16, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "clips": torch.randn(b, k, 3, t, size, size, generator=g),
        "meta": torch.ones(b, k),
        "label": torch.zeros(b, dtype=torch.long),
        "index": torch.arange(b),
    }


@pytest.mark.parametrize("name", sorted(ITEMS))
@pytest.mark.parametrize("backbone", ["tiny", "r3d"])
def test_clip_level_trains_every_temporal_tap_frame_level_leaves_the_outer_ones(name, backbone):
    """The reason for the default, pinned: 3x3x3 kernels (temporal padding 1) on clips of clip_len frames get
    gradient on all three temporal taps; on single frames (T=1, min_frames 1) the outer taps only ever see zero
    padding and get exactly zero gradient. Clip level is checked on every layer of tiny and on r3d's 3x7x7 conv1
    (r3d's strided stages bring 8 frames down to T=1 by conv5, whose stride-2 window then also starts on padding);
    frame level on every 3-tap layer of both."""
    torch.manual_seed(0)
    bb = {"name": backbone, "width": 4} if backbone == "tiny" else backbone
    clip = build_method(name, bb, **_config_params(name)).train()
    assert clip.encoder.min_frames == 1
    grads = _temporal_conv_grads(clip, _batch(ITEMS[name], clip.clip_len))
    for g in grads if backbone == "tiny" else grads[:1]:
        assert (g > 0).all(), g  # taps t-1, t, t+1 all trained

    torch.manual_seed(0)
    frame = build_method(name, bb, **{**_config_params(name), "level": "frame"}).train()
    grads = _temporal_conv_grads(frame, _batch(ITEMS[name], 1))
    for g in grads:  # every 3-tap conv: with T=1 all the way down, the outer taps see only padding
        assert g[1] > 0 and g[0] == 0 and g[2] == 0, g


@pytest.mark.parametrize("name", sorted(ITEMS))
@pytest.mark.parametrize("level", ["clip", "frame"])
def test_forward_shapes_and_labels(name, level):
    """Item k of every sample is filled with the value k, so the encoder's input shows which item went where; the
    loss must be the cross-entropy of the head's logits with the labels those orders imply."""
    torch.manual_seed(0)
    method = build_method(name, {"name": "tiny", "width": 4}, **{**_config_params(name), "level": level}).train()
    seen = {}
    method.encoder.register_forward_hook(lambda m, i, o: seen.update(enc_in=i[0].detach().clone()))
    method.head.register_forward_hook(lambda m, i, o: seen.update(head_in=i[0].shape, logits=o.detach()))
    b, k = 64, ITEMS[name]
    t = method.clip_len if level == "clip" else 1
    assert all(len(o) == t for o in method.sampler().offsets()[0])  # the sampler gives what forward is fed here
    clips = torch.arange(k, dtype=torch.float32).view(1, k, 1, 1, 1, 1).expand(b, k, 3, t, 16, 16).contiguous()
    out = method(
        {"clips": clips, "meta": torch.ones(b, k), "label": torch.zeros(b, dtype=torch.long), "index": torch.arange(b)}
    )
    items = 3 if name == "sorder" else 4  # sorder verifies 3 of its 5 items; opn sorts all 4
    enc_in = seen["enc_in"]
    assert enc_in.shape == (b * items, 3, t, 16, 16)  # one backbone call, T = clip_len or a single frame
    assert seen["head_in"] == (b, items, method.encoder.feat_dim)
    assert seen["logits"].shape == (b, CLASSES[name])
    order = enc_in[:, 0, 0, 0, 0].round().long().view(b, items)  # which item sits at each position
    if name == "sorder":
        labels = torch.tensor([int(r in ([1, 2, 3], [3, 2, 1])) for r in order.tolist()])
        negatives = {tuple(r) for r, y in zip(order.tolist(), labels.tolist()) if y == 0}
        assert negatives <= {(1, 0, 3), (1, 4, 3), (3, 0, 1), (3, 4, 1)}  # outside negatives, either direction
    else:
        from methods.ordering import reversal_class_label

        assert (order.sort(1).values == torch.arange(4)).all()  # a permutation of the 4 items
        labels = reversal_class_label(order)
        assert labels.min() >= 0 and labels.max() < 12
    assert 0 < labels.float().mean() < 1 or name == "opn"
    want = torch.nn.functional.cross_entropy(seen["logits"], labels)
    assert torch.allclose(out.loss.detach(), want, atol=1e-6)
    assert 0.0 <= float(out.accuracy) <= 1.0
    assert method.pretext_chance() == pytest.approx(0.5 if name == "sorder" else 1 / 12)


def test_method_defaults_match_their_docs():
    """The constructor defaults (one source of truth with the configs, tests/methods/test_method_registry.py)."""
    sorder, opn = build_method("sorder", "tiny"), build_method("opn", "tiny")
    assert (sorder.level, sorder.clip_len, sorder.gap, sorder.spacing) == ("clip", 8, 6, 8)
    assert (opn.level, opn.clip_len, opn.gap, opn.spacing) == ("clip", 8, 8, 8)
    assert sorder.sampler().span == 64 and opn.sampler().span == 56
