"""TCGL (Liu et al., TIP 2022): temporal contrastive graphs + adaptive snippet order prediction.

Per sample: K snippets (default 3 x 16 frames) in temporal order from ``ClipTuple``; the method shuffles them.
- STKD (temporal DCT filter) on every snippet, and on every frame-set over its own frames.
- Intra-snippet graphs: each snippet cut into ``num_framesets`` frame-sets, nodes chained by frame order.
- Inter-snippet graph: snippet nodes joined when their clips are temporally adjacent.
- Two views per graph (view 2: directed edge dropping + feature masking), one-layer GCNs, a shared
  projection head and GRACE InfoNCE.
- ASOP predicts which of the K! orders the shuffled snippets are in.
See ``methods/tcgl/README.md`` for paper / released code / ours, component by component.

Randomness: a sample's permutation, feature masks and (per-sample) edge drops are functions of its
``batch["sample_seed"]`` (see ``methods.ordering.sample_uniform``; one stream per kind of draw, below), so a
multi-process run draws for every sample what one process draws; in training with ``negatives='batch'`` the
negatives are gathered over the ranks (``methods.losses.grace_loss(gather=True)``). What stays per rank:
``intra_edge_mask_shared=true`` (one mask per rank's batch, as the released code's per-replica mask under
DataParallel) and the ASOP dropout masks (as any dropout under DDP). A batch without ``sample_seed`` (hand-made)
draws everything from torch's global RNG.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from methods.backbones import Backbone
from methods.base import Augmentation, MethodOutput, PretextMethod
from methods.losses import classification_loss, grace_loss, top1_accuracy, weighted_sum
from methods.ordering import gather_items, random_permutations
from methods.registry import register
from methods.tcgl.asop import ASOPHead
from methods.tcgl.graph import (
    DenseGCNConv,
    chain_adjacency,
    drop_edges,
    mask_features,
    normalize_adjacency,
    temporal_adjacency,
)
from methods.tcgl.stkd import STKD

# ASOP's input: "none" = the encoder's snippet features; "positions" = the inter GCN over a chain of the input
# positions; "true_order" = the released graph (leaks the label). A fully connected graph is not offered: with
# self-loops its normalised adjacency is J/K, which gives every node the same mean feature (order-blind).
ASOP_GRAPHS = ("none", "positions", "true_order")

# Streams of the per-sample random draws (methods.ordering.sample_uniform): the order, and for each graph view its
# feature mask (stream s) and edge drops (stream s + 1).
STREAM_ORDER = 0
STREAM_INTER = 1  # 1, 2
STREAM_INTRA = 3  # position p: 3 + 2p, 4 + 2p


@register("tcgl")
class TCGL(PretextMethod):
    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        num_clips: int = 3,
        clip_len: int = 16,
        gap: int = 8,
        num_framesets: int = 4,
        stkd: str = "dc",
        stkd_low_fraction: float = 0.25,
        stkd_low_gain: float = 0.5,
        stkd_rgb_weight: float = 0.0,
        edge_drop: float = 0.2,
        feature_mask: float = 0.1,
        augment_in_eval: bool = False,
        intra_edge_mask_shared: bool = False,
        intra_gcn_per_position: bool = True,
        proj_dim: int | None = None,
        tau: float = 0.5,
        negatives: str = "batch",
        asop_graph: str = "none",
        asop_hidden: int = 512,
        asop_dropout: float = 0.5,
        se_reduction: int = 6,
        w_intra: float = 1.0,
        w_inter: float = 1.0,
        w_order: float = 1.0,
        colour_jitter: bool = False,
        mirror: bool = False,
    ):
        super().__init__(backbone)
        if asop_graph not in ASOP_GRAPHS:
            raise ValueError(f"asop_graph must be one of {ASOP_GRAPHS}, got {asop_graph!r}")
        if negatives not in ("graph", "batch"):
            raise ValueError(f"negatives must be 'graph' or 'batch', got {negatives!r}")
        if clip_len % num_framesets:
            raise ValueError(f"clip_len={clip_len} is not divisible by num_framesets={num_framesets}")
        if num_clips < 2:
            raise ValueError("TCGL needs at least 2 snippets")
        d = backbone.feat_dim
        self.num_clips, self.clip_len, self.gap = int(num_clips), int(clip_len), int(gap)
        self.num_framesets = int(num_framesets)
        self.stkd = STKD(stkd, stkd_low_fraction, stkd_low_gain, stkd_rgb_weight)
        self.edge_drop, self.feature_mask = float(edge_drop), float(feature_mask)
        self.augment_in_eval = bool(augment_in_eval)
        self.intra_edge_mask_shared = bool(intra_edge_mask_shared)
        self.tau, self.negatives, self.asop_graph = float(tau), negatives, asop_graph
        self.colour_jitter, self.mirror = bool(colour_jitter), bool(mirror)
        self.weights = {"intra": float(w_intra), "inter": float(w_inter), "order": float(w_order)}
        n_intra = self.num_clips if intra_gcn_per_position else 1
        self.intra_gcns = nn.ModuleList(DenseGCNConv(d, d) for _ in range(n_intra))
        self.inter_gcn = DenseGCNConv(d, d)
        p = int(proj_dim or d)
        self.projector = nn.Sequential(nn.Linear(d, p), nn.ELU(), nn.Linear(p, p))
        self.asop = ASOPHead(self.num_clips, d, hidden=asop_hidden, dropout=asop_dropout, reduction=se_reduction)

    # -- data ----------------------------------------------------------------------------------------------------
    def sampler(self):
        from datasets.samplers import ClipTuple

        return ClipTuple(num_clips=self.num_clips, clip_len=self.clip_len, gap=self.gap)

    def augmentation(self) -> Augmentation:
        """As released: a random crop per snippet, no colour jitter (a ColorJitter is built but never applied), no
        mirroring; ``colour_jitter`` / ``mirror`` switch on ``input.jitter`` / ``input.flip``."""
        return Augmentation(colour=self.colour_jitter, mirror=self.mirror)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """STKD over the T axis of ``[..., C, T, H, W]`` (also applied by protocols at evaluation)."""
        return self.stkd(x)

    def eval_transform(self) -> dict:
        return self.stkd.describe()

    def pretext_chance(self) -> float:
        return 1.0 / math.factorial(self.num_clips)  # ASOP: one of K! orders

    # -- pieces --------------------------------------------------------------------------------------------------
    @property
    def augmenting(self) -> bool:
        return self.training or self.augment_in_eval

    def frameset_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, K, C, T, H, W]`` -> ``[B, K, S, D]``: STKD per frame-set, one backbone call of ``B*K*S`` clips."""
        b, k, c, t, h, w = x.shape
        s = self.num_framesets
        if t % s:
            raise ValueError(f"clip length {t} is not divisible by num_framesets={s}")
        sets = x.reshape(b, k, c, s, t // s, h, w).transpose(2, 3)  # [B, K, S, C, T/S, H, W]
        sets = self.stkd(sets)  # each frame-set over its own frames
        return self.encode_items(sets.flatten(1, 2)).view(b, k, s, -1)

    def encode_tuple(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Snippet features ``[B, K, D]`` and frame-set features ``[B, K, S, D]`` of ``x [B, K, C, T, H, W]``.

        ``backbone_calls='batched'``: two backbone calls (all B*K snippets, all B*K*S frame-sets).
        ``'per_position'``: the released order of 1 + S calls of B clips per position (snippet p, then its frame-sets
        0..S-1, then snippet p + 1, ...), so that BatchNorm's batch and running statistics are the release's."""
        if self.backbone_calls != "per_position":
            return self.encode_items(self.preprocess(x)), self.frameset_features(x)
        b, k, c, t, h, w = x.shape
        s = self.num_framesets
        if t % s:
            raise ValueError(f"clip length {t} is not divisible by num_framesets={s}")
        n = t // s
        snips, sets = [], []
        for p in range(k):
            snips.append(self.encoder(self.encoder.fit_time(self.preprocess(x[:, p]))))
            per_set = [
                self.encoder(self.encoder.fit_time(self.stkd(x[:, p, :, j * n : (j + 1) * n]))) for j in range(s)
            ]
            sets.append(torch.stack(per_set, 1))
        return torch.stack(snips, 1), torch.stack(sets, 1)

    def augment(
        self, h: torch.Tensor, adj: torch.Tensor, shared_edges: bool, seeds: torch.Tensor | None = None, stream: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """View 2 of a batch of graphs: feature masking and directed edge dropping (identity when not augmenting).
        ``seeds [B]``: graph b's masks are functions of ``(seeds[b], stream)`` (features) and ``(seeds[b],
        stream + 1)`` (edges, unless ``shared_edges``); None: torch's global RNG."""
        if not self.augmenting:
            return h, adj
        return (
            mask_features(h, self.feature_mask, seeds, stream),
            drop_edges(adj, self.edge_drop, shared=shared_edges, seeds=seeds, stream=stream + 1),
        )

    def _two_views(
        self,
        gcn: DenseGCNConv,
        h: torch.Tensor,
        adj: torch.Tensor,
        shared_edges: bool,
        seeds: torch.Tensor | None = None,
        stream: int = 0,
    ):
        """GCN outputs of the unaugmented view 1 and the augmented view 2."""
        h2, adj2 = self.augment(h, adj, shared_edges, seeds, stream)
        return gcn(h, normalize_adjacency(adj)), gcn(h2, normalize_adjacency(adj2))

    def intra_loss(self, fs_feats: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """Contrastive loss of the K intra-snippet chain graphs, ``fs_feats [B, K, S, D]``; ``seeds [B]``: the
        samples' seeds of the graph views (``batch["sample_seed"]``)."""
        b, k, s, _ = fs_feats.shape
        adj = chain_adjacency(s, fs_feats.device).expand(b, s, s)
        views1, views2 = [], []
        for pos in range(k):  # one GCN per input position (K = 3), batched over the samples
            gcn = self.intra_gcns[pos if len(self.intra_gcns) > 1 else 0]
            v1, v2 = self._two_views(
                gcn, fs_feats[:, pos], adj, self.intra_edge_mask_shared, seeds, STREAM_INTRA + 2 * pos
            )
            views1.append(v1)
            views2.append(v2)
        z1 = self.projector(torch.stack(views1, 1).flatten(0, 1))  # [B*K, S, P]
        z2 = self.projector(torch.stack(views2, 1).flatten(0, 1))
        return grace_loss(z1, z2, self.tau, self.negatives, gather=self.training)

    def inter_loss(
        self, snip_feats: torch.Tensor, perms: torch.Tensor, seeds: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Contrastive loss of the inter-snippet graph; also returns the view-1 GCN output ``[B, K, D]``."""
        v1, v2 = self._two_views(self.inter_gcn, snip_feats, temporal_adjacency(perms), False, seeds, STREAM_INTER)
        loss = grace_loss(self.projector(v1), self.projector(v2), self.tau, self.negatives, gather=self.training)
        return loss, v1

    def asop_adjacency(self, perms: torch.Tensor) -> torch.Tensor:
        """Graph over the input positions for the inter GCN in front of ASOP (``asop_graph`` positions or
        true_order; ``none`` uses no graph): ``[B, K, K]``."""
        b, k = perms.shape
        if self.asop_graph == "true_order":
            return temporal_adjacency(perms)
        return chain_adjacency(k, perms.device).expand(b, k, k)

    def order_logits(
        self, snip_feats: torch.Tensor, perms: torch.Tensor, inter_view1: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ASOP logits ``[B, K!]`` from snippet features ``[B, K, D]`` in input-position order.

        ``asop_graph='none'``: ASOP sees the encoder's snippet features. Otherwise the inter-snippet GCN is applied
        over :meth:`asop_adjacency`; with ``'true_order'`` that is the contrastive view 1 (``inter_view1``, reused
        when given), as in the released code.
        """
        if self.asop_graph == "none":
            h = snip_feats
        elif self.asop_graph == "true_order" and inter_view1 is not None:
            h = inter_view1
        else:
            h = self.inter_gcn(snip_feats, normalize_adjacency(self.asop_adjacency(perms)))
        return self.asop(h)

    # -- training step -------------------------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch, self.num_clips)
        b, k = clips.shape[:2]
        seeds = batch.get("sample_seed")  # per-sample draws (None: torch's global RNG)
        perms, labels = random_permutations(b, k, clips.device, seeds, STREAM_ORDER)
        x = gather_items(clips, perms)  # position p holds clip perms[:, p]
        snip_feats, fs_feats = self.encode_tuple(x)
        l_intra = self.intra_loss(fs_feats, seeds)
        l_inter, inter_v1 = self.inter_loss(snip_feats, perms, seeds)
        logits = self.order_logits(snip_feats, perms, inter_v1)
        l_order = classification_loss(logits, labels)
        terms = {"intra": l_intra, "inter": l_inter, "order": l_order}
        loss = weighted_sum(terms, self.weights)
        acc = top1_accuracy(logits, labels)
        logs = {f"loss_{name}": v.detach() for name, v in terms.items()}
        logs["acc_order"] = acc
        return MethodOutput(loss=loss, accuracy=acc, logs=logs)
