"""Small classifier heads shared by the order-based methods."""

from __future__ import annotations

import itertools

import torch
from torch import nn


class PairwiseOrderHead(nn.Module):
    """VCOP / OPN head: for every pair i < j, ``ReLU(fc(concat(f_i, f_j)))`` with one fc shared by all pairs
    (2D -> hidden), then concat over pairs -> Dropout -> Linear -> ``num_classes``.
    """

    def __init__(self, num_items: int, feat_dim: int, num_classes: int, hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        pairs = list(itertools.combinations(range(num_items), 2))
        self.register_buffer("pair_i", torch.tensor([p[0] for p in pairs]), persistent=False)
        self.register_buffer("pair_j", torch.tensor([p[1] for p in pairs]), persistent=False)
        self.pair_fc = nn.Linear(2 * feat_dim, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(len(pairs) * hidden, num_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats [B, K, D]`` in input-position order -> logits ``[B, num_classes]``."""
        pair_in = torch.cat([feats[:, self.pair_i], feats[:, self.pair_j]], dim=-1)  # [B, P, 2D]
        pair_out = self.relu(self.pair_fc(pair_in))
        return self.classifier(self.dropout(pair_out.flatten(1)))


class ConcatMLPHead(nn.Module):
    """Concat of K item features -> (Linear -> ReLU -> Dropout ->) Linear; ``hidden=0`` gives a single Linear."""

    def __init__(self, num_items: int, feat_dim: int, num_classes: int, hidden: int = 512, dropout: float = 0.5):
        super().__init__()
        d_in = num_items * feat_dim
        if hidden > 0:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(d_in, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
            )
        else:
            self.net = nn.Linear(d_in, num_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats.flatten(1))
