"""Permutations, order labels, per-sample shuffling and per-sample random numbers, all vectorised over the batch.

Convention (VCOP / TCGL): a permutation ``perm`` of K items lists, for each input position p, the temporal index of
the item placed there (``perm[p]`` = original index of the clip at position p). Its label is its rank in the
lexicographic list of all K! permutations, e.g. for K=3: (0,1,2)->0, (0,2,1)->1, (1,0,2)->2, (1,2,0)->3,
(2,0,1)->4, (2,1,0)->5.

Per-sample randomness (:func:`sample_uniform`): a method's random draws for sample b are a function of that
sample's own seed (``batch["sample_seed"]``, derived by ``datasets.clips.ClipDataset`` from (seed, epoch, index) like
its augmentation) and of a fixed stream number per kind of draw, never of the other samples of the batch nor of the
process's RNG. So a sample gets the same permutation and the same graph views whichever batch, rank or number of
ranks it lands in: a multi-process (DDP) run draws exactly what the single-process run draws.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch


@functools.lru_cache(maxsize=None)
def _perm_list(k: int) -> tuple[tuple[int, ...], ...]:
    if k < 1:
        raise ValueError(f"need at least one item, got {k}")
    return tuple(itertools.permutations(range(k)))


def permutation_table(k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """All K! permutations of ``range(k)`` in lexicographic order, ``[K!, K]`` long; row i has label i."""
    return torch.tensor(_perm_list(k), dtype=torch.long, device=device)


def perm_to_label(perms: torch.Tensor) -> torch.Tensor:
    """Lexicographic rank (Lehmer code) of each permutation in ``[..., K]``; returns ``[...]`` long."""
    k = perms.shape[-1]
    # smaller_after[..., i] = number of j > i with perm[j] < perm[i]
    later = perms.unsqueeze(-2) < perms.unsqueeze(-1)  # [..., i, j]: perm[j] < perm[i]
    upper = torch.ones(k, k, dtype=torch.bool, device=perms.device).triu(1)
    smaller_after = (later & upper).sum(-1)
    weights = torch.tensor([math.factorial(k - 1 - i) for i in range(k)], device=perms.device)
    return (smaller_after * weights).sum(-1)


def label_to_perm(labels: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse of :func:`perm_to_label`: ``[...]`` labels -> ``[..., K]`` permutations."""
    return permutation_table(k, labels.device)[labels]


_M32 = 0xFFFFFFFF


def _mul32(x, c: int):
    """``(x * c) mod 2**32`` for ``0 <= x < 2**32`` (an int64 tensor or a Python int) and a 32-bit constant ``c``,
    in two 16-bit halves of ``c`` so that no int64 product overflows."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x):
    """Chris Wellons' ``lowbias32`` integer hash: a bijection of [0, 2**32) with full avalanche (every input bit
    flips every output bit with probability ~1/2). Inputs are non-negative, so ``>>`` is a logical shift."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def sample_uniform(seeds: torch.Tensor, stream: int, shape: tuple[int, ...] = ()) -> torch.Tensor:
    """Uniform floats in [0, 1), ``[B, *shape]`` float32 on ``seeds``' device: entry j of row b is a function of
    ``(seeds[b], stream, j)`` alone (a counter-based generator: a 32-bit integer hash of the three, of which the top
    24 bits make the float, so every value is a multiple of 2**-24).

    ``seeds [B]``: int64 (``batch["sample_seed"]``, below 2**63), all 64 bits used; ``stream``: a non-negative integer
    naming the kind of draw (one per purpose, so that, e.g., a sample's permutation and its edge mask are
    independent). Vectorised, on the device, no host synchronisation; the same numbers on CPU and CUDA."""
    seeds = seeds.reshape(-1).long()
    salt = _mix32((int(stream) * 0x9E3779B9 + 0x632BE5AB) & _M32)
    key = _mix32(_mix32((seeds & _M32) ^ salt) ^ ((seeds >> 32) & _M32))  # [B]
    n = math.prod(shape)
    counter = _mix32((torch.arange(n, device=seeds.device) * 0x9E3779B9 + 0x7F4A7C15) & _M32)  # [n]
    bits = _mix32(key.unsqueeze(1) ^ counter.unsqueeze(0))
    bits = _mix32(bits ^ salt)  # a second round: no linear relation between rows survives
    return ((bits >> 8).float() * 2.0**-24).view(len(seeds), *shape)


def per_sample_uniform(
    batch: int, n: int, device: torch.device | str | None = None, seeds: torch.Tensor | None = None, stream: int = 0
) -> torch.Tensor:
    """``[B, n]`` uniform floats in [0, 1): row b from sample b's seed (:func:`sample_uniform`) when ``seeds [B]``
    (``batch["sample_seed"]``) is given, the same in whatever batch or rank the sample is; otherwise from torch's
    global RNG (a hand-made batch; a multi-process run then draws per rank)."""
    if seeds is None:
        return torch.rand(batch, n, device=device)
    if seeds.numel() != batch:
        raise ValueError(f"{seeds.numel()} sample seeds for a batch of {batch}")
    return sample_uniform(seeds.to(device), stream, (n,))


def random_permutations(
    batch: int,
    k: int,
    device: torch.device | str | None = None,
    seeds: torch.Tensor | None = None,
    stream: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One uniformly random permutation per sample, drawn on ``device``: ``(perms [B, K], labels [B])``.

    ``seeds [B]`` (``batch["sample_seed"]``): sample b's permutation is a function of ``(seeds[b], stream)`` alone
    (:func:`sample_uniform`), the same in whatever batch or rank the sample is; without seeds it comes from torch's
    global RNG (a multi-process run then draws per rank)."""
    n = math.factorial(k)
    if seeds is None:
        labels = torch.randint(n, (batch,), device=device)
    else:
        u = per_sample_uniform(batch, 1, device, seeds, stream)[:, 0]
        labels = (u * n).long().clamp_max(n - 1)  # u < 1; K! <= 24, so the 2**-24 grid biases no label noticeably
    return label_to_perm(labels, k), labels


def gather_items(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-sample selection along dim 1: ``out[b, p] = x[b, index[b, p]]`` for ``x [B, K, ...]``, ``index [B, P]``."""
    rows = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
    return x[rows, index.to(x.device)]


@functools.lru_cache(maxsize=None)
def _reversal_classes(k: int) -> tuple[tuple[int, ...], ...]:
    return tuple(p for p in _perm_list(k) if p <= p[::-1])


def reversal_class_table(k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """OPN classes: the K!/2 permutations that are lexicographically <= their reverse, ``[K!/2, K]``.

    A permutation and its reverse share a class (forward and backward orders merged); for K=4 there are 12.
    """
    if k < 2:
        raise ValueError("reversal classes need at least 2 items")
    return torch.tensor(_reversal_classes(k), dtype=torch.long, device=device)


def reversal_class_label(perms: torch.Tensor) -> torch.Tensor:
    """OPN class of each permutation ``[..., K]`` (itself or its reverse, whichever is in the class table)."""
    k = perms.shape[-1]
    table = reversal_class_table(k, perms.device)  # [C, K]
    canon = torch.minimum(perm_to_label(perms), perm_to_label(perms.flip(-1)))
    class_labels = perm_to_label(table)  # sorted ranks of the class representatives
    return torch.searchsorted(class_labels, canon)
