"""Name -> method class registry; ``method=<name>`` in Hydra selects ``build_method(<name>, ...)``.

Every module of the ``methods`` package is imported on first use (runtime.registry.Registry, the style shared with
backbones and protocols), so a new method only needs its own file (with ``@register('<name>')``) and its config
``protocols/conf/method/<name>.yaml``.
"""

from __future__ import annotations

from typing import Any, Mapping

from methods.backbones import Backbone, build_backbone
from methods.base import PretextMethod
from runtime.registry import Registry


def _check(name: str, cls) -> None:
    if not (isinstance(cls, type) and issubclass(cls, PretextMethod)):
        raise TypeError(f"@register({name!r}) needs a PretextMethod subclass, got {cls!r}")


METHODS: Registry[type[PretextMethod]] = Registry("method", "methods", check=_check, set_name=True)
register = METHODS.register  # class decorator: ``@register("vcop")``


def available_methods() -> list[str]:
    return METHODS.names()


def get_method_class(name: str) -> type[PretextMethod]:
    return METHODS.get(name)


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
