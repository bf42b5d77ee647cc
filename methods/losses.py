"""Pure loss and accuracy functions (no parameters, no state), unit-testable on their own."""
from __future__ import annotations

import torch
import torch.nn.functional as F

NEGATIVES = ("graph", "batch")


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``logits [N, C]`` against ``labels [N]`` (order, speed, verification or class)."""
    return F.cross_entropy(logits, labels)


def top1_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max is the label, as a detached float scalar."""
    return (logits.detach().argmax(-1) == labels).float().mean()


def grace_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    tau: float = 0.5,
    negatives: str = "graph",
    reduction: str = "mean",
) -> torch.Tensor:
    """GRACE node-level InfoNCE between two views of G graphs with N nodes each: ``z1, z2 [G, N, d]``.

    Node i of view 1 is the anchor, node i of view 2 its positive; the negatives are every other node in both views
    (intra-view and inter-view), with cosine similarity scaled by ``1/tau``. The loss is symmetric (view 2 anchors
    too, the two directions are averaged).

    ``negatives='graph'`` draws negatives only from the same graph (2N-2 of them; the released TCGL code).
    ``negatives='batch'`` pools the nodes of all G graphs (2GN-2 negatives, cross-video).

    For unrelated random features the loss is about ``log(2M - 1)``, M = nodes per pool. ``reduction='none'``
    returns the per-node loss ``[G, N]``.
    """
    if z1.shape != z2.shape or z1.dim() != 3:
        raise ValueError(f"z1 and z2 must both be [G, N, d]; got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")
    g, n, d = z1.shape
    a, b = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    if negatives == "batch":
        a, b = a.reshape(1, g * n, d), b.reshape(1, g * n, d)
    loss = 0.5 * (_info_nce_one_side(a, b, tau) + _info_nce_one_side(b, a, tau))
    loss = loss.reshape(g, n)
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _info_nce_one_side(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """-log(e^{s(a_i,b_i)/tau} / sum_{k != i} [e^{s(a_i,a_k)/tau}] + sum_k e^{s(a_i,b_k)/tau}) over ``[P, M, d]``."""
    m = a.shape[1]
    between = a @ b.transpose(-1, -2) / tau  # [P, M, M]
    within = a @ a.transpose(-1, -2) / tau
    self_mask = torch.eye(m, dtype=torch.bool, device=a.device)
    within = within.masked_fill(self_mask, float("-inf"))
    log_denominator = torch.logsumexp(torch.cat([between, within], dim=-1), dim=-1)
    return log_denominator - between.diagonal(dim1=-2, dim2=-1)


def weighted_sum(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """``sum_k weights[k] * terms[k]`` (TCGL's total loss); every term needs a weight."""
    missing = set(terms) - set(weights)
    if missing:
        raise KeyError(f"no weight for loss terms {sorted(missing)}")
    return sum(float(weights[k]) * v for k, v in terms.items())  # type: ignore[return-value]
