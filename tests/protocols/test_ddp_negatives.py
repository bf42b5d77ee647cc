"""The same pretraining on 1 process or N (DDP) for methods whose loss or random draws could depend on how a global
batch is split across the ranks (runtime/distributed.py, protocols/pretrain.py).

Which losses couple the samples of a batch (methods/*.py):
- TCGL with ``negatives=batch``: the GRACE negatives pool is the batch. Under DDP the projected nodes are gathered
  over the ranks (``methods.losses.GatherNodes``), so every rank's anchors see the global batch's pool, and the
  gradient is all-reduced back; ``negatives=graph`` is per sample.
- every other method (VCOP, sorder/opn in methods/frame_order.py, SpeedNet, supervised) has a per-sample
  cross-entropy: nothing couples its samples beyond BatchNorm, which ``pretrain.sync_bn=true`` makes global (as in
  the supervised equivalence test, tests/ddp_helpers.py). So the curves of VCOP, sorder and opn are tested here only
  to pin their per-sample (``batch["sample_seed"]``) draws.
Per-sample draws: TCGL's and VCOP's permutations, TCGL's graph views, sorder's tuples (positive or not, which
negative, reversed or not) and opn's class and direction are functions of each sample's seed
(``datasets.clips.sample_seed``: (seed, epoch, index)), not of the per-rank RNG stream. Still drawn per rank, hence
set off here: dropout (TCGL ASOP, the heads of VCOP, sorder and opn: ``*dropout=0``) and TCGL's
``intra_edge_mask_shared=true`` (the released mode, one mask per rank's batch).

Settings of the 1-vs-2 runs: the real loop (``protocols.pretrain.pretrain``) on the tiny backbone and SeededClips
data (no videos), 11 training samples in global batches of 5: shares 3/2, 3/2, then 1/0, where rank 1 stands in
(weight 0, and with gathered negatives it adds nothing to the pool). Validation: TCGL's validation loss with
``negatives=batch`` depends on how the validation set is batched (each rank evaluates its own share, with local
negatives), so for TCGL the validation accuracy is compared but not the validation loss.
Tolerance (printed by the tests): measured, TCGL's curves agree to 5e-8 (relative) and its final weights to 3e-6
(absolute; AdamW divides tiny gradient differences by tiny second moments), VCOP's to 8e-8 and 8e-7. Deliberately
broken TCGL variants were off by (curve, weights): no gathering 0.16, 0.12; gradients averaged instead of summed
in the gather's backward 1e-2, 0.10; the local slice without the all-reduce 1.3e-2, 0.07; draws from the per-rank
RNG instead of the sample seeds 2.0, 0.14. ``RTOL = 1e-4`` and ``ATOL = 1e-4`` sit between.
"""

from __future__ import annotations

import time

import pytest
import torch

from methods.losses import grace_loss
from methods.ordering import random_permutations, sample_uniform
from methods.tcgl.graph import drop_edges, mask_features

from ddp_helpers import pretrain_seeded, run_gloo
from helpers import compose_cfg

N_TRAIN, N_VAL, BATCH = 11, 5, 5
PER_SAMPLE_CE = ("vcop", "sorder", "opn")  # methods whose only coupling would be their random draws
RTOL, ATOL = 1e-4, 1e-4


# -- the gathered loss itself --------------------------------------------------------------------------------------


def _nodes(g=7, n=4, d=6):
    gen = torch.Generator().manual_seed(3)
    return (
        torch.randn(g, n, d, generator=gen, dtype=torch.float64),
        torch.randn(g, n, d, generator=gen, dtype=torch.float64),
    )


def _reference(z1, z2):
    z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    loss = grace_loss(z1, z2, 0.5, "batch")
    loss.backward()
    return loss.detach(), z1.grad, z2.grad


def _grace_on_ranks(z1, z2, shares, stand_in_rank):
    """One rank's part: its share of the nodes, the gathered loss, backward of ``loss * step_weight``."""
    from runtime import distributed

    r, world = distributed.rank(), distributed.world_size()
    start = sum(shares[:r])
    a = z1[start : start + shares[r]].clone().requires_grad_()
    b = z2[start : start + shares[r]].clone().requires_grad_()
    stand_in = r == stand_in_rank
    if stand_in:  # a copy of sample 0 only stands in: weight 0, and it must add nothing to the others' pool
        a, b = z1[:1].clone().requires_grad_(), z2[:1].clone().requires_grad_()
    _, weight = distributed.step_weight(0 if stand_in else shares[r])
    with distributed.stand_in_step(stand_in):
        loss = grace_loss(a, b, 0.5, "batch", gather=True)
        local = grace_loss(a, b, 0.5, "batch")  # this rank's nodes only (no gathering)
    (loss * weight).backward()
    return {"loss": loss.detach(), "local": local.detach(), "g1": a.grad / world, "g2": b.grad / world}


CASES = {
    "equal": ([4, 3], None),
    "unequal": ([5, 2], None),
    "empty rank 1": ([7, 0], None),
    "empty rank 0": ([0, 7], None),
    "stand-in": ([7, 0], 1),
}


def _all_cases(z1, z2):
    return {name: _grace_on_ranks(z1, z2, shares, stand_in) for name, (shares, stand_in) in CASES.items()}


def test_gathered_grace_loss_on_two_processes_is_the_one_process_loss_and_gradient(gloo_runs):
    z1, z2 = _nodes()
    ref_loss, ref_g1, ref_g2 = _reference(z1, z2)
    ranks = [r["grace"] for r in gloo_runs[1]]
    for name, (shares, stand_in) in CASES.items():
        parts = [ranks[r][name] for r in range(2)]
        real = [r for r in range(2) if r != stand_in and shares[r]]
        # the weights of step_weight make the global mean: sum_r (G_r / G) L_r
        mean = sum(parts[r]["loss"] * shares[r] / sum(shares) for r in real)
        torch.testing.assert_close(mean, ref_loss, rtol=0, atol=1e-6, msg=name)
        # per node: this rank's gradient after backward(w_r L_r), divided by the number of ranks (DDP's average)
        for k, ref in (("g1", ref_g1), ("g2", ref_g2)):
            got = torch.cat([parts[r][k] for r in real])
            torch.testing.assert_close(got, ref, rtol=0, atol=1e-6, msg=f"{name} {k}")
        if stand_in is not None:
            assert torch.isfinite(parts[stand_in]["loss"]) and not parts[stand_in]["g1"].any()
    # without gathering, each rank's negatives are its own share: the loss would depend on the split
    local = sum(ranks[r]["unequal"]["local"] * [5, 2][r] / 7 for r in range(2))
    assert (local - ref_loss).abs() > 1e-2


def test_one_process_never_gathers_and_computes_what_it_did(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("no torch.distributed collective in a single process")

    for name in ("all_gather", "all_reduce", "get_rank", "get_world_size"):
        monkeypatch.setattr(torch.distributed, name, refuse)
    z1, z2 = _nodes()
    for neg in ("batch", "graph"):
        assert torch.equal(grace_loss(z1, z2, 0.5, neg, gather=True), grace_loss(z1, z2, 0.5, neg))
        assert torch.equal(grace_loss(z1, z2, 0.5, neg, "none", gather=True), grace_loss(z1, z2, 0.5, neg, "none"))


# -- per-sample draws ----------------------------------------------------------------------------------------------


def test_per_sample_draws_do_not_depend_on_the_batch_they_are_in():
    seeds = torch.tensor([5, 2**62 + 7, 11, -3 % 2**63, 0, 123456789])
    perms, labels = random_permutations(6, 3, seeds=seeds)
    parts = [random_permutations(2, 3, seeds=seeds[i : i + 2]) for i in (0, 2, 4)]
    assert torch.equal(perms, torch.cat([p for p, _ in parts]))
    assert torch.equal(labels, torch.cat([lab for _, lab in parts]))
    torch.manual_seed(0)
    first = random_permutations(6, 3, seeds=seeds)[1]
    torch.manual_seed(1)  # the global RNG plays no part
    assert torch.equal(first, random_permutations(6, 3, seeds=seeds)[1])
    x, adj = torch.ones(6, 4, 64), torch.ones(6, 4, 4)
    for f in (lambda s, k: mask_features(x[:k], 0.3, s, stream=4), lambda s, k: drop_edges(adj[:k], 0.3, seeds=s)):
        whole = f(seeds, 6)
        assert torch.equal(whole[3:], f(seeds[3:], 3)) and torch.equal(whole[:3], f(seeds[:3], 3))
    assert not torch.equal(mask_features(x, 0.3, seeds, 4), mask_features(x, 0.3, seeds, 5))  # streams differ


def test_sorder_tuples_from_sample_seeds_do_not_depend_on_the_batch_and_keep_their_rates():
    from methods.registry import build_method

    seeds = torch.arange(6000) * 7919
    # distinct negative rows, reversal included ((1, a|e, 3) both ways; the 4 non-monotonic orders of (1, 2, 3) are
    # closed under reversal); the share of rows starting with item 3
    for negatives, first_is_3 in (("outside", 0.5), ("shuffle", 0.375)):
        method = build_method("sorder", "tiny", negatives=negatives)
        idx, labels = method.make_tuples(6000, torch.device("cpu"), seeds)
        parts = [method.make_tuples(1000, torch.device("cpu"), seeds[i : i + 1000]) for i in range(0, 6000, 1000)]
        assert torch.equal(idx, torch.cat([i for i, _ in parts]))
        assert torch.equal(labels, torch.cat([b for _, b in parts]))
        assert abs(float(labels.float().mean()) - method.pos_fraction) < 0.02
        assert idx[labels == 0].unique(dim=0).shape[0] == 4
        assert abs(float((idx[:, 0] == 3).float().mean()) - first_is_3) < 0.02  # reversed half the time


def test_per_sample_draws_have_the_rates_of_the_global_rng_ones():
    seeds = torch.arange(30000) * 7919  # consecutive-ish seeds: the hash must still decorrelate them
    labels = random_permutations(30000, 3, seeds=seeds)[1]
    assert ((torch.bincount(labels, minlength=6) / 30000 - 1 / 6).abs() < 0.01).all()
    keep = mask_features(torch.ones(3000, 2, 100), 0.1, seeds[:3000], stream=3)
    assert abs(float(keep.mean()) - 0.9) < 0.005 and torch.equal(keep[:, 0], keep[:, 1])  # one mask per graph
    kept_edges = drop_edges(torch.ones(3000, 4, 4), 0.2, seeds=seeds[:3000], stream=4)
    assert abs(float(kept_edges.mean()) - 0.8) < 0.005
    u = sample_uniform(seeds, 9, (2,))
    assert abs(float(torch.corrcoef(torch.stack([u[:, 0], u[:, 1]]))[0, 1])) < 0.03
    assert abs(float(torch.corrcoef(torch.stack([u[:-1, 0], u[1:, 0]]))[0, 1])) < 0.03


def test_items_carry_a_sample_seed_of_seed_epoch_and_index():
    from datasets.clips import sample_seed

    s = sample_seed(0, 1, 2)
    assert s == sample_seed(0, 1, 2) and 0 <= s < 2**63
    assert len({s, sample_seed(1, 1, 2), sample_seed(0, 0, 2), sample_seed(0, 1, 3)}) == 4


# -- 1 vs 2 processes, the real pretraining loop ------------------------------------------------------------------


def _cfg(method, seed=0):
    common = [
        "preset=smoke",
        f"seed={seed}",
        "pretrain.epochs=3",
        f"pretrain.batch_size={BATCH}",
        "pretrain.warmup_epochs=0",
        "pretrain.sync_bn=true",
        "method.optim.name=adamw",
        "method.optim.lr=0.005",
        "method.params.clip_len=8",
    ]
    if method == "tcgl":
        extra = [
            "method.params.asop_dropout=0.0",
            "method.params.negatives=batch",
            "method.params.asop_hidden=32",
            "method.params.intra_edge_mask_shared=false",
        ]
    else:  # PER_SAMPLE_CE: a head with dropout and a hidden width
        extra = ["method.params.dropout=0.0", "method.params.hidden=32"]
    return compose_cfg(f"method={method}", *common, *extra)


def _every_method(cfgs, work):
    return {m: pretrain_seeded(cfg, f"{work}/{m}", N_TRAIN, N_VAL) for m, cfg in cfgs.items()}


def _on_each_rank(z1, z2, cfgs, work):
    """Everything this module runs on 2 gloo processes, in one start (a process start costs seconds)."""
    return {"grace": _all_cases(z1, z2), **_every_method(cfgs, work)}


@pytest.fixture(scope="module")
def gloo_runs(tmp_path_factory):
    """(1-process results, per-rank results of the 2-process group)."""
    tmp = tmp_path_factory.mktemp("ddp_negatives")
    cfgs = {m: _cfg(m) for m in ("tcgl", *PER_SAMPLE_CE)}
    t0 = time.time()
    two = run_gloo(_on_each_rank, 2, tmp / "gloo", *_nodes(), cfgs, str(tmp / "two"), timeout=150)
    t1 = time.time()
    one = _every_method(cfgs, str(tmp / "one"))
    print(f"2 processes {t1 - t0:.1f}s, 1 process {time.time() - t1:.1f}s")
    assert not torch.distributed.is_initialized()
    return one, two


def _compare(one, two, keys):
    ref_rows, ref_state = one
    worst = 0.0
    for rows, state in two:  # both ranks end with the same weights and read the same log
        assert len(rows) == len(ref_rows) == 3
        for a, b in zip(ref_rows, rows):
            for k in keys:
                x, y = float(a[k]), float(b[k])
                diff = abs(x - y) / max(abs(x), 1e-12)
                assert diff <= RTOL, f"epoch {a['epoch']} {k}: 1 process {x}, 2 processes {y}"
                worst = max(worst, diff)
        assert state.keys() == ref_state.keys()
        wdiff = max(
            float((state[k].double() - ref_state[k].double()).abs().max())
            for k in ref_state
            if ref_state[k].is_floating_point()
        )
        assert wdiff <= ATOL, f"final weights differ by {wdiff}"
    print(f"largest relative curve difference {worst:.1e}, largest weight difference {wdiff:.1e}")


def test_tcgl_with_batch_negatives_trains_alike_on_one_process_and_two(gloo_runs):
    one, two = gloo_runs
    _compare(one["tcgl"], [r["tcgl"] for r in two], ("lr", "train_loss", "train_acc", "val_acc"))


@pytest.mark.parametrize("method", PER_SAMPLE_CE)
def test_per_sample_ce_methods_train_alike_on_one_process_and_two(gloo_runs, method):
    one, two = gloo_runs
    _compare(one[method], [r[method] for r in two], ("lr", "train_loss", "train_acc", "val_loss", "val_acc"))
