import torch

from protocols.retrieval import topk_retrieval


def brute_force(q, ql, g, gl, k):
    qn, gn = q / q.norm(dim=1, keepdim=True), g / g.norm(dim=1, keepdim=True)
    d = 1 - qn @ gn.T  # cosine distance, as VCOP's script
    order = d.argsort(dim=1)[:, :k]
    return (gl[order] == ql[:, None]).any(1).float().mean().item()


def test_matches_brute_force_and_chunking_does_not_matter():
    g = torch.Generator().manual_seed(0)
    q, g_ = torch.randn(103, 16, generator=g), torch.randn(257, 16, generator=g)
    ql, gl = torch.randint(0, 5, (103,), generator=g), torch.randint(0, 5, (257,), generator=g)
    a = topk_retrieval(q, ql, g_, gl, chunk=4096)
    b = topk_retrieval(q, ql, g_, gl, chunk=7)
    assert a == b
    for k in (1, 5, 10, 20, 50):
        assert abs(a[f"top{k}"] - brute_force(q, ql, g_, gl, k)) < 1e-6
    assert list(a.values()) == sorted(a.values())  # top-k is monotone in k


def test_perfect_and_chance_features():
    labels = torch.arange(10).repeat(5)
    feats = torch.nn.functional.one_hot(labels, 10).float() + 0.01 * torch.randn(50, 10)
    assert topk_retrieval(feats, labels, feats + 0.01, labels)["top1"] == 1.0
    r = topk_retrieval(torch.randn(2000, 32), torch.randint(0, 10, (2000,)), torch.randn(500, 32),
                       torch.randint(0, 10, (500,)), ks=(1,))
    assert 0.05 < r["top1"] < 0.15  # chance is 1/10
