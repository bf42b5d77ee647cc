"""Name -> method class registry; ``method=<name>`` in Hydra selects ``build_method(<name>, ...)``.

Every module of the ``methods`` package is imported on first use, so a new method only needs its own file (with
``@register('<name>')``) and its config ``protocols/conf/method/<name>.yaml``.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Mapping

from methods.backbones import Backbone, build_backbone
from methods.base import PretextMethod

_REGISTRY: dict[str, type[PretextMethod]] = {}
_discovered = False


def register(name: str):
    """Class decorator: register a :class:`PretextMethod` subclass under ``name``."""

    def deco(cls: type[PretextMethod]) -> type[PretextMethod]:
        if not (isinstance(cls, type) and issubclass(cls, PretextMethod)):
            raise TypeError(f"@register({name!r}) needs a PretextMethod subclass, got {cls!r}")
        other = _REGISTRY.get(name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise ValueError(f"method name {name!r} already registered by {other.__module__}.{other.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    package_dir = Path(__file__).resolve().parent
    for mod in pkgutil.iter_modules([str(package_dir)]):
        if not mod.name.startswith("_"):
            importlib.import_module(f"methods.{mod.name}")
    _discovered = True


def available_methods() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get_method_class(name: str) -> type[PretextMethod]:
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid names: {', '.join(sorted(_REGISTRY))}") from None


def build_method(
    name: str,
    backbone: Backbone | str | Mapping[str, Any],
    num_classes: int | None = None,
    **params: Any,
) -> PretextMethod:
    """Build method ``name`` around ``backbone``.

    ``backbone`` is a :class:`Backbone`, a backbone name, or a mapping ``{'name': ..., **kwargs}`` for
    :func:`build_backbone`. ``num_classes`` (video classes of the pretraining split) is used by ``supervised`` and
    ignored by the others; ``params`` are the method's constructor keyword arguments (the config's ``params``).
    """
    cls = get_method_class(name)
    if isinstance(backbone, str):
        backbone = build_backbone(backbone)
    elif isinstance(backbone, Mapping):
        kw = dict(backbone)
        backbone = build_backbone(kw.pop("name"), **kw)
    return cls(backbone, num_classes=num_classes, **params)
