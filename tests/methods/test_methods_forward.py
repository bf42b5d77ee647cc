"""Every method x every backbone: one forward/backward on tiny inputs, finite loss, gradients in the encoder."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from methods import MethodOutput, available_backbones, available_methods, build_method, get_method_class

PRETRAINING = [n for n in available_methods() if get_method_class(n).pretrains]  # every registered method


def setup(name: str) -> tuple[int, int, list | None, dict]:
    """(items per sample, frames per item, meta per item, params) for ``name``, read from its own sampler (with 8
    frames per clip where the method takes ``clip_len``): a newly registered method is covered as it is."""
    params = {"clip_len": 8} if "clip_len" in inspect.signature(get_method_class(name).__init__).parameters else {}
    drawn = build_method(name, "tiny", num_classes=5, **params).sampler().sample(400, np.random.default_rng(0))
    meta = [float(m) for m in drawn.meta] if drawn.meta is not None and any(drawn.meta) else None
    return len(drawn.clips), len(drawn.clips[0]), meta, params


def _check_step(method, batch):
    out = method(batch)
    assert isinstance(out, MethodOutput)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert out.accuracy.dim() == 0 and 0.0 <= float(out.accuracy) <= 1.0 and not out.accuracy.requires_grad
    assert all(torch.isfinite(torch.as_tensor(v)) for v in out.logs.values())
    out.loss.backward()
    grads = [p.grad for p in method.encoder.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    first = next(p for p in method.encoder.parameters() if p.dim() == 5)  # first conv weight
    assert first.grad.abs().sum() > 0
    return out


@pytest.mark.parametrize("name", PRETRAINING)
def test_tiny_backbone_step(name, synth):
    k, t, meta, params = setup(name)
    method = build_method(name, "tiny", num_classes=5, **params)
    _check_step(method, synth.random_batch(4, k, t, size=16, meta=meta))


@pytest.mark.parametrize("backbone", [b for b in available_backbones() if b != "tiny"])
@pytest.mark.parametrize("name", PRETRAINING)
def test_real_backbone_step(name, backbone, synth):
    k, t, meta, params = setup(name)
    torch.manual_seed(0)
    method = build_method(name, backbone, num_classes=5, **params)
    _check_step(method, synth.random_batch(2, k, t, size=16, meta=meta))


@pytest.mark.parametrize("name", PRETRAINING)
def test_eval_mode_forward(name, synth):
    k, t, meta, params = setup(name)
    method = build_method(name, "tiny", num_classes=5, **params).eval()
    with torch.no_grad():
        out = method(synth.random_batch(3, k, t, size=16, meta=meta))
    assert torch.isfinite(out.loss)


def test_multi_rate_speednet(synth):
    method = build_method("speednet", "tiny", multi_rate=True, clip_len=4)
    assert method.rates == (1, 2, 4, 8)
    batch = synth.random_batch(2, 4, 4, size=16, meta=[8.0, 1.0, 4.0, 2.0])
    assert method.rate_labels(batch["meta"]).tolist() == [[3, 0, 2, 1]] * 2
    _check_step(method, batch)
    with pytest.raises(ValueError, match="rates outside"):
        method(synth.random_batch(2, 2, 4, size=16, meta=[1.0, 3.0]))


def test_sorder_tuples():
    method = build_method("sorder", "tiny")
    torch.manual_seed(0)
    idx, labels = method.make_tuples(4000, torch.device("cpu"))
    pos = idx[labels == 1]
    assert all(r in ([1, 2, 3], [3, 2, 1]) for r in pos.unique(dim=0).tolist())
    neg = idx[labels == 0]
    assert sorted(neg.unique(dim=0).tolist()) == [[1, 0, 3], [1, 4, 3], [3, 0, 1], [3, 4, 1]]
    assert abs(float(labels.float().mean()) - 0.5) < 0.03
    shuffled = build_method("sorder", "tiny", negatives="shuffle")
    idx, labels = shuffled.make_tuples(4000, torch.device("cpu"))
    for row in idx[labels == 0].tolist():
        assert sorted(row) == [1, 2, 3] and row not in ([1, 2, 3], [3, 2, 1])


def test_random_does_not_pretrain(synth):
    method = build_method("random", "tiny")
    assert method.pretrains is False
    with pytest.raises(RuntimeError, match="does not pretrain"):
        method(synth.random_batch(2, 1, 8))
    assert all(build_method(n, "tiny", num_classes=3).pretrains for n in PRETRAINING)


def test_supervised_needs_classes_and_uses_labels(synth):
    with pytest.raises(ValueError, match="num_classes"):
        build_method("supervised", "tiny")
    method = build_method("supervised", "tiny", num_classes=7)
    assert method.head[-1].out_features == 7
    batch = synth.random_batch(4, 2, 8, size=16, num_classes=7)
    method.eval()
    with torch.no_grad():
        logits = method.head(method.encode_items(batch["clips"]).flatten(0, 1))
        want = torch.nn.functional.cross_entropy(logits, batch["label"].repeat_interleave(2))
    assert torch.allclose(method(batch).loss, want, atol=1e-5)


def test_encode_applies_preprocess_and_tiling():
    tcgl = build_method("tcgl", "c3d")
    x = torch.ones(2, 3, 4, 16, 16)  # constant in time: STKD makes it zero; 4 frames are tiled to 8 for C3D
    tcgl.eval()
    with torch.no_grad():
        feats = tcgl.encode(x)
        assert torch.allclose(feats, tcgl.encoder(torch.zeros(2, 3, 8, 16, 16)))
