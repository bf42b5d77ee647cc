"""Checks of a run configuration before anything runs: the ranges and rules its types cannot say.

Types come from the schema (experiment/config.py): OmegaConf refuses ``seed=abc``, ``split=1.5``,
``protocols=linear`` or ``pretrain=3`` as Hydra applies the override. What is left here: the ranges
(``pretrain.epochs=-1``, ``split=7``), the choices (``stage=bogus``, ``recipe.init=xavier``, the registered
protocols), the rules across keys (``pretrained_format=vcop`` needs ``pretrained=``, ``crop <= min(resize)``, the
dataset's ``pretrain_on``/``eval_on`` name its sets), values that are missing (``dataset.root=???``) or removed
(``~seed``), non-finite numbers (``nan``, ``inf``), and the elements of the lists of numbers the schema leaves
untyped (experiment.config.Numbers: ``input.mean``, ``input.std``, ``input.jitter``, the linear probe's
``weight_decays``).

The errors a malformed command line can give, and nothing else (fuzzed in tests/reliability/test_fuzz_overrides.py):

- ``hydra.errors.HydraException`` (OverrideParseException, ConfigCompositionException, MissingConfigException):
  the override cannot be parsed, names an unknown key or an unknown option of a config group, or (when composed
  without :func:`check_overrides` first) gives a value of the wrong type;
- ``omegaconf.errors.OmegaConfBaseException`` (e.g. InterpolationResolutionError): a value does not resolve;
- :class:`ConfigValueError` (a ``ValueError``): a value has the wrong type or is out of range; the message names
  the key, the value given and what is valid, in one line;
- :class:`ConfigValueError` from :func:`check_overrides`, which protocols/run.py calls on its command line before
  Hydra composes: a config-group override whose value is not a name (``dataset=5``, ``backbone=[[1]]``: Hydra itself
  fails on those with a ``ValueError`` or a ``TypeError`` from deep inside) or names no option of the group
  (``method=tcgll``), a value of the wrong type for the schema (``split=1.5``), or a key the config does not have
  (``method.optim.lrr=1``), each with what is valid: Hydra would report the last three in several lines.

Keys added with ``+key=`` are not checked (the run does not read them).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Union

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from datasets.splits import LAYOUTS, NEVER_MIRROR, SINGLE_SPLIT
from experiment.config import RootConfig
from protocols.registry import available_protocols
from runtime.engine import OPTIMIZERS  # method.optim.name: make_optimizer builds them

CONF = Path(__file__).resolve().parents[1] / "protocols" / "conf"
STAGES = ("pretrain", "features", "eval", "all")  # experiment/app.py uses these
CONTROLS = ("none", "untrained")
PRETRAINED_FORMATS = ("ours", "vcop", "tcgl")  # methods/official_weights.py maps vcop / tcgl
RECIPE_CHOICES = {  # protocols/conf/recipe/suite.yaml explains each
    "optimizer": ("suite", "released"),
    "init": ("kaiming", "pytorch"),
    "short_videos": ("pad", "exclude"),
    "backbone_calls": ("batched", "per_position"),
    "input_scale": ("normalised", "unit"),
    "method_settings": ("suite", "released"),
    "finetune": ("suite", "released"),
    "eval_precision": ("auto", "fp32"),
    "test_clip_starts": ("round", "floor"),
    "centre_crop": ("floor", "round"),
}
GROUPS = ("method", "backbone", "dataset", "recipe")  # config groups the root schema requires (RootConfig)
# ranges of each protocol's section, checked when the protocol is registered: key -> (lowest value, exclusive)
PROTOCOL_RANGES = {
    "linear": {"epochs": (1, False), "batch_size": (1, False), "eval_every": (1, False), "lr": (0, False)},
    "finetune": {
        "epochs": (1, False),
        "batch_size": (1, False),
        "val_clips": (1, False),
        "clip_len": (1, False),
        "lr": (0, False),
        "warmup_epochs": (0, False),
    },
    "retrieval": {"clip_len": (1, False), "chunk": (1, False)},
    "svm": {"max_iter": (1, False), "C": (0, True), "tol": (0, True)},
}


def __getattr__(name: str) -> Any:
    if name == "PROTOCOLS":  # the protocols registered now (protocols/registry.py), never a copy that can go stale
        return tuple(available_protocols())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ConfigValueError(ValueError):
    """A configuration value has the wrong type or is out of range (the message says which key and what is valid)."""


def _fail(key: str, value: Any, want: str) -> None:
    shown = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:77] + "...")
    raise ConfigValueError(f"{key}={shown}: {want}")


# ------------------------------------------------------------------------------------------------ the schema's types
_NAMES = {
    bool: ("a bool (true/false)", "bools"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
}


def _describe(hint: Any, plural: bool = False) -> str:
    """``int | None`` -> 'an integer or null', ``list[Number]`` -> 'a list of numbers', a dataclass -> 'a
    section'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        text = _NAMES[float][plural] if set(rest) == {int, float} else " or ".join(_describe(a, plural) for a in rest)
        return text + (" or null" if len(rest) < len(args) else "")  # experiment.config.Number: 'a number'
    if hint in _NAMES:
        return _NAMES[hint][plural]
    if origin is list:
        typed = bool(args) and args[0] is not Any
        return "lists" if plural else f"a list of {_describe(args[0], True)}" if typed else "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "sections" if plural else "a section (key: value, ...)"
    return "values" if plural else "a value"


def _hint(cfg: DictConfig, key: str) -> Any:
    """The schema's type annotation of ``key`` in ``cfg`` (None where no dataclass types it)."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, throw_on_missing=False) if parent else cfg
    schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    if not (dataclasses.is_dataclass(schema) and leaf in {f.name for f in dataclasses.fields(schema)}):
        return None
    return typing.get_type_hints(schema)[leaf]


def _wrong_type(key: str, value: Any, cfg: DictConfig | None, detail: str) -> ConfigValueError:
    """One line for a value the schema refuses: the key, the value, the type wanted and the default."""
    hint = _hint(cfg, key) if cfg is not None else None
    if hint is None:
        return ConfigValueError(f"{key}={value!r}: {detail}")
    default = OmegaConf.select(cfg, key, throw_on_missing=False)
    if isinstance(default, ListConfig):
        default = OmegaConf.to_container(default)
    shown = repr(default) if default is not None and not isinstance(default, DictConfig) else ""
    like = f", like the default {shown}" if shown and len(shown) < 60 else ""
    return ConfigValueError(f"{key}={value!r}: must be {_describe(hint)}{like}")


# --------------------------------------------------------------------------------------------- the command line
def _groups() -> set[str]:
    return {str(d.relative_to(CONF)) for d in CONF.rglob("*") if d.is_dir()}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


_OTHER_CONFIG = ("-cp", "-cn", "-cd", "--config-path", "--config-name", "--config-dir")


def check_overrides(overrides: list[str]) -> None:
    """Check a command line before Hydra composes it, and raise :class:`ConfigValueError`, in one line, for

    - a config-group override whose value is not a name or a list of names (``dataset=5``, ``backbone=[[1]]``,
      ``~backbone=0``): Hydra 1.3 fails on those deep inside (a ``ValueError``, or a ``TypeError`` for a nested
      list); or a name with no file in the group (``method=tcgll``), listing the valid ones;
    - a value of the wrong type for the schema (``split=1.5``, ``seed=abc``, ``input.crop=[1]``), or a key that is
      not in the config (``method.optim.lrr=1``), listing the valid keys: composing the command line (without its
      sweeps and ``hydra.*`` overrides) finds those; Hydra would report them in several lines.

    Anything else that does not parse or compose is left to Hydra, which reports it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    lines = [o for o in overrides if "=" in o or o.startswith("~")]
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
    except OverrideParseException:
        return
    groups = _groups()
    for o in parsed:
        if o.key_or_group not in groups or o.is_sweep_override():
            continue
        value = o.value()
        if value is None and o.is_delete():
            continue
        key, options = o.input_line.split("=", 1)[0], _options(o.key_or_group)
        if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            _fail(key, value, f"{o.key_or_group} is a config group: give one of {', '.join(options)}")
        if (
            isinstance(value, str)
            and not o.is_delete()
            and not o.key_or_group.startswith("hydra")
            and (value not in options)
        ):
            _fail(key, value, f"no such option of the config group {o.key_or_group}; valid: {', '.join(options)}")
    if any(a.split("=", 1)[0] in _OTHER_CONFIG for a in overrides):
        return  # another config than protocols/conf/config.yaml: Hydra checks it as it composes
    _check_composes([o for o in parsed if not o.is_sweep_override() and not o.key_or_group.startswith("hydra")])


def _check_composes(parsed: list) -> None:
    from hydra.errors import ConfigCompositionException, HydraException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from experiment.compose import compose

    def schema() -> DictConfig | None:
        """The config as the chosen config groups make it, without the values given (for the message)."""
        try:
            return compose([o.input_line for o in parsed if o.key_or_group in _groups()])
        except (HydraException, OmegaConfBaseException, ValueError, TypeError):
            return None

    try:
        compose([o.input_line for o in parsed])
    except ConfigCompositionException as e:
        cause = e.__cause__
        if isinstance(cause, ValidationError):
            bad = next((o for o in parsed if str(e).endswith(f" {o.input_line}")), None)
            if bad is not None:
                raise _wrong_type(bad.key_or_group, bad.value(), schema(), str(cause).splitlines()[0]) from None
        elif isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
            bad = next((o for o in parsed if f"Could not override '{o.key_or_group}'" in str(e)), None)
            error = _unknown_key(bad.input_line, bad.key_or_group, schema()) if bad is not None else None
            if error is not None:
                raise error from None
    except (HydraException, OmegaConfBaseException, ValueError, TypeError):  # Hydra reports these itself
        return


def _unknown_key(line: str, key: str, cfg: DictConfig | None) -> ConfigValueError | None:
    """``method.optim.lrr=1: method.optim has no key 'lrr'; valid: name, lr, momentum, weight_decay``."""
    parts, node = key.split("."), cfg
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            return None  # not a section (seed.x=1): Hydra's message says so
        keys = [str(k) for k in node]
        if part not in keys:
            where = ".".join(parts[:i]) or "the config"
            valid = f"; valid: {', '.join(keys)}" if keys else f" ({where} is empty)"
            return ConfigValueError(f"{line}: {where} has no key {part!r}{valid}")
        node = OmegaConf.select(node, part, throw_on_missing=False)
    return None


# ----------------------------------------------------------------------------------------- the composed config
def _get(c: dict, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(c, dict) or part not in c:
            return None
        c = c[part]
    return c


def _at_least(c: dict, keys: str, low: float, nullable: bool = False, exclusive: bool = False) -> None:
    for key in keys.split():
        v = _get(c, key)
        if v is None and nullable:
            continue
        if (
            not isinstance(v, (int, float))
            or isinstance(v, bool)
            or not math.isfinite(v)
            or v < low
            or (exclusive and v == low)
        ):
            _fail(key, v, f"must be a number {'>' if exclusive else '>='} {low}" + (" or null" if nullable else ""))


def _numbers(c: dict, key: str, count: int | None = None) -> list:
    """A list of numbers (experiment.config.Numbers: a list the schema cannot type element by element)."""
    v = _get(c, key)
    if (
        not isinstance(v, list)
        or any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in v)
        or (count is not None and len(v) != count)
    ):
        _fail(key, v, f"must be a list of {count or ''}{' ' if count else ''}numbers")
    return v


def _one_of(c: dict, key: str, valid: tuple) -> None:
    v = _get(c, key)
    if not isinstance(v, str) or v not in valid:
        _fail(key, v, f"valid: {', '.join(valid)}")


def _missing(node: DictConfig, prefix: str, k: str) -> ConfigValueError:
    key = f"{prefix}{k}"
    group = key if not prefix and k in GROUPS else prefix[:-1] if k == "name" and prefix[:-1] in GROUPS else None
    if group is not None:  # ~method: the group's file is gone, its schema's values are mandatory
        return ConfigValueError(
            f"{group} is required (was it removed with ~{group}?): choose one with "
            f"{group}=NAME, one of {', '.join(_options(group))}"
        )
    if prefix == "dataset.":  # the dataset's location
        return ConfigValueError(
            f"{key} is required for dataset={node.get('name', '?')}: pass {key}=/path/to/the/dataset"
        )
    return ConfigValueError(f"{key} is required: give {key}=VALUE")


def _required(node: DictConfig, schema: Any, prefix: str) -> None:
    """Every key of the schema is there (``~seed`` removes one) and has a value (``???`` is mandatory)."""
    for k in node:
        if OmegaConf.is_missing(node, k):
            raise _missing(node, prefix, str(k))
    keys = set(node.keys())  # with the ??? ones, which `in` leaves out
    for f in dataclasses.fields(schema) if dataclasses.is_dataclass(schema) else ():
        if f.name != "defaults" and f.name not in keys:
            raise ConfigValueError(f"{prefix}{f.name} is required (was it removed with ~{prefix}{f.name}?)")
    for k in node:
        child = None if OmegaConf.is_interpolation(node, k) else node[k]
        if isinstance(child, DictConfig):
            _required(child, OmegaConf.get_type(child), f"{prefix}{k}.")


def _finite(value: Any, key: str) -> None:
    """No ``nan`` or ``inf`` anywhere (the schema's numbers take them)."""
    if isinstance(value, float) and not math.isfinite(value):
        _fail(key, value, "must be a finite number")
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        _finite(v, f"{key}[{k}]" if isinstance(value, list) else f"{key}.{k}" if key else str(k))


def check_values(cfg: DictConfig) -> None:
    """Raise :class:`ConfigValueError` for the first value of ``cfg`` the run cannot use (see the module doc).
    Interpolations are resolved here, so one that does not resolve raises OmegaConf's error, naming it."""
    if not isinstance(cfg, DictConfig):
        raise ConfigValueError(f"the configuration must be a composed config (DictConfig), got {type(cfg).__name__}")
    schema = OmegaConf.get_type(cfg)
    _required(cfg, schema if dataclasses.is_dataclass(schema) else RootConfig, "")
    try:
        c = OmegaConf.to_container(cfg, resolve=True)
    except ValidationError as e:  # an interpolation whose value has the wrong type (seed=${paths.data})
        raise ConfigValueError(f"{e.full_key}: {str(e).splitlines()[0]}") from None
    _finite(c, "")

    _one_of(c, "stage", STAGES)
    _one_of(c, "control", CONTROLS)
    registered = available_protocols()
    bad = [p for p in c["protocols"] if p not in registered]
    if bad:
        _fail("protocols", c["protocols"], f"unknown protocol(s) {bad}; valid: {', '.join(registered)}")
    if c["split"] not in (1, 2, 3):
        _fail("split", c["split"], "the official splits are 1, 2 and 3")
    _at_least(c, "seed", 0)
    _at_least(c, "dataset.data_seed", 0, nullable=True)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", c["device"]):
        _fail("device", c["device"], "valid: auto, cpu, cuda, cuda:N")
    pretrained = c["pretrained"]
    if pretrained is not None and not pretrained.strip():
        _fail("pretrained", pretrained, "must be the path of a checkpoint, or null")
    _one_of(c, "pretrained_format", PRETRAINED_FORMATS)
    if c["pretrained_format"] != "ours" and pretrained is None:
        _fail(
            "pretrained_format",
            c["pretrained_format"],
            "names the format of pretrained=PATH: give the path too, or leave pretrained_format=ours",
        )
    for key, valid in RECIPE_CHOICES.items():
        _one_of(c, f"recipe.{key}", valid)
    if c["control"] == "untrained" and pretrained is not None:
        _fail("control", "untrained", "evaluates the untrained encoder: it cannot be combined with pretrained=")
    for key in ("paths.data", "paths.runs", "paths.cache", "paths.records"):
        if not _get(c, key).strip():
            _fail(key, _get(c, key), "must be a non-empty path")

    _at_least(c, "pretrain.epochs pretrain.batch_size eval.batch_size eval.clips_per_video", 1)
    _at_least(c, "pretrain.warmup_epochs pretrain.num_workers eval.num_workers", 0)
    _at_least(c, "pretrain.max_steps_per_epoch", 1, nullable=True)
    frac = _get(c, "pretrain.val_fraction")
    if not 0 <= frac < 1:
        _fail("pretrain.val_fraction", frac, "must be in [0, 1)")
    _one_of(c, "pretrain.on_missing", ("error", "skip"))
    _one_of(c, "pretrain.on_corrupt", ("error", "skip"))

    for name in registered:
        for key, (low, exclusive) in PROTOCOL_RANGES.get(name, {}).items():
            _at_least(c, f"protocol.{name}.{key}", low, exclusive=exclusive)
    if "linear" in registered:
        _numbers(c, "protocol.linear.weight_decays")
    if "retrieval" in registered:
        ks = _get(c, "protocol.retrieval.ks")
        if not ks or any(k < 1 for k in ks):
            _fail("protocol.retrieval.ks", ks, "must be a non-empty list of integers >= 1")
        _one_of(c, "protocol.retrieval.pool", ("max", "avg"))
        kernel = _get(c, "protocol.retrieval.kernel")
        if len(kernel) != 3 or any(k < 1 for k in kernel):
            _fail("protocol.retrieval.kernel", kernel, "must be 3 integers >= 1 (t, h, w), like [1, 2, 2]")

    resize, crop = _get(c, "input.resize"), _get(c, "input.crop")
    if len(resize) != 2 or min(resize) < 1 or not 1 <= crop <= min(resize):
        _fail("input", {"resize": resize, "crop": crop}, "resize is [height, width] and 1 <= crop <= min(resize)")
    _numbers(c, "input.mean", 3)  # R, G, B
    if min(_numbers(c, "input.std", 3)) <= 0:
        _fail("input.std", _get(c, "input.std"), "must be > 0")
    _numbers(c, "input.jitter")
    if _get(c, "input.flip") not in ("auto", True, False):
        _fail("input.flip", _get(c, "input.flip"), "valid: auto, true, false")
    _one_of(c, "input.colour_on", ("auto", "worker", "device"))

    _at_least(c, "method.optim.lr method.optim.momentum method.optim.weight_decay", 0)
    _one_of(c, "method.optim.name", OPTIMIZERS)
    if c["control"] == "untrained":
        from methods.registry import get_method_class

        name = c["method"]["name"]
        if not get_method_class(name).pretrains:
            _fail("control", "untrained", f"method={name} does not pretrain: it is untrained already (control=none)")

    dataset = c["dataset"]
    sets = dataset["sets"]
    if not sets:
        _fail("dataset.sets", sets, "must define at least one set")
    if dataset["pretrain_on"] not in sets:
        _fail("dataset.pretrain_on", dataset["pretrain_on"], f"must name one of the sets: {', '.join(sets)}")
    eval_on = dataset["eval_on"]
    if not eval_on or not all(k in sets for k in eval_on):
        _fail("dataset.eval_on", eval_on, f"must be a list of the sets: {', '.join(sets)}")
    _check_sets(c, dataset, sets, eval_on)


def _check_sets(c: dict, dataset: dict, sets: dict, eval_on: list) -> None:
    """The sets a run uses: a known layout and a location; one-split layouts evaluated only on split 1; no explicit
    mirroring of SSv2; ``max_skipped`` a fraction."""
    for key in dict.fromkeys([dataset["pretrain_on"], *eval_on]):
        s = sets[key]
        if s["layout"] not in LAYOUTS:
            _fail(f"dataset.sets.{key}.layout", s["layout"], f"valid: {', '.join(LAYOUTS)}")
        if not s["root"] and not (s.get("video_dir") and s.get("split_dir")):
            where = f"dataset.{'k400' if s['layout'] == 'kinetics400' else key}_root"
            raise ConfigValueError(
                f"the {key} set has no location for dataset={dataset['name']}: pass {where}=/path/to/it (or "
                f"dataset.sets.{key}.root=...), or leave {key} out of dataset.eval_on"
            )
        if s.get("max_skipped") is not None and not 0 <= s["max_skipped"] <= 1:
            _fail(f"dataset.sets.{key}.max_skipped", s["max_skipped"], "must be a fraction in [0, 1]")
        if key in eval_on and s["layout"] in SINGLE_SPLIT and c["split"] != 1:
            _fail(
                "split",
                c["split"],
                f"{key} ({s['layout']}) has one official split (train / validation) and is evaluated with split=1; "
                f"use split=1 or leave {key} out of dataset.eval_on",
            )
        if s["layout"] in NEVER_MIRROR and c["input"]["flip"] is True:
            _fail(
                "input.flip",
                True,
                f"the {key} set is Something-Something V2, whose classes name left and right (a mirror turns "
                "'from left to right' into 'from right to left'); use input.flip=auto, which never mirrors it",
            )


__all__ = ["STAGES", "ConfigValueError", "check_overrides", "check_values"]  # and PROTOCOLS (__getattr__)
