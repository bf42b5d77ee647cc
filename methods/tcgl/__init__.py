"""TCGL: temporal contrastive graph learning (faithful to the released code, with leak-free defaults)."""

from methods.tcgl.method import TCGL

__all__ = ["TCGL"]
