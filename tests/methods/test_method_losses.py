"""Pure losses: GRACE InfoNCE (against a naive reference), order CE / accuracy, weighted sum."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from methods.losses import classification_loss, grace_loss, top1_accuracy, weighted_sum


def naive_grace(z1, z2, tau):
    """Per-node loop over the GRACE definition, pooled over all given nodes."""
    a, b = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)

    def side(u, v):
        total = []
        for i in range(u.shape[0]):
            pos = math.exp(float(u[i] @ v[i]) / tau)
            neg = sum(math.exp(float(u[i] @ u[k]) / tau) for k in range(u.shape[0]) if k != i)
            neg += sum(math.exp(float(u[i] @ v[k]) / tau) for k in range(u.shape[0]) if k != i)
            total.append(-math.log(pos / (pos + neg)))
        return torch.tensor(total, dtype=torch.float64)

    return 0.5 * (side(a, b) + side(b, a))


@pytest.mark.parametrize("negatives", ["graph", "batch"])
def test_grace_matches_naive_definition(negatives):
    torch.manual_seed(0)
    z1, z2 = torch.randn(3, 4, 16, dtype=torch.float64), torch.randn(3, 4, 16, dtype=torch.float64)
    got = grace_loss(z1, z2, tau=0.5, negatives=negatives, reduction="none")
    if negatives == "graph":
        want = torch.stack([naive_grace(z1[g], z2[g], 0.5) for g in range(3)])
    else:
        want = naive_grace(z1.reshape(12, 16), z2.reshape(12, 16), 0.5).view(3, 4)
    assert torch.allclose(got, want, atol=1e-9)
    assert torch.allclose(grace_loss(z1, z2, negatives=negatives), want.mean(), atol=1e-9)


@pytest.mark.parametrize("negatives,pool", [("graph", 4), ("batch", 256 * 4)])
def test_grace_random_features_near_log_2n_minus_1(negatives, pool):
    torch.manual_seed(0)
    z1, z2 = torch.randn(256, 4, 512), torch.randn(256, 4, 512)
    loss = grace_loss(z1, z2, 0.5, negatives)
    assert abs(float(loss) - math.log(2 * pool - 1)) < 0.05


def test_grace_aligned_views_much_lower():
    torch.manual_seed(0)
    z = torch.randn(256, 4, 512)
    random_loss = grace_loss(z, torch.randn_like(z))
    aligned = grace_loss(z, z + 0.01 * torch.randn_like(z))
    assert float(aligned) < 0.4 * float(random_loss)
    # with 2046 near-orthogonal negatives the floor is log(1 + 2046 e^-2): still ~2 nats below random views
    random_batch = grace_loss(z, torch.randn_like(z), negatives="batch")
    assert float(grace_loss(z, z, negatives="batch")) < float(random_batch) - 1.5


def test_grace_symmetry_and_validation():
    z1, z2 = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    assert torch.allclose(grace_loss(z1, z2), grace_loss(z2, z1))
    assert torch.allclose(grace_loss(z1[:1], z2[:1], negatives="graph"), grace_loss(z1[:1], z2[:1], negatives="batch"))
    with pytest.raises(ValueError):
        grace_loss(z1, z2, negatives="memory_bank")
    with pytest.raises(ValueError):
        grace_loss(z1, z2[:, :2])


def test_grace_gradients_finite():
    z1 = torch.randn(4, 4, 8, requires_grad=True)
    grace_loss(z1, z1.detach() + 0.1).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_classification_helpers():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    assert float(top1_accuracy(logits, labels)) == pytest.approx(2 / 3)
    assert torch.allclose(classification_loss(logits, labels), F.cross_entropy(logits, labels))
    total = weighted_sum({"a": torch.tensor(1.0), "b": torch.tensor(2.0)}, {"a": 0.5, "b": 2.0})
    assert float(total) == pytest.approx(4.5)
    with pytest.raises(KeyError):
        weighted_sum({"a": torch.tensor(1.0)}, {})
