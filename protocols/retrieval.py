"""Top-k video retrieval (the VCOP protocol, without its bugs).

Video features are L2-normalised, similarity is cosine (a matmul), and each test query is a hit at k when any of its
min(k, gallery size) nearest train-gallery videos has its class, as in VCOP's retrieve_clips.py and TCGL's
4_retrieve_clips.py (argsort of the cosine distances, the first k columns): a query whose class has no gallery video
is never a hit, whatever k. Queries are processed in chunks so that a 13k x 13k search fits in memory; every query
and every gallery item counts (callers assert the counts equal the split sizes).

Tie policy: gallery videos are ranked by similarity, highest first, and equal similarities by gallery index, lowest
first (a stable sort of the distances, numpy ``argsort(kind="stable")``). The releases' default numpy argsort leaves
the order of exact ties unspecified; with real-valued features exact ties only come from duplicated videos.
Each query's rank is that of its first same-class gallery video in this order (the number of videos before it),
computed exactly with comparisons over the whole gallery (no top-k cut-off), and it is a hit at k iff rank < k.
It runs on the features' device; on CUDA the similarity matmul is full fp32 (TF32 off for it: a 10-bit mantissa can
swap near-tied neighbours), still well under a second for a 9.5k x 3.8k search at d=9,216.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from protocols.registry import EvalInputs, Outcome, Protocol, register
from runtime import recipes


def topk_retrieval(
    query: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks=(1, 5, 10, 20, 50),
    chunk: int = 4096,
) -> dict[str, float]:
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"features must be [N, D] with the same D, got {tuple(query.shape)} and {tuple(gallery.shape)}"
        )
    if len(query) != len(query_labels) or len(gallery) != len(gallery_labels):
        raise ValueError("one label per feature row is required")
    if not len(query) or not len(gallery):
        raise ValueError(f"no {'queries' if not len(query) else 'gallery videos'} to retrieve with")
    ks = sorted(int(k) for k in ks)
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be integers >= 1, got {ks}")
    q = F.normalize(query.float(), dim=1)
    g = F.normalize(gallery.float(), dim=1)
    if not (torch.isfinite(q).all() and torch.isfinite(g).all()):
        raise ValueError("features must be finite (a NaN similarity would rank anywhere)")
    gallery_labels, query_labels = gallery_labels.to(g.device), query_labels.to(g.device)
    position = torch.arange(len(g), device=g.device)
    hits = torch.zeros(len(ks), dtype=torch.long)
    for i in range(0, len(q), chunk):
        sim = _exact_matmul(q[i : i + chunk], g.T)
        same = gallery_labels[None, :] == query_labels[i : i + chunk, None]
        present = same.any(1)  # a query whose class has no gallery video is a miss at every k
        best = torch.where(same, sim, torch.full_like(sim, -torch.inf)).amax(1, keepdim=True)
        # the first same-class video in the ranking: the highest similarity, the lowest index among its ties
        at_best = same & (sim == best)
        first = at_best.int().argmax(1, keepdim=True)  # argmax returns the first maximal index
        rank = (sim > best).sum(1) + ((sim == best) & (position < first)).sum(1)
        for j, k in enumerate(ks):
            hits[j] += int((present & (rank < k)).sum())
    return {f"top{k}": hits[j].item() / len(q) for j, k in enumerate(ks)}


def _exact_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if not a.is_cuda:
        return a @ b
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return a @ b
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


@register("retrieval")
class Retrieval(Protocol):
    """Test videos query the official train list (our train + val parts) with the retrieval features."""

    @classmethod
    def settings(cls, cfg) -> dict:
        """``protocol.retrieval`` with the pooling kernel the recipe uses (runtime.recipes.retrieval_kernel)."""
        return {
            "ks": list(cfg.protocol.retrieval.ks),
            "chunk": int(cfg.protocol.retrieval.chunk),
            "kernel": list(recipes.retrieval_kernel(cfg)),
        }

    def run(self, x: EvalInputs) -> Outcome:
        f, es = x.features, x.evalset
        gallery = torch.cat([f["train"]["retrieval"], f["val"]["retrieval"]])
        g_labels = torch.cat([f["train"]["labels"], f["val"]["labels"]])
        query, q_labels = f["test"]["retrieval"], f["test"]["labels"]
        if len(gallery) != len(es.gallery) or len(query) != len(es.test):
            raise RuntimeError(
                f"retrieval counted {len(query)} queries / {len(gallery)} gallery videos; "
                f"the split has {len(es.test)} / {len(es.gallery)}"
            )
        metrics = topk_retrieval(
            *(t.to(x.device) for t in (query, q_labels, gallery, g_labels)), x.settings["ks"], x.settings["chunk"]
        )
        return Outcome(
            metrics,
            len(query),
            {
                "n_gallery": len(gallery),
                "retrieval_kernel": x.settings["kernel"],
                "retrieval_dim": int(gallery.shape[1]),
            },
        )
