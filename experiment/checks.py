"""Value checks of a composed run configuration, before anything runs.

Hydra and OmegaConf reject what they can see: an unknown key or group option (struct mode), a malformed override,
an interpolation that does not resolve. Values are another matter: ``seed=abc``, ``split=1.5``, ``protocols=linear``
(a string, which Python iterates letter by letter), ``pretrain.epochs=-1`` or ``~method`` all compose, and used to
fail later, deep inside the run, or not at all (``int(1.5)`` is 1). :func:`check_values` checks them first.

The errors a malformed command line can give, and nothing else (fuzzed in tests/reliability/test_fuzz_overrides.py):

- ``hydra.errors.HydraException`` (OverrideParseException, ConfigCompositionException, MissingConfigException):
  the override cannot be parsed, names an unknown key or an unknown option of a config group;
- ``omegaconf.errors.OmegaConfBaseException`` (e.g. InterpolationResolutionError): a value does not resolve;
- :class:`ConfigValueError` (a ``ValueError``): a value has the wrong type or is out of range; the message names
  the key, the value given and what is valid;
- :class:`ConfigValueError` from :func:`check_overrides` for a config-group override whose value is not a name
  (``dataset=5``, ``backbone=[[1]]``): Hydra itself fails on those with a ``ValueError`` or a ``TypeError`` from
  deep inside, so protocols/run.py checks the command line first.

The rules: a key whose default (config.yaml, protocol/*.yaml and the chosen method/backbone/dataset file) is an int
takes an int, a float takes a number, a bool a bool, a string a string, a list a list of the same element type, a
section a section; ``null``, mandatory (``???``) and interpolated defaults are left to the explicit rules below.
Keys added with ``+key=`` are not checked (the run does not read them).
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).resolve().parents[1] / "protocols" / "conf"
STAGES = ("pretrain", "features", "eval", "all")  # experiment/app.py uses these
CONTROLS = ("none", "untrained")
PROTOCOLS = ("linear", "finetune", "retrieval", "svm")  # svm: opt-in (protocols/svm.py, TCGL's release)
OPTIMIZERS = ("sgd", "adamw")  # method.optim.name; runtime.engine.make_optimizer builds them
PRETRAINED_FORMATS = ("ours", "vcop", "tcgl")  # methods/official_weights.py maps vcop / tcgl
RECIPE_CHOICES = {  # protocols/conf/recipe/suite.yaml explains each
    "optimizer": ("suite", "released"), "init": ("kaiming", "pytorch"), "short_videos": ("pad", "exclude"),
    "backbone_calls": ("batched", "per_position"), "input_scale": ("normalised", "unit"),
    "method_settings": ("suite", "released"), "finetune": ("suite", "released"), "eval_precision": ("auto", "fp32"),
    "test_clip_starts": ("round", "floor"), "centre_crop": ("floor", "round"),
}
_MISSING = object()


class ConfigValueError(ValueError):
    """A configuration value has the wrong type or is out of range (the message says which key and what is valid)."""


@lru_cache(maxsize=None)
def _yaml(path: Path) -> dict | None:
    if not path.is_file():
        return None
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return data if isinstance(data, dict) else None


def _reference(chosen: dict) -> dict:
    """The default values for the chosen method, backbone and dataset (plain, unresolved)."""
    ref = dict(_yaml(CONF / "config.yaml"))
    for key in ("defaults", "hydra"):
        ref.pop(key, None)
    ref["protocol"] = {name: _yaml(CONF / "protocol" / f"{name}.yaml") for name in PROTOCOLS}
    for group in ("method", "backbone", "dataset", "recipe"):
        name = (chosen.get(group) or {}).get("name") if isinstance(chosen.get(group), dict) else None
        ref[group] = _yaml(CONF / group / f"{name}.yaml") if isinstance(name, str) and re.fullmatch(r"\w+", name) else None
    return ref


_KINDS = ((type(None), "null"), (bool, "a bool (true/false)"), (int, "an integer"), (float, "a number"),
          (str, "a string"), (list, "a list"), (dict, "a section (key: value, ...)"))  # bool before int


def _kind(value: Any) -> str:
    return next((name for t, name in _KINDS if isinstance(value, t)), type(value).__name__)


def _fits(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if default == "auto":  # "auto" or an explicit choice (input.flip: auto | true | false)
        return isinstance(value, (str, bool))
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list) and (not default or all(_fits(v, default[0]) for v in value))
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def _fail(key: str, value: Any, want: str) -> None:
    shown = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:77] + "...")
    raise ConfigValueError(f"{key}={shown}: {want}")


def _walk(values: Any, default: Any, key: str) -> None:
    if default is None or (isinstance(default, str) and (default == "???" or "${" in default)):
        return  # no default value to compare with (null, mandatory, or an interpolation)
    if values is _MISSING:
        raise ConfigValueError(f"{key} is required (was it removed with ~{key}?)")
    if not _fits(values, default):
        element = f" of {_kind(default[0]).split(' ', 1)[-1]}s" if isinstance(default, list) and default else ""
        shown = repr(default) if len(repr(default)) < 60 else repr(default)[:56] + " ..."
        _fail(key, values, f"must be {_kind(default)}{element}, like the default {shown}")
    if isinstance(default, dict):
        for sub, d in default.items():
            _walk(values.get(sub, _MISSING), d, f"{key}.{sub}" if key else str(sub))


def _get(c: dict, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(c, dict) or part not in c:
            return None
        c = c[part]
    return c


def _at_least(c: dict, keys: str, low: int | float, nullable: bool = False) -> None:
    for key in keys.split():
        v = _get(c, key)
        if v is None and nullable:
            continue
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < low:
            _fail(key, v, f"must be a number >= {low}" + (" or null" if nullable else ""))


def _one_of(c: dict, key: str, valid: tuple) -> None:
    v = _get(c, key)
    if not isinstance(v, str) or v not in valid:
        _fail(key, v, f"valid: {', '.join(valid)}")


def _groups() -> set[str]:
    return {str(d.relative_to(CONF)) for d in CONF.rglob("*") if d.is_dir()}


def check_overrides(overrides: list[str]) -> None:
    """Refuse a config-group override whose value is not a name or a list of names (``dataset=5``,
    ``backbone=[[1]]``, ``~backbone=0``): Hydra 1.3 fails on those deep inside (a ``ValueError``, or a
    ``TypeError`` for a nested list). Anything that does not parse is left to Hydra, which reports it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if "=" in o or o.startswith("~")])
    except OverrideParseException:
        return
    groups = _groups()
    for o in parsed:
        if o.key_or_group not in groups or o.is_sweep_override():
            continue
        value = o.value()
        if value is None and o.is_delete():
            continue
        if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            options = sorted(p.stem for p in (CONF / o.key_or_group).glob("*.yaml"))
            _fail(o.input_line.split("=", 1)[0], value,
                  f"{o.key_or_group} is a config group: give one of {', '.join(options)}")


def check_values(cfg: DictConfig) -> None:
    """Raise :class:`ConfigValueError` for the first value of ``cfg`` the run cannot use (see the module doc).
    Interpolations are resolved here, so one that does not resolve raises OmegaConf's error, naming it."""
    ds = cfg.get("dataset") if isinstance(cfg, DictConfig) else None
    for key in ds.keys() if isinstance(ds, DictConfig) else ():
        if OmegaConf.is_missing(ds, key):  # a mandatory ??? value: the dataset's location
            raise ConfigValueError(f"dataset.{key} is required for dataset={ds.get('name', '?')}: pass "
                                   f"dataset.{key}=/path/to/the/dataset")
    c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    if not isinstance(c, dict):
        raise ConfigValueError(f"the configuration must be a mapping, got {_kind(c)}")
    _walk(c, _reference(c), "")

    _one_of(c, "stage", STAGES)
    _one_of(c, "control", CONTROLS)
    protocols = c.get("protocols")
    if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
        _fail("protocols", protocols, f"must be a list such as [linear,retrieval]; valid: {', '.join(PROTOCOLS)}")
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        _fail("protocols", protocols, f"unknown protocol(s) {bad}; valid: {', '.join(PROTOCOLS)}")
    if c.get("split") not in (1, 2, 3) or isinstance(c.get("split"), bool):
        _fail("split", c.get("split"), "the official splits are 1, 2 and 3")
    _at_least(c, "seed", 0)
    _at_least(c, "dataset.data_seed", 0, nullable=True)
    device = c.get("device")
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        _fail("device", device, "valid: auto, cpu, cuda, cuda:N")
    pretrained = c.get("pretrained")
    if pretrained is not None and (not isinstance(pretrained, str) or not pretrained.strip()):
        _fail("pretrained", pretrained, "must be the path of a checkpoint, or null")
    _one_of(c, "pretrained_format", PRETRAINED_FORMATS)
    if c.get("pretrained_format") != "ours" and pretrained is None:
        _fail("pretrained_format", c.get("pretrained_format"), "names the format of pretrained=PATH: give the path "
                                                              "too, or leave pretrained_format=ours")
    for key, valid in RECIPE_CHOICES.items():
        _one_of(c, f"recipe.{key}", valid)
    if c.get("control") == "untrained" and pretrained is not None:
        _fail("control", "untrained", "evaluates the untrained encoder: it cannot be combined with pretrained=")
    for key in ("paths.data", "paths.runs", "paths.cache", "paths.records"):
        if not isinstance(_get(c, key), str) or not _get(c, key).strip():
            _fail(key, _get(c, key), "must be a non-empty path")

    _at_least(c, "pretrain.epochs pretrain.batch_size eval.batch_size eval.clips_per_video", 1)
    _at_least(c, "pretrain.warmup_epochs pretrain.num_workers eval.num_workers", 0)
    _at_least(c, "pretrain.max_steps_per_epoch", 1, nullable=True)
    frac = _get(c, "pretrain.val_fraction")
    if not 0 <= frac < 1:
        _fail("pretrain.val_fraction", frac, "must be in [0, 1)")
    _one_of(c, "pretrain.on_missing", ("error", "skip"))
    _one_of(c, "pretrain.on_corrupt", ("error", "skip"))

    _at_least(c, "protocol.linear.epochs protocol.linear.batch_size protocol.linear.eval_every", 1)
    _at_least(c, "protocol.finetune.epochs protocol.finetune.batch_size protocol.finetune.val_clips", 1)
    _at_least(c, "protocol.finetune.clip_len protocol.retrieval.clip_len protocol.retrieval.chunk", 1)
    _at_least(c, "protocol.linear.lr protocol.finetune.lr protocol.finetune.warmup_epochs", 0)
    _at_least(c, "protocol.svm.max_iter", 1)
    for key in ("protocol.svm.C", "protocol.svm.tol"):
        v = _get(c, key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            _fail(key, v, "must be a number > 0")
    ks = _get(c, "protocol.retrieval.ks")
    if not ks or any(k < 1 for k in ks):
        _fail("protocol.retrieval.ks", ks, "must be a non-empty list of integers >= 1")
    _one_of(c, "protocol.retrieval.pool", ("max", "avg"))
    kernel = _get(c, "protocol.retrieval.kernel")
    if not isinstance(kernel, list) or len(kernel) != 3 or any(not isinstance(k, int) or k < 1 for k in kernel):
        _fail("protocol.retrieval.kernel", kernel, "must be 3 integers >= 1 (t, h, w), like [1, 2, 2]")

    resize, crop = _get(c, "input.resize"), _get(c, "input.crop")
    if len(resize) != 2 or min(resize) < 1 or not 1 <= crop <= min(resize):
        _fail("input", {"resize": resize, "crop": crop}, "resize is [height, width] and 1 <= crop <= min(resize)")
    for key in ("input.mean", "input.std"):
        if len(_get(c, key)) != 3:
            _fail(key, _get(c, key), "must hold 3 values (R, G, B)")
    if min(_get(c, "input.std")) <= 0:
        _fail("input.std", _get(c, "input.std"), "must be > 0")
    if _get(c, "input.flip") not in ("auto", True, False):
        _fail("input.flip", _get(c, "input.flip"), "valid: auto, true, false")
    _one_of(c, "input.colour_on", ("auto", "worker", "device"))

    method = c.get("method")
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        _fail("method", method, "must be a method config such as method=vcop")
    _at_least(c, "method.optim.lr method.optim.momentum method.optim.weight_decay", 0)
    if _get(c, "method.optim.name") is not None:
        _one_of(c, "method.optim.name", OPTIMIZERS)
    if not isinstance(_get(c, "backbone.name"), str):
        _fail("backbone", c.get("backbone"), "must be a backbone config such as backbone=r3d")
    if c.get("control") == "untrained":
        from methods.registry import get_method_class

        if not get_method_class(method["name"]).pretrains:
            _fail("control", "untrained", f"method={method['name']} does not pretrain: it is untrained already "
                                          "(control=none)")

    dataset = c.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("sets"), dict) or not dataset["sets"]:
        _fail("dataset", dataset, "must be a dataset config such as dataset=ucf101")
    sets = dataset["sets"]
    on = dataset.get("pretrain_on")
    if not isinstance(on, str) or on not in sets:
        _fail("dataset.pretrain_on", on, f"must name one of the sets: {', '.join(map(str, sets))}")
    eval_on = dataset.get("eval_on")
    if not isinstance(eval_on, list) or not eval_on or not all(isinstance(k, str) and k in sets for k in eval_on):
        _fail("dataset.eval_on", eval_on, f"must be a list of the sets: {', '.join(map(str, sets))}")
    for key, s in sets.items():
        if not isinstance(s, dict) or not all(isinstance(s.get(f), str) for f in ("label", "layout", "root")):
            _fail(f"dataset.sets.{key}", s, "must have label, layout and root strings")


__all__ = ["ConfigValueError", "PROTOCOLS", "STAGES", "check_overrides", "check_values"]
