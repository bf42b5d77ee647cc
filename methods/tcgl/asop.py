"""ASOP: adaptive snippet order prediction (SE-style channel recalibration + MLP over the K! orders)."""

from __future__ import annotations

import math

import torch
from torch import nn


class SEFusion(nn.Module):
    """For each of K nodes: ``s_k = sigmoid(W2_k ReLU(W1_k z))`` with ``z = concat(h_1..h_K)``; returns ``h_k * s_k``.

    ``W1_k: K*D -> K*D // reduction`` (1536 -> 256 for K=3, D=512, reduction 6) and ``W2_k: -> D``.
    """

    def __init__(self, num_nodes: int, dim: int, reduction: int = 6):
        super().__init__()
        hidden = max(1, num_nodes * dim // reduction)
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Linear(num_nodes * dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim), nn.Sigmoid()
            )
            for _ in range(num_nodes)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = h.flatten(1)
        scales = torch.stack([branch(z) for branch in self.branches], dim=1)  # loop over K nodes, not samples
        return h * scales


class ASOPHead(nn.Module):
    """SE fusion, then concat -> FC(K*D -> hidden) -> ReLU -> Dropout -> FC(hidden -> K!)."""

    def __init__(self, num_nodes: int, dim: int, hidden: int = 512, dropout: float = 0.5, reduction: int = 6):
        super().__init__()
        self.fusion = SEFusion(num_nodes, dim, reduction)
        self.classifier = nn.Sequential(
            nn.Linear(num_nodes * dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, math.factorial(num_nodes)),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``h [B, K, D]`` node features in input-position order -> order logits ``[B, K!]``."""
        return self.classifier(self.fusion(h).flatten(1))
