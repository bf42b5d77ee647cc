import numpy as np
import pytest
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
    r = topk_retrieval(
        torch.randn(2000, 32),
        torch.randint(0, 10, (2000,)),
        torch.randn(500, 32),
        torch.randint(0, 10, (500,)),
        ks=(1,),
    )
    assert 0.05 < r["top1"] < 0.15  # chance is 1/10


def numpy_reference(q, ql, g, gl, k):
    """Independent reference (as VCOP's retrieve_clips.py): cosine distances in float64, argsort, the first min(k, n)
    gallery labels; a stable sort, so equal distances are ranked by gallery index (the documented tie policy)."""
    q, g = np.asarray(q, np.float64), np.asarray(g, np.float64)
    q, g = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
    order = np.argsort(1.0 - q @ g.T, axis=1, kind="stable")[:, : min(k, len(g))]
    return float(np.mean([ql[i] in np.asarray(gl)[order[i]] for i in range(len(q))]))


def test_a_query_whose_class_is_not_in_the_gallery_is_never_a_hit():
    # the reported case: gallery classes {0, 0, 1}, query class 2; a miss at top-1 was a hit at top-5 (k > n)
    q, g = torch.randn(1, 4), torch.randn(3, 4)
    r = topk_retrieval(q, torch.tensor([2]), g, torch.tensor([0, 0, 1]), ks=(1, 2, 3, 5, 10, 50))
    assert set(r.values()) == {0.0}
    # and among other queries, for every k up to far beyond the gallery size
    gen = torch.Generator().manual_seed(1)
    q, g = torch.randn(40, 8, generator=gen), torch.randn(6, 8, generator=gen)
    ql = torch.arange(40) % 5  # classes 3 and 4 have no gallery video
    gl = torch.tensor([0, 1, 2, 0, 1, 2])
    ks = (1, 2, 3, 6, 7, 50)
    r = topk_retrieval(q, ql, g, gl, ks=ks, chunk=7)
    assert r["top6"] == r["top7"] == r["top50"] == 24 / 40  # k >= n: exactly the queries whose class is present
    for k in ks:
        assert abs(r[f"top{k}"] - numpy_reference(q, ql, g, gl, k)) < 1e-12
        absent_only = topk_retrieval(q[ql >= 3], ql[ql >= 3], g, gl, ks=(k,))
        assert absent_only[f"top{k}"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_an_independent_numpy_reference_for_k_below_and_above_the_gallery_size(seed):
    gen = torch.Generator().manual_seed(seed)
    n_q, n_g = 57, 23
    q, g = torch.randn(n_q, 12, generator=gen), torch.randn(n_g, 12, generator=gen)
    # queries of 9 classes, gallery of 7: classes 7 and 8 (and any class the draw leaves out) have no gallery video
    ql, gl = torch.randint(0, 9, (n_q,), generator=gen), torch.randint(0, 7, (n_g,), generator=gen)
    ks = (1, 3, 5, 10, 22, 23, 24, 50, 1000)
    a = topk_retrieval(q, ql, g, gl, ks=ks, chunk=5)
    assert a == topk_retrieval(q, ql, g, gl, ks=ks)
    for k in ks:
        assert abs(a[f"top{k}"] - numpy_reference(q.numpy(), ql.numpy(), g.numpy(), gl.numpy(), k)) < 1e-12
    present = int(torch.isin(ql, gl).sum())
    assert present < n_q and a["top23"] == a["top50"] == a["top1000"] == present / n_q


def test_ties_are_ranked_by_gallery_index():
    """One-hot features give exact similarities (0 or 1), so many exact ties: the lowest gallery index ranks first,
    the numpy reference's stable sort of the distances."""
    gl = torch.tensor([5, 1, 2, 1, 3, 2, 4, 0])
    g = torch.nn.functional.one_hot(torch.tensor([0, 0, 0, 1, 1, 2, 2, 3]), 4).float()
    q = torch.nn.functional.one_hot(torch.tensor([0, 0, 0, 1, 2, 3, 0]), 4).float()
    ql = torch.tensor([5, 1, 2, 3, 4, 1, 1])
    ks = tuple(range(1, 10))
    r = topk_retrieval(q, ql, g, gl, ks=ks)
    for k in ks:
        assert abs(r[f"top{k}"] - numpy_reference(q.numpy(), ql.numpy(), g.numpy(), gl.numpy(), k)) < 1e-12
    # query 0 (class 5, gallery index 0 ranks first among 3 ties) is a hit at 1; query 1 (class 1, index 1) at 2;
    # query 2 (class 2, index 2) at 3; query 6 (class 1, direction 0): index 1 among the ties, so at 2
    one = lambda i, k: topk_retrieval(q[i : i + 1], ql[i : i + 1], g, gl, ks=(k,))[f"top{k}"]
    assert (one(0, 1), one(1, 1), one(1, 2), one(2, 2), one(2, 3), one(6, 2)) == (1.0, 0.0, 1.0, 0.0, 1.0, 1.0)


def test_rejects_bad_input():
    q, g, l3 = torch.randn(3, 4), torch.randn(3, 4), torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="finite"):
        topk_retrieval(q, l3, torch.full((3, 4), float("nan")), l3)
    with pytest.raises(ValueError, match="ks"):
        topk_retrieval(q, l3, g, l3, ks=(0, 1))
    with pytest.raises(ValueError, match="gallery"):
        topk_retrieval(q, l3, g[:0], l3[:0])
