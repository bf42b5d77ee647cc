"""Pure loss and accuracy functions (no parameters, no state), unit-testable on their own. In the training steps of a
multi-process run, ``grace_loss(..., gather=True)`` all-gathers its negatives over the ranks (:class:`GatherNodes`)."""

from __future__ import annotations

import torch
import torch.distributed as dist
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
    gather: bool = False,
) -> torch.Tensor:
    """GRACE node-level InfoNCE between two views of G graphs with N nodes each: ``z1, z2 [G, N, d]``.

    Node i of view 1 is the anchor, node i of view 2 its positive; the negatives are every other node in both views
    (intra-view and inter-view), with cosine similarity scaled by ``1/tau``. The loss is symmetric (view 2 anchors
    too, the two directions are averaged).

    ``negatives='graph'`` draws negatives only from the same graph (2N-2 of them; the released TCGL code).
    ``negatives='batch'`` pools the nodes of all G graphs (2GN-2 negatives, cross-video).

    ``gather=True`` (training steps of a multi-process run; ignored with one process, where nothing here calls
    torch.distributed, and with ``negatives='graph'``, which is per graph): the ``batch`` pool is the nodes of the
    whole global batch, every rank's ``[G_r, N, d]`` gathered by :class:`GatherNodes`, so the loss does not depend
    on how the batch is split across ranks. Every rank must then call it in the same step (it is a collective). The
    value is the mean over this rank's own anchors only (``distributed.step_weight`` makes the global mean of it);
    see :class:`GatherNodes` for why the gradients are then exactly the single-process ones. A rank whose batch only
    stands in (``runtime.distributed.stand_in_step``) adds nothing to the pool: its anchors are compared against
    the others' nodes and its own.

    For unrelated random features the loss is about ``log(2M - 1)``, M = nodes per pool. ``reduction='none'``
    returns the per-node loss ``[G, N]`` (of this rank's graphs).
    """
    if z1.shape != z2.shape or z1.dim() != 3:
        raise ValueError(f"z1 and z2 must both be [G, N, d]; got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    g, n, d = z1.shape
    a, b = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    if negatives == "batch" and gather and _world_size() > 1:
        loss = _gathered_batch_loss(a, b, tau)
        # no local anchor (possible only outside the training loop, which gives an empty rank a stand-in): 0, still
        # connected to the gathered pool, so that this rank too takes part in the backward all-reduce
        return loss if reduction == "none" else (loss.mean() if loss.numel() else loss.sum())
    if negatives == "batch":
        a, b = a.reshape(1, g * n, d), b.reshape(1, g * n, d)
    loss = 0.5 * (_info_nce_one_side(a, b, tau) + _info_nce_one_side(b, a, tau))
    loss = loss.reshape(g, n)
    return loss if reduction == "none" else loss.mean()


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _standing_in() -> bool:
    """Whether this rank's batch only stands in this step (it then adds nothing to the global batch)."""
    from runtime import distributed  # the flag lives with the training loop's other multi-process plumbing

    return distributed.standing_in()


class GatherNodes(torch.autograd.Function):
    """All-gather of every rank's ``[G_r, *rest]`` tensor into the global ``[sum_r G_r, *rest]`` (rank order, which
    is the global batch's sample order: ``engine.EpochLoader`` gives rank r a contiguous share), for shares of any
    sizes, 0 included: the sizes are gathered first, each share padded to the largest, gathered, and unpadded.
    ``apply(x, sizes, contribute)``: ``sizes`` from :func:`gather_sizes`; ``contribute=False`` adds nothing
    (a stand-in batch) and gets a zero gradient.

    Backward: the gradient w.r.t. the gathered tensor is summed over the ranks (all-reduce), and this rank's slice
    of it is returned. Why a sum gives exactly the single-process gradient: rank r holds n_r of the step's n samples
    and back-propagates ``w_r L_r``, where ``L_r`` is the mean loss of its own anchors (which depends on every rank's
    nodes Z_s through the pool) and ``w_r = n_r W / n`` is ``distributed.step_weight``'s factor, W ranks. After the
    all-reduce, rank s back-propagates into its own network ``sum_r w_r dL_r/dZ_s``, i.e. the gradient w.r.t. its
    parameters of ``sum_r w_r L_r`` through its own nodes; DDP then averages the parameter gradients over the ranks:
    ``(1/W) sum_s J_s^T sum_r w_r dL_r/dZ_s = (1/W) d(sum_r w_r L_r)/dtheta = d((1/n) sum_r n_r L_r)/dtheta``, the
    gradient of the global batch's mean loss, as in one process. Averaging instead of summing in the backward would
    scale the contrastive gradients by 1/W; the slice alone (no all-reduce) would drop the gradients that other
    ranks' anchors send to this rank's nodes as negatives. (Per node: this rank's ``grad / W`` after ``backward(w_r
    L_r)`` is the single-process gradient of the global mean loss w.r.t. its nodes.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int], contribute: bool) -> torch.Tensor:
        rank = dist.get_rank()
        width = max(sizes)
        padded = x.new_zeros((width, *x.shape[1:]))
        if contribute:
            padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.start, ctx.count, ctx.rows = sum(sizes[:rank]), sizes[rank], x.shape[0]
        return torch.cat([p[:k] for p, k in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # SUM: every rank's loss reaches every rank's nodes (see the class docstring)
        out = grad.new_zeros((ctx.rows, *grad.shape[1:]))
        out[: ctx.count] = grad[ctx.start : ctx.start + ctx.count]
        return out, None, None


def gather_sizes(n: int, device: torch.device) -> list[int]:
    """Every rank's ``n``, in rank order (a collective)."""
    mine = torch.tensor([n], dtype=torch.long, device=device)
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    return [int(p) for p in parts]


def _gathered_batch_loss(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-anchor loss ``[G_r, N]`` of this rank's normalised nodes ``a, b [G_r, N, d]`` against the pool of the
    global batch (both views gathered in one collective)."""
    g, n, d = a.shape
    contribute = not _standing_in()
    sizes = gather_sizes(g if contribute else 0, a.device)
    pool = GatherNodes.apply(torch.cat([a, b], -1), sizes, contribute)  # [sum G_r, N, 2d]
    if contribute:
        start = sum(sizes[: dist.get_rank()])
    else:  # a stand-in: its nodes are in its own pool only
        start = pool.shape[0]
        pool = torch.cat([pool, torch.cat([a, b], -1)])
    pa, pb = pool[..., :d].reshape(-1, d), pool[..., d:].reshape(-1, d)
    rows = torch.arange(start * n, (start + g) * n, device=a.device)
    loss = 0.5 * (_info_nce_rows(pa, pb, rows, tau) + _info_nce_rows(pb, pa, rows, tau))
    return loss.reshape(g, n)


def _info_nce_rows(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, tau: float) -> torch.Tensor:
    """:func:`_info_nce_one_side` for the anchors ``a[rows]`` only, against the whole pool ``a, b [M, d]``."""
    anchors = a[rows]  # [m, d]
    between = anchors @ b.transpose(0, 1) / tau  # [m, M]
    within = anchors @ a.transpose(0, 1) / tau
    own = torch.zeros_like(within, dtype=torch.bool)
    own[torch.arange(len(rows), device=a.device), rows] = True
    within = within.masked_fill(own, float("-inf"))
    log_denominator = torch.logsumexp(torch.cat([between, within], dim=-1), dim=-1)
    return log_denominator - between.gather(1, rows.unsqueeze(1)).squeeze(1)


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
