"""TCGL graph pieces: documented adjacencies, PyG GCNConv normalisation, augmentations."""

from __future__ import annotations

import itertools

import pytest
import torch

from methods.tcgl.graph import (
    DenseGCNConv,
    chain_adjacency,
    drop_edges,
    full_adjacency,
    mask_features,
    normalize_adjacency,
    temporal_adjacency,
)


def test_chain_and_full_adjacency():
    assert chain_adjacency(4).tolist() == [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert full_adjacency(3).tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]


@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
def test_inter_graph_joins_temporally_adjacent_positions(perm):
    adj = temporal_adjacency(torch.tensor([perm]))[0]
    pos = {clip: p for p, clip in enumerate(perm)}  # position of each clip
    expected = torch.zeros(3, 3)
    for a, b in [(0, 1), (1, 2)]:
        expected[pos[a], pos[b]] = expected[pos[b], pos[a]] = 1
    assert torch.equal(adj, expected)
    # the leak: the degree-2 node is the position holding the middle clip
    assert int(adj.sum(1).argmax()) == pos[1]


def pyg_gcn_reference(x, edges, weight, bias):
    """GCNConv by its definition: self-loops, in-degree incl. self-loop, message j->i weighted d_i^-1/2 d_j^-1/2."""
    n = x.shape[0]
    edges = list(edges) + [(i, i) for i in range(n)]
    deg = [sum(1 for (_, dst) in edges if dst == i) for i in range(n)]
    h = x @ weight
    out = torch.zeros(n, weight.shape[1], dtype=x.dtype)
    for src, dst in edges:
        out[dst] += h[src] / (deg[dst] ** 0.5 * deg[src] ** 0.5)
    return out + bias


def test_dense_gcn_matches_pyg_definition_on_directed_graphs():
    torch.manual_seed(0)
    gcn = DenseGCNConv(5, 3).double()
    torch.nn.init.normal_(gcn.bias)
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    edge_sets = [[(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)], [(0, 1), (2, 1), (3, 2), (0, 3)]]  # 2nd: asymmetric
    adj = torch.zeros(2, 4, 4, dtype=torch.float64)
    for b, es in enumerate(edge_sets):
        for src, dst in es:
            adj[b, dst, src] = 1
    out = gcn(x, normalize_adjacency(adj))
    for b, es in enumerate(edge_sets):
        assert torch.allclose(out[b], pyg_gcn_reference(x[b], es, gcn.weight, gcn.bias), atol=1e-12)
    norm = normalize_adjacency(adj)
    assert torch.allclose(norm[0], norm[0].T) and not torch.allclose(norm[1], norm[1].T)


def test_drop_edges_rates_and_sharing():
    torch.manual_seed(0)
    adj = full_adjacency(4).expand(5000, 4, 4)
    dropped = drop_edges(adj, 0.2)
    assert ((dropped == 1) <= (adj == 1)).all()  # never adds edges
    assert abs(float(dropped.sum() / adj.sum()) - 0.8) < 0.01
    assert not torch.equal(dropped, dropped.transpose(1, 2))  # directed: each direction independently
    assert not all(torch.equal(dropped[0], d) for d in dropped[1:10])
    shared = drop_edges(adj[:8], 0.5, shared=True)
    assert all(torch.equal(shared[0], s) for s in shared)
    assert drop_edges(adj, 0.0) is adj


def test_mask_features_shared_by_nodes():
    torch.manual_seed(0)
    x = torch.ones(2000, 4, 64)
    masked = mask_features(x, 0.1)
    assert torch.equal(masked, masked[:, :1].expand_as(masked))  # one mask per graph, shared by its nodes
    assert set(masked.unique().tolist()) <= {0.0, 1.0}  # zeroed, not rescaled
    assert abs(float(1 - masked.mean()) - 0.1) < 0.01
    assert not torch.equal(masked[0], masked[1])  # redrawn per graph
