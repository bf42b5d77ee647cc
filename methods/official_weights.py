"""Load checkpoints written by the OFFICIAL VCOP / TCGL training code into our models, strictly.

``pretrained=/path/official.pt pretrained_format=vcop|tcgl``: the official state-dict names are mapped onto ours.
Official code read for the mapping (nothing of it is imported or copied):

- VCOP, github.com/xudejing/video-clip-order-prediction @ 7a1710d: ``train_vcop.py`` saves
  ``VCOPN(base_network, 512, tuple_len).state_dict()`` (``models/vcopn.py``), a plain state dict.
- TCGL, github.com/YangLiu9208/TCGL @ ceae87c: ``1_train_TCGL_*.py`` save
  ``{'opt': argparse.Namespace, 'model': tcg.state_dict(), 'optimizer': ..., 'epoch': ...}`` of ``TCG_triple`` (C3D) or
  ``TCG_triple_R3D_R21D_FCA`` / ``_FCA2`` (R3D, R(2+1)D; same tensors), wrapped in DataParallel (``module.``) when
  more than one GPU is visible.

The names and shapes of every such checkpoint are committed in ``methods/official_names/<fmt>_<backbone>.txt``.

Mapping (official -> ours; ``base_network.`` -> ``encoder.``):

================================================  ==============================================================
C3D ``conv1 .. conv5b``, ``bn1 .. bn5b``          ``encoder.features.conv1 ..``, ``encoder.features.bn1 ..``
R3D/R(2+1)D ``conv1`` (stem conv), ``bn1``        ``encoder.conv1.0``, ``encoder.conv1.1``
``conv{2-5}.block1`` / ``.blocks.{i}``            ``encoder.conv{2-5}.0`` / ``.{i+1}``
  block ``conv1/bn1/conv2/bn2``                   same names
  block ``downsampleconv`` / ``downsamplebn``     ``shortcut.0`` / ``shortcut.1``
  R3D ``<conv>.temporal_spatial_conv.weight``     ``<conv>.weight``
  R(2+1)D ``<conv>.spatial_conv/bn/temporal_conv``  ``<conv>.spatial/bn/temporal``
VCOP ``fc7`` (pair fc), ``fc8``                   ``head.pair_fc``, ``head.classifier``
TCGL ``gcn_f1/gcn_f2/gcn_f3`` (intra, per slot)   ``intra_gcns.0/1/2``
TCGL ``gcn1`` (inter-snippet GCN)                 ``inter_gcn``
  GCNConv ``lin.weight [out,in]`` (PyG >= 2)      ``weight [in,out]``: transposed (ours computes ``x @ weight``)
  GCNConv ``weight [in,out]`` (PyG 1.x)           ``weight``: as is
  GCNConv ``bias``                                ``bias``
TCGL ``fc1``, ``fc2`` (projection head)           ``projector.0``, ``projector.2``
TCGL ``fusion.fc_{k}.{0,2}`` (SE_Fusion, k=1..3)  ``asop.fusion.branches.{k-1}.{0,2}``
TCGL ``fc7``, ``fc8`` (ASOP classifier)           ``asop.classifier.0``, ``asop.classifier.3``
TCGL ``gcn_f``, ``gcn2``                          not loaded: constructed but never called in forward
================================================  ==============================================================

A checkpoint of one format evaluated with a method of another type (e.g. VCOP weights with ``method=random`` or
``supervised``) loads its backbone into ``method.encoder`` only; its head tensors are reported as not loaded.
"""

from __future__ import annotations

import argparse
import functools
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runtime.checkpoint import CheckpointError

FORMATS = ("vcop", "tcgl")

_NAMES_DIR = Path(__file__).resolve().parent / "official_names"
# the (format, backbone config) pairs the official training scripts can produce
_LISTS = {
    "vcop": ("c3d", "r3d", "r21d"),
    "tcgl": ("c3d", "r3d", "r3d_3463", "r21d"),
}
# our backbone configs of the official backbones: (family, layer_sizes) -> backbone name
_BACKBONE_CONFIGS = {
    ("c3d", None): "c3d",
    ("r3d", (1, 1, 1, 1)): "r3d",
    ("r3d", (3, 4, 6, 3)): "r3d_3463",
    ("r21d", (1, 1, 1, 1)): "r21d",
}
_PREFIX = "module."
_SHOW = 20
_UNUSED_GCN = ("gcn_f", "gcn2")
_REASON_UNUSED = (
    "constructed in the official TCG_triple / TCG_triple_R3D_R21D_FCA(2).__init__ but never called in "
    "forward (models/TCG.py @ ceae87c); not loaded"
)
# ours -> official TCGL head modules
_TCGL_GCNS = {"inter_gcn": "gcn1", **{f"intra_gcns.{k}": f"gcn_f{k + 1}" for k in range(3)}}


# -- the committed name lists ---------------------------------------------------------------------------------------
def official_names(fmt: str, backbone: str) -> list[tuple[str, tuple[int, ...]]]:
    """Names (without ``module.``) and shapes of an official ``fmt`` checkpoint around ``backbone``
    (``c3d``, ``r3d``, ``r3d_3463``, ``r21d``), read from ``methods/official_names/<fmt>_<backbone>.txt``."""
    _check_format(fmt)
    if backbone not in _LISTS[fmt]:
        raise ValueError(
            f"the official {fmt} code builds no checkpoint with backbone={backbone!r}; "
            f"lists exist for: {', '.join(_LISTS[fmt])}"
        )
    rows = []
    for line in (_NAMES_DIR / f"{fmt}_{backbone}.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, shape = line.split()
        rows.append((name, () if shape == "()" else tuple(int(s) for s in shape.split(","))))
    return rows


@functools.lru_cache(maxsize=None)
def _head_names(fmt: str) -> frozenset[str]:
    """The official head tensors of ``fmt`` (everything but ``base_network.*``), PyG 1.x GCN names included."""
    names = {n for n, _ in official_names(fmt, _LISTS[fmt][0]) if not n.startswith("base_network.")}
    return frozenset(names | {n.replace(".lin.weight", ".weight") for n in names if n.endswith(".lin.weight")})


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"pretrained_format must be one of {FORMATS}, got {fmt!r}")


# -- ours -> official names -----------------------------------------------------------------------------------------
def _family(encoder: nn.Module) -> str | None:
    from methods.backbones import C3D, R2Plus1DNet, R3DNet

    if isinstance(encoder, C3D):
        return "c3d"
    if isinstance(encoder, R2Plus1DNet):
        return "r21d"
    if isinstance(encoder, R3DNet):
        return "r3d"
    return None


def _official_conv(sub: str) -> str | None:
    """Inside one official SpatioTemporalConv: our ``weight`` (R3D) / ``spatial|bn|temporal`` (R(2+1)D) names."""
    if sub in ("weight", "bias"):
        return f"temporal_spatial_conv.{sub}"
    m = re.fullmatch(r"(spatial|temporal)\.(weight|bias)", sub)
    if m:
        return f"{m[1]}_conv.{m[2]}"
    if sub.startswith("bn."):
        return sub
    return None


def _official_block(inner: str) -> str | None:
    m = re.fullmatch(r"(conv1|conv2)\.(.+)", inner)
    if m:
        conv = _official_conv(m[2])
        return conv and f"{m[1]}.{conv}"
    if re.fullmatch(r"(bn1|bn2)\.\w+", inner):
        return inner
    m = re.fullmatch(r"shortcut\.0\.(.+)", inner)
    if m:
        conv = _official_conv(m[1])
        return conv and f"downsampleconv.{conv}"
    m = re.fullmatch(r"shortcut\.1\.(\w+)", inner)
    return m and f"downsamplebn.{m[1]}"


def _official_backbone(name: str, family: str | None) -> str | None:
    """Our encoder-relative name -> official name relative to ``base_network.`` (None: no counterpart)."""
    if family == "c3d":
        m = re.fullmatch(r"features\.((?:conv|bn)\w+\.\w+)", name)
        return m and m[1]
    if family in ("r3d", "r21d"):
        m = re.fullmatch(r"conv1\.0\.(.+)", name)
        if m:
            conv = _official_conv(m[1])
            return conv and f"conv1.{conv}"
        m = re.fullmatch(r"conv1\.1\.(\w+)", name)
        if m:
            return f"bn1.{m[1]}"
        m = re.fullmatch(r"conv([2-5])\.(\d+)\.(.+)", name)
        if m:
            block = "block1" if m[2] == "0" else f"blocks.{int(m[2]) - 1}"
            inner = _official_block(m[3])
            return inner and f"conv{m[1]}.{block}.{inner}"
    return None


def _official_head(name: str, fmt: str) -> tuple[str, bool] | None:
    """Our head name -> (official name, transposed?) for ``fmt``'s model (None: no counterpart)."""
    if fmt == "vcop":
        m = re.fullmatch(r"head\.(pair_fc|classifier)\.(weight|bias)", name)
        return m and ({"pair_fc": "fc7", "classifier": "fc8"}[m[1]] + f".{m[2]}", False)
    m = re.fullmatch(r"(inter_gcn|intra_gcns\.\d+)\.(weight|bias)", name)
    if m:
        gcn = _TCGL_GCNS.get(m[1])
        if gcn is None:
            return None
        return (f"{gcn}.lin.weight", True) if m[2] == "weight" else (f"{gcn}.bias", False)
    m = re.fullmatch(r"projector\.([02])\.(weight|bias)", name)
    if m:
        return f"fc{1 if m[1] == '0' else 2}.{m[2]}", False
    m = re.fullmatch(r"asop\.fusion\.branches\.(\d+)\.([02])\.(weight|bias)", name)
    if m:
        return f"fusion.fc_{int(m[1]) + 1}.{m[2]}.{m[3]}", False
    m = re.fullmatch(r"asop\.classifier\.([03])\.(weight|bias)", name)
    if m:
        return f"fc{7 if m[1] == '0' else 8}.{m[2]}", False
    return None


def _method_matches(method: nn.Module, fmt: str) -> bool:
    from methods.tcgl.method import TCGL
    from methods.vcop import VCOP

    return isinstance(method, {"vcop": VCOP, "tcgl": TCGL}[fmt])


def _mapping(method: nn.Module, fmt: str, whole: bool):
    """For the target (the whole method, or its encoder only when ``whole`` is False):
    ``table`` ``{official name: (our name, transposed?)}`` with the PyG 1.x GCN aliases, ``canonical``
    ``{our name: official name}`` (PyG >= 2.0 layout), and ``orphans``, our target names with no official counterpart.
    """
    family = _family(method.encoder)
    table: dict[str, tuple[str, bool]] = {}
    canonical: dict[str, str] = {}
    orphans: list[str] = []
    for ours in method.state_dict():
        if ours.startswith("encoder."):
            off = _official_backbone(ours[len("encoder.") :], family)
            hit = (f"base_network.{off}", False) if off else None
        elif whole:
            hit = _official_head(ours, fmt)
        else:
            continue
        if hit is None:
            orphans.append(ours)
            continue
        table[hit[0]] = (ours, hit[1])
        canonical[ours] = hit[0]
        if hit[0].endswith(".lin.weight"):  # PyG 1.x GCNConv: `weight` [in, out], our layout
            table[hit[0][: -len(".lin.weight")] + ".weight"] = (ours, False)
    return table, canonical, orphans


# -- diagnosis ------------------------------------------------------------------------------------------------------
def _file_backbone(names: list[str]) -> tuple[str, tuple[int, ...] | None] | None:
    bb = [n[len("base_network.") :] for n in names if n.startswith("base_network.")]
    if not bb:
        return None
    if any(n.startswith("conv3a.") for n in bb):
        return "c3d", None
    if any(".spatial_conv." in n for n in bb):
        family = "r21d"
    elif any(".temporal_spatial_conv." in n for n in bb):
        family = "r3d"
    else:
        return None
    sizes = []
    for stage in range(2, 6):
        extra = {int(m[1]) for n in bb if (m := re.match(rf"conv{stage}\.blocks\.(\d+)\.", n))}
        sizes.append(1 + (max(extra) + 1 if extra else 0))
    return family, tuple(sizes)


def _describe(family: str, sizes: tuple[int, ...] | None) -> str:
    cls = {"c3d": "C3D", "r3d": "R3DNet", "r21d": "R2Plus1DNet"}[family]
    return cls if sizes is None else f"{cls} layer_sizes {sizes}"


def _our_backbone(method: nn.Module) -> tuple[str, str]:
    """(description, backbone config name or '?') of the method's encoder."""
    enc = method.encoder
    family = _family(enc)
    if family is None:
        return type(enc).__name__, "?"
    sizes = None if family == "c3d" else tuple(enc.layer_sizes)
    return _describe(family, sizes), _BACKBONE_CONFIGS.get((family, sizes), "?")


def _hints(
    names: list[str], fmt: str, method: nn.Module, whole: bool, mis_shaped: list[str], unmatched: list[str]
) -> list[str]:
    hints = []
    head = [n for n in names if not n.startswith("base_network.")]
    looks = None
    if any(n.startswith(("gcn", "fusion.")) for n in head):
        looks = "tcgl"
    elif "fc7.weight" in head and "fc8.weight" in head:
        looks = "vcop"
    if looks and looks != fmt:
        hints.append(f"is this a {looks} checkpoint? use pretrained_format={looks}")
    if not any(n.startswith("base_network.") for n in names):
        if any(n.startswith("encoder.") for n in names):
            hints.append(
                "the file holds encoder.* tensors: it looks like a vssl-bench checkpoint; drop pretrained_format"
            )
        else:
            hints.append(
                "the file holds no base_network.* tensors: it is not a pretext checkpoint of the official "
                "code (a fine-tuned classifier from ft_classify.py / 2_ft_tcg_classify.py, or a plain "
                "backbone state dict?); drop pretrained_format to load a plain backbone state dict"
            )
    desc, name = _our_backbone(method)
    found = _file_backbone(names)
    if _family(method.encoder) is None:
        hints.append(
            f"this run's backbone ({desc}) is not one the official code builds; use backbone=c3d, r3d, r3d_3463 or r21d"
        )
    elif found is not None and _describe(*found) != desc:
        want = _BACKBONE_CONFIGS.get(found)
        use = f"use backbone={want}" if want else f"no backbone config builds it (add one with layer_sizes={found[1]})"
        hints.append(f"backbone={name} builds {desc}; the file holds {_describe(*found)}: {use}")
    if (
        whole
        and fmt == "tcgl"
        and len(getattr(method, "intra_gcns", [])) == 1
        and any(n.startswith(("gcn_f2.", "gcn_f3.")) for n in unmatched)
    ):
        hints.append(
            "the official model has one intra-snippet GCN per input position (gcn_f1..gcn_f3): set "
            "method.params.intra_gcn_per_position=true"
        )
    if whole and not (looks and looks != fmt) and any(not m.startswith("base_network.") for m in mis_shaped):
        sizes = (
            "num_clips=3, hidden=512" if fmt == "vcop" else "num_clips=3, proj_dim=512, asop_hidden=512, se_reduction=6"
        )
        hints.append(
            f"the official {fmt} heads are built with {sizes} (tuple_len=--tl, 3 by default): set the "
            "method's params to match the file"
        )
    return hints


def _listing(title: str, items: list[str]) -> str:
    shown = "\n    ".join(items[:_SHOW])
    more = f"\n    ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"  {title} ({len(items)}):\n    {shown}{more}"


# -- conversion -----------------------------------------------------------------------------------------------------
def convert_official_state(
    state: dict, fmt: str, method: nn.Module, source: str = "<state dict>"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Map an official ``fmt`` state dict onto ``method.state_dict()`` names, strictly.

    A DataParallel ``module.`` prefix is dropped when every key has it. With a method of the format's type (VCOP for
    ``vcop``, TCGL for ``tcgl``) every tensor of the method comes from the file; with another method only the encoder
    does and the file's head tensors are reported as not loaded. Every tensor of the file must be mapped or be a known
    unused one (TCGL's ``gcn_f``, ``gcn2``); shapes are checked. Raises :class:`CheckpointError` naming ``source``
    otherwise. Returns ``(state dict in method.state_dict() names, info)``.
    """
    _check_format(fmt)
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: expected a state dict, got {type(state).__name__}")
    bad = [
        f"{k!r}: {type(v).__name__}"
        for k, v in state.items()
        if not (isinstance(k, str) and isinstance(v, torch.Tensor))
    ]
    if bad:
        raise CheckpointError(
            f"{source}: pretrained_format={fmt}: the state dict holds non-tensor entries\n" + _listing("entries", bad)
        )
    dropped = ""
    if state and all(k.startswith(_PREFIX) for k in state):
        state = {k[len(_PREFIX) :]: v for k, v in state.items()}
        dropped = _PREFIX
    whole = _method_matches(method, fmt)
    table, canonical, _ = _mapping(method, fmt, whole)
    own = method.state_dict()
    target = {k for k in own if whole or k.startswith("encoder.")}
    head_names = frozenset() if whole else _head_names(fmt)
    ours: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unused, unmatched, duplicates, mis_shaped, transposed = [], [], [], [], []
    for name, tensor in state.items():
        hit = table.get(name)
        if hit is None:
            if fmt == "tcgl" and name.split(".")[0] in _UNUSED_GCN and name in _head_names("tcgl"):
                unused.append({"name": name, "reason": _REASON_UNUSED})
            elif name in head_names:
                unused.append(
                    {
                        "name": name,
                        "reason": f"head of the official {fmt} model; method="
                        f"{getattr(method, 'name', '') or type(method).__name__} loads only its encoder",
                    }
                )
            else:
                unmatched.append(f"{name} {tuple(tensor.shape)}")
            continue
        key, transpose = hit
        if key in ours:
            duplicates.append(f"{name} and {origin[key]} both map to {key}")
            continue
        value = tensor.t().contiguous() if transpose else tensor
        if transpose:
            transposed.append(name)
        if value.shape != own[key].shape:
            how = " (transposed)" if transpose else ""
            mis_shaped.append(f"{name} {tuple(tensor.shape)}{how} -> {key} {tuple(own[key].shape)}")
        ours[key], origin[key] = value, name
    missing = sorted(
        f"{k} (official {canonical[k]})" if k in canonical else f"{k} (no official counterpart)"
        for k in target
        if k not in ours
    )
    problems = unmatched or missing or mis_shaped or duplicates
    if problems:
        desc, name = _our_backbone(method)
        mname = getattr(method, "name", "") or type(method).__name__
        parts = [
            f"{source}: cannot load as pretrained_format={fmt} into method={mname} (backbone={name}: {desc}; "
            f"{'whole method' if whole else 'encoder only'}): {len(state)} tensors in the file, "
            f"{len(target)} needed"
        ]
        for title, items in (
            ("file tensors with no place in this model", sorted(unmatched)),
            ("tensors this model needs that the file lacks", missing),
            ("shape mismatches", sorted(mis_shaped)),
            ("duplicates", sorted(duplicates)),
        ):
            if items:
                parts.append(_listing(title, items))
        hints = _hints(list(state), fmt, method, whole, mis_shaped, unmatched)
        parts.append(
            "  what to do: "
            + (
                "; ".join(hints)
                if hints
                else "check that the file was written by the official "
                f"{fmt} code for this backbone (see methods/official_names/)"
            )
        )
        raise CheckpointError("\n".join(parts))
    gcn_layout = None
    if any(n.endswith(".lin.weight") for n in origin.values()):
        gcn_layout = "PyG >= 2.0 (lin.weight [out, in], transposed)"
    elif fmt == "tcgl" and whole:
        gcn_layout = "PyG 1.x (weight [in, out], as is)"
    info = {
        "format": fmt,
        "source": source,
        "n_tensors": len(state),
        "n_loaded": len(ours),
        "target": "method" if whole else "encoder",
        "dropped_prefix": dropped,
        "unused": sorted(unused, key=lambda u: u["name"]),
        "transposed": sorted(transposed),
        "gcn_layout": gcn_layout,
    }
    return ours, info


def to_official_state(method: nn.Module, fmt: str) -> dict[str, torch.Tensor]:
    """Our ``method``'s weights in the official ``fmt`` naming (no ``module.`` prefix; GCNs in the PyG >= 2.0 layout).

    For comparing pipelines: ``torch.save(to_official_state(m, 'vcop'), 'x.pth')`` is what the official code loads.
    TCGL's unused ``gcn_f`` / ``gcn2`` are written as zeros so that the official model loads the file strictly.
    """
    _check_format(fmt)
    if not _method_matches(method, fmt):
        raise ValueError(f"to_official_state(fmt={fmt!r}) needs a {fmt} method, got {type(method).__name__}")
    table, canonical, orphans = _mapping(method, fmt, whole=True)
    if orphans:
        raise ValueError(f"no official counterpart for: {', '.join(orphans[:_SHOW])}")
    own = method.state_dict()
    out: dict[str, torch.Tensor] = {}
    for ours, off in canonical.items():
        value = own[ours].detach().clone()
        out[off] = value.t().contiguous() if table[off][1] else value
    if fmt == "tcgl":
        dim = own["inter_gcn.bias"].shape[0]
        for g in _UNUSED_GCN:
            out[f"{g}.bias"] = torch.zeros(dim)
            out[f"{g}.lin.weight"] = torch.zeros(dim, dim)
    return out


# -- loading --------------------------------------------------------------------------------------------------------
def _state_of(payload: Any, source: str) -> dict:
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload
    if isinstance(payload, dict):
        for key in ("state_dict", "model"):
            if isinstance(payload.get(key), dict):
                return payload[key]
        keys = ", ".join(repr(k) for k in list(payload)[:_SHOW])
        raise CheckpointError(
            f"{source}: no state dict found: neither a dict of tensors nor a dict with a "
            f"'state_dict' or 'model' entry (keys: {keys})"
        )
    raise CheckpointError(f"{source}: expected a dict checkpoint, got {type(payload).__name__}")


def load_official(path: str | Path, fmt: str, method: nn.Module, source: str | None = None) -> dict[str, Any]:
    """Load an official ``fmt`` checkpoint at ``path`` into ``method`` (strictly; the encoder only for a method of
    another type) and return the conversion info (see :func:`convert_official_state`).

    The file is read with ``torch.load(weights_only=True)``; the only non-tensor class allowed is
    ``argparse.Namespace`` (the ``'opt'`` entry of TCGL's checkpoints). A plain state dict, or a dict holding one
    under ``'state_dict'`` or ``'model'``, is accepted.
    """
    _check_format(fmt)
    path = Path(path)
    source = source or str(path)
    if not path.is_file():
        raise CheckpointError(f"{source}: no such file; give the path of an official {fmt} checkpoint")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            try:  # memory-mapped: TCGL's files also hold the optimizer state, which is never read then
                payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                payload = torch.load(path, map_location="cpu", weights_only=True)  # old (non-zip) format
    except pickle.UnpicklingError as e:
        text = " ".join(str(e).split())
        found = re.search(r"GLOBAL ([\w.]+)", text)
        detail = f"it references {found.group(1)}" if found else text[:300]
        raise CheckpointError(
            f"{source}: refused by torch.load(weights_only=True) ({detail}): the file holds objects other than "
            f"tensors, plain Python values and argparse.Namespace, and we never unpickle untrusted code. Re-export "
            f"it as a plain state dict (torch.save(model.state_dict(), ...)) from code you trust"
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{source}: not a readable checkpoint (corrupt or truncated?): {e}") from e
    ours, info = convert_official_state(_state_of(payload, source), fmt, method, source=source)
    if isinstance(payload, dict) and isinstance(payload.get("epoch"), int):
        info["epoch"] = payload["epoch"]
    try:
        if info["target"] == "method":
            method.load_state_dict(ours, strict=True)
        else:
            method.encoder.load_state_dict({k[len("encoder.") :]: v for k, v in ours.items()}, strict=True)
    except RuntimeError as e:  # e.g. a dtype the model cannot take
        raise CheckpointError(f"{source}: load_state_dict failed after mapping pretrained_format={fmt}: {e}") from e
    return info


__all__ = ["FORMATS", "convert_official_state", "load_official", "official_names", "to_official_state"]
