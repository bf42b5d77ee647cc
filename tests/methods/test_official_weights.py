"""Loading checkpoints of the official VCOP / TCGL code (methods/official_weights.py, methods/official_names/*.txt).

Models are built with parameter initialisation switched off (every tensor is overwritten by a strict load, or filled
with seeded random values), which keeps the file fast; all on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from methods.official_weights import (
    FORMATS,
    convert_official_state,
    load_official,
    official_names,
    to_official_state,
)
from methods.registry import build_method
from runtime.checkpoint import CheckpointError

LISTS = [
    ("vcop", "c3d"),
    ("vcop", "r3d"),
    ("vcop", "r21d"),
    ("tcgl", "c3d"),
    ("tcgl", "r3d"),
    ("tcgl", "r3d_3463"),
    ("tcgl", "r21d"),
]
BACKBONES = {"c3d": "c3d", "r3d": "r3d", "r3d_3463": {"name": "r3d", "layer_sizes": (3, 4, 6, 3)}, "r21d": "r21d"}

# official name -> (our name, transposed?), written by hand from reading the official code (independent of the
# module's rules); checked on top of the complete round trip
EXPECTED = {
    "c3d": {
        "base_network.conv1.weight": ("encoder.features.conv1.weight", False),
        "base_network.conv3b.bias": ("encoder.features.conv3b.bias", False),
        "base_network.bn5b.running_var": ("encoder.features.bn5b.running_var", False),
        "base_network.bn4a.num_batches_tracked": ("encoder.features.bn4a.num_batches_tracked", False),
    },
    "r3d": {
        "base_network.conv1.temporal_spatial_conv.weight": ("encoder.conv1.0.weight", False),
        "base_network.bn1.running_mean": ("encoder.conv1.1.running_mean", False),
        "base_network.conv2.block1.conv2.temporal_spatial_conv.weight": ("encoder.conv2.0.conv2.weight", False),
        "base_network.conv3.block1.downsampleconv.temporal_spatial_conv.weight": (
            "encoder.conv3.0.shortcut.0.weight",
            False,
        ),
        "base_network.conv5.block1.downsamplebn.bias": ("encoder.conv5.0.shortcut.1.bias", False),
        "base_network.conv4.block1.bn2.running_var": ("encoder.conv4.0.bn2.running_var", False),
    },
    "r3d_3463": {
        "base_network.conv4.blocks.4.conv2.temporal_spatial_conv.weight": ("encoder.conv4.5.conv2.weight", False),
        "base_network.conv3.blocks.0.bn1.weight": ("encoder.conv3.1.bn1.weight", False),
        "base_network.conv5.blocks.1.bn2.running_mean": ("encoder.conv5.2.bn2.running_mean", False),
    },
    "r21d": {
        "base_network.conv1.spatial_conv.weight": ("encoder.conv1.0.spatial.weight", False),
        "base_network.conv1.bn.running_var": ("encoder.conv1.0.bn.running_var", False),
        "base_network.conv1.temporal_conv.weight": ("encoder.conv1.0.temporal.weight", False),
        "base_network.conv5.block1.conv1.bn.weight": ("encoder.conv5.0.conv1.bn.weight", False),
        "base_network.conv3.block1.downsampleconv.temporal_conv.weight": (
            "encoder.conv3.0.shortcut.0.temporal.weight",
            False,
        ),
    },
    "vcop": {
        "fc7.weight": ("head.pair_fc.weight", False),
        "fc7.bias": ("head.pair_fc.bias", False),
        "fc8.weight": ("head.classifier.weight", False),
    },
    "tcgl": {
        "gcn_f1.lin.weight": ("intra_gcns.0.weight", True),
        "gcn_f2.lin.weight": ("intra_gcns.1.weight", True),
        "gcn_f3.bias": ("intra_gcns.2.bias", False),
        "gcn1.lin.weight": ("inter_gcn.weight", True),
        "gcn1.bias": ("inter_gcn.bias", False),
        "fc1.weight": ("projector.0.weight", False),
        "fc2.bias": ("projector.2.bias", False),
        "fusion.fc_1.0.weight": ("asop.fusion.branches.0.0.weight", False),
        "fusion.fc_3.2.weight": ("asop.fusion.branches.2.2.weight", False),
        "fc7.weight": ("asop.classifier.0.weight", False),
        "fc8.bias": ("asop.classifier.3.bias", False),
    },
}


@contextlib.contextmanager
def _no_init():
    """Skip torch.nn.init while building (the tensors are overwritten anyway)."""
    names = (
        "kaiming_uniform_",
        "kaiming_normal_",
        "uniform_",
        "normal_",
        "zeros_",
        "ones_",
        "constant_",
        "xavier_uniform_",
        "xavier_normal_",
        "trunc_normal_",
    )
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(mock.patch.object(torch.nn.init, name, lambda t, *a, **k: t))
        yield


def _build(method: str, backbone: str, **params):
    with _no_init():
        return build_method(method, BACKBONES.get(backbone, backbone), num_classes=5, **params).eval()


_POOL = torch.rand(1_000_003, generator=torch.Generator().manual_seed(0))  # drawing 60M fresh numbers takes seconds


def _draw(shape, g: torch.Generator) -> torch.Tensor:
    """Seeded random values in [0, 1): the random pool read cyclically from a random offset (fast, distinct per
    tensor)."""
    n = 1
    for d in shape:
        n *= d
    out = torch.empty(n)
    pos, off = 0, int(torch.randint(0, _POOL.numel(), (1,), generator=g))
    while pos < n:
        take = min(n - pos, _POOL.numel() - off)
        out[pos : pos + take] = _POOL[off : off + take]
        pos, off = pos + take, 0
    return out.view(shape)


def _random_state(fmt: str, backbone: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in official_names(fmt, backbone):
        if name.endswith("num_batches_tracked"):
            out[name] = torch.randint(0, 10**6, shape, generator=g)
        else:
            out[name] = _draw(shape, g).mul_(2).sub_(1)
    return out


def _save(path, fmt, state, prefix):
    if prefix:
        state = {f"module.{k}": v for k, v in state.items()}
    if fmt == "tcgl":  # as 1_train_TCGL_*.py save it
        payload = {
            "opt": argparse.Namespace(model="r3d", lr=1e-3, gpu=0, seed=632),
            "model": state,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
            "epoch": 7,
        }
    else:  # train_vcop.py: torch.save(vcopn.state_dict())
        payload = state
    torch.save(payload, path)
    return path


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


# -- every committed list loads, every tensor lands where the mapping says -----------------------------------------
# with and without DataParallel's `module.` for each format (the TCGL scripts use DataParallel on > 1 GPU, VCOP's not)
@pytest.mark.parametrize("fmt,backbone,prefix", [(f, b, (f == "tcgl") != (b == "r21d")) for f, b in LISTS])
def test_every_official_list_loads_into_our_model(tmp_path, fmt, backbone, prefix):
    source = _random_state(fmt, backbone)
    path = _save(tmp_path / "official.pth", fmt, source, prefix)
    method = _build(fmt, backbone)
    info = load_official(path, fmt, method)

    assert info["format"] == fmt and info["target"] == "method"
    assert info["dropped_prefix"] == ("module." if prefix else "")
    assert info["n_tensors"] == len(source)
    unused = {u["name"] for u in info["unused"]}
    if fmt == "tcgl":
        assert unused == {"gcn_f.bias", "gcn_f.lin.weight", "gcn2.bias", "gcn2.lin.weight"}
        assert all("never called in forward" in u["reason"] for u in info["unused"])
        assert info["epoch"] == 7 and info["gcn_layout"].startswith("PyG >= 2.0")
    else:
        assert unused == set()
    assert info["n_loaded"] == len(method.state_dict()) == len(source) - len(unused)

    ours = method.state_dict()
    # hand-written expectations, transposes included
    for off, (name, transposed) in {**EXPECTED[backbone], **EXPECTED[fmt]}.items():
        want = source[off].t() if transposed else source[off]
        assert _equal(ours[name], want), off
    # complete: exporting the loaded model gives back every mapped tensor of the file, bit for bit
    back = to_official_state(method, fmt)
    assert set(back) == set(source)
    for name, tensor in source.items():
        if name not in unused:
            assert _equal(back[name], tensor), name


def test_lists_name_their_origin_and_cover_only_what_the_official_code_builds():
    from methods.official_weights import _NAMES_DIR

    assert sorted(p.stem for p in _NAMES_DIR.glob("*.txt")) == sorted(f"{f}_{b}" for f, b in LISTS)
    for fmt, backbone in LISTS:
        header = [ln for ln in (_NAMES_DIR / f"{fmt}_{backbone}.txt").read_text().splitlines() if ln.startswith("#")]
        text = "\n".join(header)
        assert ("ceae87c" if fmt == "tcgl" else "7a1710d") in text
        assert ("models/TCG.py" if fmt == "tcgl" else "models/vcopn.py") in text
        names = [n for n, _ in official_names(fmt, backbone)]
        assert len(names) == len(set(names)) and f"{len(names)} tensors" in text
        assert not any(n.startswith("module.") for n in names)
        assert any(n.endswith("num_batches_tracked") for n in names)
    with pytest.raises(ValueError, match="r3d_3463"):
        official_names("vcop", "r3d_3463")  # train_vcop.py only builds (1,1,1,1)
    with pytest.raises(ValueError, match="pretrained_format"):
        official_names("opn", "c3d")
    assert FORMATS == ("vcop", "tcgl")


# -- semantics: the mapped model computes what the official one computes --------------------------------------------
def _bn(x, s, p):
    return F.batch_norm(
        x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"], training=False, eps=1e-5
    )


def _official_c3d(s, x):
    """VCOP's models/c3d.py forward, written from reading it, on an official-named state dict."""
    b = "base_network."
    for tag in ("1", "2", "3a", "3b", "4a", "4b", "5a", "5b"):
        x = F.relu(_bn(F.conv3d(x, s[f"{b}conv{tag}.weight"], s[f"{b}conv{tag}.bias"], padding=1), s, f"{b}bn{tag}"))
        if tag == "1":
            x = F.max_pool3d(x, (1, 2, 2), (1, 2, 2))
        elif tag in ("2", "3b", "4b"):
            x = F.max_pool3d(x, 2, 2)
    return x.mean((2, 3, 4))


def _official_r3d(s, x, sizes=(1, 1, 1, 1)):
    """VCOP's models/r3d.py forward (R3DNet), written from reading it, on an official-named state dict."""
    b = "base_network."

    def conv(x, p, stride, pad):
        return F.conv3d(x, s[f"{p}.temporal_spatial_conv.weight"], None, stride, pad)

    x = F.relu(_bn(conv(x, f"{b}conv1", (1, 2, 2), (1, 3, 3)), s, f"{b}bn1"))
    for stage, n in zip(range(2, 6), sizes):
        for i in range(n):
            p = f"{b}conv{stage}." + ("block1" if i == 0 else f"blocks.{i - 1}")
            down = stage > 2 and i == 0
            res = F.relu(_bn(conv(x, f"{p}.conv1", 2 if down else 1, 1), s, f"{p}.bn1"))
            res = _bn(conv(res, f"{p}.conv2", 1, 1), s, f"{p}.bn2")
            if down:
                x = _bn(conv(x, f"{p}.downsampleconv", 2, 0), s, f"{p}.downsamplebn")
            x = F.relu(x + res)
    return x.mean((2, 3, 4))


def _official_vcopn(s, feats):
    """models/vcopn.py VCOPN head in eval mode: fc7 per pair (i<j), ReLU, concat, (dropout), fc8."""
    pairs = [torch.cat([feats[:, i], feats[:, j]], 1) for i, j in itertools.combinations(range(feats.shape[1]), 2)]
    h = torch.cat([F.relu(F.linear(p, s["fc7.weight"], s["fc7.bias"])) for p in pairs], 1)
    return F.linear(h, s["fc8.weight"], s["fc8.bias"])


def _fill(method, seed):
    """Seeded random weights; BatchNorm variances positive and statistics away from the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in method.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(_draw(t.shape, g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(_draw(t.shape, g) * 0.2 - 0.1)
            elif t.dim() > 1:
                fan_in = t[0].numel()
                t.copy_((_draw(t.shape, g) * 2 - 1) * (3.0 / fan_in) ** 0.5)
            else:  # BatchNorm scale
                t.copy_(_draw(t.shape, g) * 0.5 + 0.75)
    return method


@pytest.mark.parametrize("backbone", ["c3d", "r3d"])
def test_vcop_export_reload_is_bit_identical_and_matches_the_official_forward(tmp_path, backbone):
    src = _fill(_build("vcop", backbone), seed=3)
    official = to_official_state(src, "vcop")
    path = tmp_path / "exported.pth"
    torch.save(official, path)
    fresh = _build("vcop", backbone)  # uninitialised memory: whatever is not loaded spoils the output
    clips = torch.randn(2, 3, 3, 8, 16, 16, generator=torch.Generator().manual_seed(5))  # [B, K, C, T, H, W]
    with torch.no_grad():
        load_official(path, "vcop", fresh)
        want = src.head(src.encode_items(clips))
        got = fresh.head(fresh.encode_items(clips))
        assert torch.isfinite(want).all() and want.std() > 0
        assert torch.equal(got, want)  # bit for bit

        # independent check: the official architecture, re-written from the official files, on the official names
        forward = _official_c3d if backbone == "c3d" else _official_r3d
        feats = torch.stack([forward(official, clips[:, k]) for k in range(3)], 1)
        assert torch.allclose(feats, src.encode_items(clips), rtol=1e-4, atol=1e-5)
        assert torch.allclose(_official_vcopn(official, feats), want, rtol=1e-4, atol=1e-5)


def test_tcgl_heads_compute_what_the_official_heads_compute():
    """GCNConv (PyG: x @ lin.weight^T, normalised aggregation, + bias), the projection head and ASOP (SE_Fusion +
    fc7/fc8) of the official TCG classes, computed from the official names, equal our modules after the mapping."""
    source = _random_state("tcgl", "r21d", seed=1)
    method = _build("tcgl", "r21d")
    ours, _ = convert_official_state(source, "tcgl", method, source="mem")
    method.load_state_dict(ours, strict=True)
    method.double()  # float64 both sides: the check is about the mapping, not about rounding
    s = {k: v.double() for k, v in source.items() if not k.startswith("base_network.")}
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 512, generator=g, dtype=torch.float64)
    adj = torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float64)
    a_hat = adj + torch.eye(3, dtype=torch.float64)
    d = a_hat.sum(1).rsqrt()
    a_norm = d[:, None] * a_hat * d[None, :]
    with torch.no_grad():
        for gcn, module in [("gcn1", method.inter_gcn)] + [(f"gcn_f{k + 1}", method.intra_gcns[k]) for k in range(3)]:
            want = a_norm @ F.linear(x, s[f"{gcn}.lin.weight"]) + s[f"{gcn}.bias"]
            assert torch.allclose(module(x, a_norm.unsqueeze(0)), want, rtol=1e-10, atol=1e-10), gcn
        proj = F.linear(F.elu(F.linear(x, s["fc1.weight"], s["fc1.bias"])), s["fc2.weight"], s["fc2.bias"])
        assert torch.allclose(method.projector(x), proj, rtol=1e-10, atol=1e-10)
        logits = []
        for b in range(x.shape[0]):  # the official code loops over samples
            z = x[b].reshape(-1)
            fused = []
            for k in range(3):
                p = f"fusion.fc_{k + 1}"
                y = torch.sigmoid(
                    F.linear(
                        F.relu(F.linear(z, s[f"{p}.0.weight"], s[f"{p}.0.bias"])), s[f"{p}.2.weight"], s[f"{p}.2.bias"]
                    )
                )
                fused.append(F.relu(y) * x[b, k])
            h = F.relu(F.linear(torch.cat(fused), s["fc7.weight"], s["fc7.bias"]))
            logits.append(F.linear(h, s["fc8.weight"], s["fc8.bias"]))
        assert torch.allclose(method.asop(x), torch.stack(logits), rtol=1e-10, atol=1e-9)


def test_pyg1_gcn_layout_is_taken_as_is():
    state = _random_state("tcgl", "r21d", seed=2)
    legacy = {}
    for name, t in state.items():  # PyG 1.x GCNConv: `weight` [in, out]
        legacy[name.replace(".lin.weight", ".weight")] = t.t().contiguous() if name.endswith(".lin.weight") else t
    method = _build("tcgl", "r21d")
    ours, info = convert_official_state(legacy, "tcgl", method, source="legacy.pth")
    assert _equal(ours["inter_gcn.weight"], legacy["gcn1.weight"])
    assert _equal(ours["intra_gcns.2.weight"], legacy["gcn_f3.weight"])
    assert info["gcn_layout"].startswith("PyG 1.x") and info["transposed"] == []
    assert {u["name"] for u in info["unused"]} == {"gcn_f.weight", "gcn_f.bias", "gcn2.weight", "gcn2.bias"}
    both = {**state, "gcn1.weight": legacy["gcn1.weight"]}  # both layouts of one GCN: refused
    with pytest.raises(CheckpointError, match="gcn1.weight and gcn1.lin.weight|gcn1.lin.weight and gcn1.weight"):
        convert_official_state(both, "tcgl", method, source="both.pth")


# -- strictness ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vcop_r21d():
    return _build("vcop", "r21d"), _random_state("vcop", "r21d", seed=7)


def test_missing_extra_and_misshaped_tensors_are_refused_with_names(tmp_path, vcop_r21d):
    method, state = vcop_r21d
    cases = {
        "missing": (
            {k: v for k, v in state.items() if k != "base_network.conv2.block1.bn1.running_var"},
            [
                "encoder.conv2.0.bn1.running_var",
                "base_network.conv2.block1.bn1.running_var",
                "needs that the file lacks (1)",
            ],
        ),
        "extra": ({**state, "fc9.weight": torch.zeros(3, 3)}, ["fc9.weight", "no place in this model (1)"]),
        "shape": (
            {**state, "fc8.weight": torch.zeros(24, 1536)},
            ["fc8.weight (24, 1536)", "head.classifier.weight (6, 1536)", "shape mismatches (1)", "num_clips=3"],
        ),
    }
    for case, (bad, expected) in cases.items():
        path = _save(tmp_path / f"{case}.pth", "vcop", bad, prefix=case == "extra")
        with pytest.raises(CheckpointError) as err:
            load_official(path, "vcop", method)
        msg = str(err.value)
        assert str(path) in msg and "pretrained_format=vcop" in msg, case
        for text in expected:
            assert text in msg, (case, text, msg)


def test_vcop_checkpoint_given_as_tcgl_says_which_format_to_use(vcop_r21d):
    _, state = vcop_r21d
    tcgl = _build("tcgl", "r21d")
    with pytest.raises(CheckpointError, match="use pretrained_format=vcop") as err:
        convert_official_state(state, "tcgl", tcgl, source="/data/vcop_r21d.pth")
    assert "/data/vcop_r21d.pth" in str(err.value) and "fc7.weight (512, 1024)" in str(err.value)
    tcgl_state = _random_state("tcgl", "r21d")
    with pytest.raises(CheckpointError, match="use pretrained_format=tcgl"):
        convert_official_state(tcgl_state, "vcop", _build("vcop", "r21d"), source="t.pth")


def test_deeper_official_backbone_says_which_backbone_to_use():
    state = {n: torch.zeros(s) for n, s in official_names("tcgl", "r3d_3463")}
    with pytest.raises(CheckpointError) as err:
        convert_official_state(state, "tcgl", _build("tcgl", "r3d"), source="ucf_r3d.pth")
    msg = str(err.value)
    assert "backbone=r3d builds R3DNet layer_sizes (1, 1, 1, 1)" in msg
    assert "the file holds R3DNet layer_sizes (3, 4, 6, 3): use backbone=r3d_3463" in msg
    assert "file tensors with no place in this model (144)" in msg  # the 8 extra blocks, 18 tensors each
    assert "base_network.conv2.blocks.0.bn1.bias (64,)" in msg
    state = {n: torch.zeros(s) for n, s in official_names("tcgl", "r21d")}
    with pytest.raises(CheckpointError, match="the file holds R2Plus1DNet layer_sizes .*: use backbone=r21d"):
        convert_official_state(state, "tcgl", _build("tcgl", "c3d"), source="x.pth")
    with pytest.raises(CheckpointError, match="intra_gcn_per_position=true"):
        convert_official_state(state, "tcgl", _build("tcgl", "r21d", intra_gcn_per_position=False), source="x.pth")


def test_other_methods_take_the_encoder_and_report_the_head(vcop_r21d):
    _, state = vcop_r21d
    for name in ("random", "supervised"):
        method = _build(name, "r21d")
        ours, info = convert_official_state({f"module.{k}": v for k, v in state.items()}, "vcop", method, "v.pth")
        assert info["target"] == "encoder" and info["dropped_prefix"] == "module."
        assert {u["name"] for u in info["unused"]} == {"fc7.weight", "fc7.bias", "fc8.weight", "fc8.bias"}
        assert all("head of the official vcop model" in u["reason"] for u in info["unused"])
        assert set(ours) == {k for k in method.state_dict() if k.startswith("encoder.")}
        assert _equal(ours["encoder.conv1.0.spatial.weight"], state["base_network.conv1.spatial_conv.weight"])
    # an unknown non-backbone tensor is still refused in encoder-only mode
    with pytest.raises(CheckpointError, match="fc9.bias"):
        convert_official_state({**state, "fc9.bias": torch.zeros(2)}, "vcop", _build("random", "r21d"), "v.pth")


class _Trap:
    """Unpickling this would run ``_sprung`` - a weights_only load must refuse it."""

    def __reduce__(self):
        return (_sprung, ())


_SPRUNG: list[int] = []


def _sprung():
    _SPRUNG.append(1)
    return None


def test_loading_is_weights_only(tmp_path):
    method = _build("vcop", "r21d")
    path = tmp_path / "evil.pth"
    torch.save({"model": {"fc7.bias": torch.zeros(512)}, "opt": _Trap()}, path)
    with pytest.raises(CheckpointError, match="weights_only") as err:
        load_official(path, "vcop", method)
    assert str(path) in str(err.value) and "_sprung" in str(err.value)  # names what it refused
    assert _SPRUNG == []
    # a file of the old (non-zip) serialisation format, as PyTorch 0.4 wrote VCOP's, still loads weights_only
    old = tmp_path / "old.pth"
    torch.save(_random_state("vcop", "r21d", seed=9), old, _use_new_zipfile_serialization=False)
    assert load_official(old, "vcop", method)["n_loaded"] == len(method.state_dict())
    with pytest.raises(CheckpointError, match="no such file"):
        load_official(tmp_path / "nope.pth", "vcop", method)
