"""Registry and the method config files (protocols/conf/method/<name>.yaml)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from methods import (
    MethodOutput,
    PretextMethod,
    available_methods,
    build_backbone,
    build_method,
    get_method_class,
    register,
)
from methods.losses import classification_loss, top1_accuracy
from methods.registry import METHODS

CONF_DIR = Path(__file__).resolve().parents[2] / "protocols" / "conf" / "method"
EXPECTED = ["opn", "random", "sorder", "speednet", "supervised", "tcgl", "vcop"]


def test_available_methods():
    assert set(EXPECTED) <= set(available_methods())


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: opn, random, sorder"):
        build_method("simclr", "tiny")


def test_backbone_forms():
    assert build_method("vcop", "tiny").encoder.feat_dim == 128
    assert build_method("vcop", {"name": "tiny", "width": 8}).encoder.feat_dim == 64
    assert build_method("vcop", build_backbone("tiny", width=4)).encoder.feat_dim == 32
    with pytest.raises(TypeError):
        build_method("vcop", torch.nn.Linear(2, 2))


def test_register_new_method_and_duplicates(synth):
    @register("toy_speed_sign")
    class ToySign(PretextMethod):
        def __init__(self, backbone, num_classes=None, *, clip_len=4):
            super().__init__(backbone)
            self.head = torch.nn.Linear(backbone.feat_dim, 2)

        def forward(self, batch):
            clips = self._clips(batch)
            flipped = clips.flip(3)  # time-reversed copies: "is this clip played backwards?"
            logits = self.head(self.encode_items(torch.cat([clips, flipped], 1)).flatten(0, 1))
            labels = torch.arange(2).repeat_interleave(clips.shape[1]).repeat(clips.shape[0])
            return MethodOutput(classification_loss(logits, labels), top1_accuracy(logits, labels))

    try:
        assert "toy_speed_sign" in available_methods()
        out = build_method("toy_speed_sign", "tiny")(synth.random_batch(2, 1, 4))
        assert torch.isfinite(out.loss)
        with pytest.raises(ValueError, match="already registered"):
            register("vcop")(ToySign)
        with pytest.raises(TypeError):
            register("not_a_method")(object)
    finally:
        METHODS.unregister("toy_speed_sign")


@pytest.mark.parametrize("name", available_methods())
def test_config_file(name):
    path = CONF_DIR / f"{name}.yaml"
    assert path.read_text().splitlines()[0].strip() == "# @package method"
    cfg = OmegaConf.load(path)
    assert cfg.name == name
    assert set(cfg.optim) == {"lr"} and cfg.optim.lr >= 0  # the rest is the shared optimiser (experiment/config.py)
    params = OmegaConf.to_container(cfg.params)
    cls = get_method_class(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "backbone", "num_classes"}
    assert set(params) == accepted, "the config must list every constructor parameter"
    method = build_method(name, "tiny", num_classes=5, **cfg.params)
    assert method.name == name
    # defaults in the config equal the constructor defaults (one source of truth)
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k in accepted}
    assert params == {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}


def test_configs_and_registry_agree():
    """One config file per registered method, named after it (a new method needs both)."""
    assert sorted(p.stem for p in CONF_DIR.glob("*.yaml")) == available_methods()


def test_samplers():
    samplers = pytest.importorskip("datasets.samplers")
    np = pytest.importorskip("numpy")
    expected = {  # method -> (sampler class, clips per sample the method's forward expects)
        "tcgl": (samplers.ClipTuple, 3),
        "vcop": (samplers.ClipTuple, 3),
        "sorder": (samplers.ClipTuple, 5),
        "opn": (samplers.ClipTuple, 4),
        "speednet": (samplers.SpeedClips, 2),
        "random": (samplers.SingleClip, 1),
        "supervised": (samplers.ClipTuple, 3),
    }
    for name, (cls, k) in expected.items():
        method = build_method(name, "tiny", num_classes=3)
        sampler = method.sampler()
        assert isinstance(sampler, cls), name
        drawn = sampler.sample(200, np.random.default_rng(0))
        assert len(drawn.clips) == k, name
        if name == "speednet":
            assert method.rate_labels(torch.as_tensor(drawn.meta).unsqueeze(0)).tolist() == [[0, 1]]
    assert build_method("tcgl", "tiny").sampler().span == 64  # 3 x 16 frames with gaps of 8
    assert build_method("supervised", "tiny", num_classes=3).sampler().span == 64
    assert isinstance(build_method("supervised", "tiny", num_classes=3, num_clips=1).sampler(), samplers.SingleClip)
