"""Dense, batched graph pieces for TCGL: adjacencies, GRACE-style augmentations and a GCNConv-equivalent layer.

Adjacency convention: ``A[b, i, j] = 1`` means a directed edge j -> i (node i aggregates node j), as in PyTorch
Geometric's message passing. No self-loops in ``A``; :func:`normalize_adjacency` adds them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from methods.ordering import sample_uniform


def chain_adjacency(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Undirected chain 0-1-...-(n-1) (both directions), ``[n, n]``."""
    idx = torch.arange(n, device=device)
    return ((idx.unsqueeze(0) - idx.unsqueeze(1)).abs() == 1).float()


def full_adjacency(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Every pair of distinct nodes joined, ``[n, n]``."""
    return 1.0 - torch.eye(n, device=device)


def temporal_adjacency(perms: torch.Tensor) -> torch.Tensor:
    """Per-sample graph over input positions: p and q joined when their clips are temporally adjacent.

    ``perms [B, K]`` (``perms[b, p]`` = temporal index of the clip at position p) -> ``[B, K, K]``. This is the
    released inter-snippet graph; used for ASOP it leaks the order (the degree-2 node is the middle clip).
    """
    diff = perms.unsqueeze(-1) - perms.unsqueeze(-2)
    return (diff.abs() == 1).float()


def normalize_adjacency(adj: torch.Tensor) -> torch.Tensor:
    """PyG ``GCNConv`` normalisation: ``D^-1/2 (A + I) D^-1/2`` with D the in-degree including the self-loop.

    ``adj [..., N, N]``; entry [i, j] of the result weights the message j -> i by ``d_i^-1/2 d_j^-1/2``. For an
    asymmetric ``A`` (directed edge dropping) the result is asymmetric too.
    """
    n = adj.shape[-1]
    a_hat = adj + torch.eye(n, device=adj.device, dtype=adj.dtype)
    deg_inv_sqrt = a_hat.sum(-1).rsqrt()
    return deg_inv_sqrt.unsqueeze(-1) * a_hat * deg_inv_sqrt.unsqueeze(-2)


def drop_edges(
    adj: torch.Tensor, p: float, shared: bool = False, seeds: torch.Tensor | None = None, stream: int = 0
) -> torch.Tensor:
    """Drop each directed edge of ``adj [B, N, N]`` independently with probability ``p``.

    ``shared=True`` draws one mask for the whole batch (the released intra-graph behaviour) from torch's global
    RNG: it depends on which samples share the batch, and in a multi-process run on the rank (as under the released
    code's DataParallel, whose "shared" mask is per replica). Otherwise one mask per sample: with ``seeds [B]``
    (``batch["sample_seed"]``) sample b's mask is a function of ``(seeds[b], stream)`` alone
    (:func:`methods.ordering.sample_uniform`), the same whatever the batch or the number of ranks; without seeds it
    comes from the global RNG. Self-loops are not in ``adj`` and are never dropped.
    """
    if p <= 0.0:
        return adj
    if seeds is not None and not shared:
        keep = sample_uniform(seeds.to(adj.device), stream, tuple(adj.shape[1:])) >= p
    else:
        shape = (1,) + tuple(adj.shape[1:]) if shared else tuple(adj.shape)
        keep = torch.rand(shape, device=adj.device) >= p
    return adj * keep.to(adj.dtype)


def mask_features(x: torch.Tensor, p: float, seeds: torch.Tensor | None = None, stream: int = 0) -> torch.Tensor:
    """Zero each feature dimension with probability ``p`` (no rescaling), one mask per graph shared by its nodes.

    ``x [B, N, D]``; the mask has shape ``[B, 1, D]``. With ``seeds [B]`` graph b's mask is a function of
    ``(seeds[b], stream)`` alone (as in :func:`drop_edges`); without, it comes from torch's global RNG.
    """
    if p <= 0.0:
        return x
    if seeds is not None:
        keep = sample_uniform(seeds.to(x.device), stream, (1, x.shape[-1])) >= p
    else:
        keep = torch.rand(x.shape[0], 1, x.shape[-1], device=x.device) >= p
    return x * keep.to(x.dtype)


class DenseGCNConv(nn.Module):
    """One GCN layer ``H = A_norm (X W) + b`` over a batch of small dense graphs (equivalent to PyG ``GCNConv``).

    ``forward(x [B, N, F_in], a_norm [B or 1, N, N]) -> [B, N, F_out]``; glorot weight, zero bias, no nonlinearity.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        bound = math.sqrt(6.0 / (in_dim + out_dim))
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor, a_norm: torch.Tensor) -> torch.Tensor:
        return a_norm @ (x @ self.weight) + self.bias
