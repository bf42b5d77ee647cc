"""Pretext methods for video self-supervised learning, their backbones and losses.

``build_method(name, backbone, num_classes, **params)`` builds a registered method; ``build_backbone(name, **kw)``
builds an encoder. See ``methods/tcgl/README.md`` for TCGL's faithful-vs-fixed switches.
"""

from methods.backbones import Backbone, available_backbones, build_backbone
from methods.base import Augmentation, MethodOutput, PretextMethod
from methods.registry import available_methods, build_method, get_method_class, register

__all__ = [
    "Augmentation",
    "Backbone",
    "MethodOutput",
    "PretextMethod",
    "available_backbones",
    "available_methods",
    "build_backbone",
    "build_method",
    "get_method_class",
    "register",
]
