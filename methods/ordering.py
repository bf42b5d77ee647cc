"""Permutations, order labels and per-sample shuffling, all vectorised over the batch.

Convention (VCOP / TCGL): a permutation ``perm`` of K items lists, for each input position p, the temporal index of
the item placed there (``perm[p]`` = original index of the clip at position p). Its label is its rank in the
lexicographic list of all K! permutations, e.g. for K=3: (0,1,2)->0, (0,2,1)->1, (1,0,2)->2, (1,2,0)->3,
(2,0,1)->4, (2,1,0)->5.
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


def random_permutations(
    batch: int, k: int, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One uniformly random permutation per sample, drawn on ``device``: ``(perms [B, K], labels [B])``."""
    labels = torch.randint(math.factorial(k), (batch,), device=device)
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
