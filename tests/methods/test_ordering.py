"""Order labels: lexicographic, a bijection for K = 2..4 (no off-by-one); OPN reversal classes; gathering."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from methods.ordering import (
    gather_items,
    label_to_perm,
    perm_to_label,
    permutation_table,
    random_permutations,
    reversal_class_label,
    reversal_class_table,
)


def test_vcop_labels_for_three_clips():
    expected = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    assert [tuple(r) for r in permutation_table(3).tolist()] == expected
    for label, perm in enumerate(expected):
        assert int(perm_to_label(torch.tensor(perm))) == label


@pytest.mark.parametrize("k", [2, 3, 4])
def test_permutation_labels_are_a_bijection(k):
    perms = torch.tensor(list(itertools.permutations(range(k))))
    labels = perm_to_label(perms)
    assert sorted(labels.tolist()) == list(range(math.factorial(k)))  # every order a unique label in [0, K!)
    assert torch.equal(label_to_perm(labels, k), perms)  # and back
    all_labels = torch.arange(math.factorial(k))
    assert torch.equal(perm_to_label(label_to_perm(all_labels, k)), all_labels)


def test_random_permutations_are_valid_and_uniform():
    torch.manual_seed(0)
    perms, labels = random_permutations(6000, 3)
    assert torch.equal(perms.sort(dim=1).values, torch.arange(3).expand(6000, 3))
    assert torch.equal(perm_to_label(perms), labels)
    counts = torch.bincount(labels, minlength=6).float() / 6000
    assert (counts - 1 / 6).abs().max() < 0.03


def test_gather_items():
    x = torch.arange(2 * 3).view(2, 3, 1).float() * torch.ones(2, 3, 5)
    idx = torch.tensor([[2, 0, 1], [1, 1, 0]])
    out = gather_items(x, idx)
    assert out[:, :, 0].tolist() == [[2, 0, 1], [4, 4, 3]]


def test_opn_reversal_classes():
    table = reversal_class_table(4)
    assert table.shape == (12, 4)
    perms = torch.tensor(list(itertools.permutations(range(4))))
    cls = reversal_class_label(perms)
    assert torch.equal(cls, reversal_class_label(perms.flip(1)))  # forward and backward merged
    assert torch.bincount(cls, minlength=12).tolist() == [2] * 12
    assert torch.equal(reversal_class_label(table), torch.arange(12))
    assert reversal_class_table(3).shape == (3, 3)
