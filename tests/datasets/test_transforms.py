import subprocess
import sys

import numpy as np
import pytest
import torch

from datasets.transforms import ClipTransform, apply_colour, encode_jitter

from helpers import REPO


def test_crop_flip_and_jitter_are_identical_across_frames():
    # every frame identical: a clip-consistent transform must keep them identical
    frame = torch.randint(0, 256, (1, 64, 80, 3), dtype=torch.uint8)
    clip = frame.repeat(16, 1, 1, 1)
    t = ClipTransform(True, resize=(64, 80), crop=48, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=1.0)
    for seed in range(10):
        out = t(clip, np.random.default_rng(seed))
        assert out.shape == (3, 16, 48, 48)
        assert torch.equal(out, out[:, :1].expand_as(out))


def test_params_are_drawn_per_clip_and_vary_between_clips():
    t = ClipTransform(True, resize=(64, 80), crop=48)
    draws = {(p.top, p.left, p.flip) for p in (t.draw(np.random.default_rng(s)) for s in range(20))}
    assert len(draws) > 5


def test_moving_content_moves_identically_under_the_crop():
    # a bright dot moving right by one pixel per frame stays a one-pixel-per-frame motion after augmentation
    clip = torch.zeros(8, 64, 80, 3, dtype=torch.uint8)
    for i in range(8):
        clip[i, 30:34, 20 + i] = 255
    t = ClipTransform(True, resize=(64, 80), crop=56, jitter=None, mean=None, std=None)
    out = t(clip, np.random.default_rng(3))
    cols = out[0].amax(dim=1).argmax(dim=-1)  # brightest column per frame
    step = torch.diff(cols)
    assert (step == step[0]).all() and step[0].abs() == 1


def test_eval_is_centre_crop_and_normalised():
    clip = torch.full((4, 20, 30, 3), 128, dtype=torch.uint8)
    t = ClipTransform(False, resize=(20, 30), crop=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    p = t.draw(np.random.default_rng(0))
    assert (p.top, p.left, p.flip) == (2, 7, False)
    out = t(clip, np.random.default_rng(0))
    assert torch.allclose(out, torch.full_like(out, (128 / 255 - 0.5) / 0.25), atol=1e-5)


@pytest.mark.parametrize("name", ["brightness", "contrast", "saturation", "hue"])
@pytest.mark.parametrize("factor", [0.6, 1.3])
def test_colour_ops_match_torchvision(name, factor):
    import torchvision.transforms.v2.functional as F

    x = torch.rand(2, 3, 5, 20, 20, generator=torch.Generator().manual_seed(0))  # [N, C, T, H, W]
    f = factor - 1.0 if name == "hue" else factor  # hue takes a shift in [-0.5, 0.5]
    ours = apply_colour(x.clone(), encode_jitter([(name, f)]).expand(2, -1, -1))
    frames = x.transpose(1, 2)  # torchvision works per image: [N, T, C, H, W]
    theirs = getattr(F, f"adjust_{name}")(frames.flatten(0, 1), f).view_as(frames).transpose(1, 2)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert not torch.equal(ours, x)


def _torchvision_colour(x, ops):
    import torchvision.transforms.v2.functional as F

    frames = x.transpose(0, 1)  # [T, C, H, W]
    for name, f in ops:
        frames = getattr(F, f"adjust_{name}")(frames, f)
    return frames.transpose(0, 1)


@pytest.mark.parametrize("per_clip", [True, False])  # the CPU workers' way and the GPU's masked batch passes
def test_each_clip_gets_its_own_ops_in_its_own_order(per_clip):
    # one call, every clip with a different draw (order, factors, some with no jitter at all)
    t = ClipTransform(True, resize=(20, 24), crop=16, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.7)
    draws = [t.draw(np.random.default_rng(s)).jitter for s in range(12)]
    assert len({tuple(name for name, _ in d) for d in draws}) > 3 and [] in draws
    x = torch.rand(len(draws), 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    colour = torch.stack([encode_jitter(d) for d in draws])
    ours = apply_colour(x.clone(), colour, per_clip=per_clip)
    for i, ops in enumerate(draws):
        assert torch.allclose(ours[i], _torchvision_colour(x[i], ops), atol=1e-5), ops
        if not ops:
            assert torch.equal(ours[i], x[i])  # an empty draw leaves the clip bit for bit
    other = apply_colour(x.clone(), colour, per_clip=not per_clip)
    torch.testing.assert_close(ours, other, atol=1e-6, rtol=0)


def test_the_batched_colour_stage_equals_the_per_clip_one():
    # input.colour_on=device finishes a whole batch at once; it must give the worker's per-clip result
    frames = torch.randint(0, 256, (6, 8, 30, 40, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    t = ClipTransform(True, resize=(24, 32), crop=20, jitter=(0.4, 0.4, 0.4, 0.0), jitter_p=0.8)
    params = [t.draw(np.random.default_rng(s)) for s in range(6)]
    worker = torch.stack([t(f, params=p) for f, p in zip(frames, params)])
    clips = torch.stack([t.geometry(f, p) for f, p in zip(frames, params)]).view(2, 3, 3, 8, 20, 20)  # [B, K, ...]
    colour = torch.stack([t.colour_params(p) for p in params]).view(2, 3, -1, 2)
    assert clips.dtype == torch.uint8
    batched = t.finish(clips, colour)
    assert batched.shape == (2, 3, 3, 8, 20, 20) and batched.dtype == torch.float32
    torch.testing.assert_close(batched.flatten(0, 1), worker, atol=1e-6, rtol=0)


def test_finish_refuses_float_clips():
    t = ClipTransform(False, resize=(20, 24), crop=16)
    with pytest.raises(ValueError, match="uint8"):
        t.finish(torch.zeros(1, 3, 4, 16, 16), torch.zeros(1, 4, 2))


@pytest.mark.parametrize("shape,size", [((8, 3, 60, 80), (40, 40)), ((2, 3, 240, 320), (128, 171))])
def test_resize_matches_torchvision(shape, size):
    import torchvision.transforms.v2.functional as F

    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    t = ClipTransform(False, resize=size, crop=min(size), mean=None, std=None)
    ours = t(x.permute(0, 2, 3, 1).contiguous())  # C T H W floats, centre crop of the resized frames
    ref = F.resize(x, list(size), antialias=True).float().div(255.0)
    top, left = (size[0] - min(size)) // 2, (size[1] - min(size)) // 2
    ref = ref[..., top : top + min(size), left : left + min(size)].permute(1, 0, 2, 3)
    assert torch.equal(ours, ref)


def test_transforms_do_not_import_torchvision():
    """Every pipeline stage is a process; importing torchvision costs about 2.4 s of each."""
    code = "import sys, datasets.transforms, experiment.app; sys.exit(1 if 'torchvision' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
