"""Linear probe on frozen, cached features.

A linear classifier is trained on the clip features of the train split (every clip of every video is a training
example), features standardised with the train statistics. The weight decay and the epoch are selected on the
validation split's video-level accuracy; the test split is then evaluated once, at clip level and at video level
(softmax averaged over the video's clips). Top-1 and top-5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from protocols.registry import EvalInputs, Outcome, Protocol, register


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item()


def video_probs(clf: torch.nn.Linear, feats: torch.Tensor) -> torch.Tensor:
    """[N, n_clips, D] -> softmax averaged over clips, [N, classes]."""
    return F.softmax(clf(feats), dim=-1).mean(1)


def linear_probe(
    train: tuple, val: tuple, test: tuple, num_classes: int, cfg, seed: int, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """``train``/``val``/``test`` are (features [N, n_clips, D], labels [N]). Returns the test metrics."""
    # The test split is not touched (not even moved or standardised) until the selection is over.
    (xtr, ytr), (xva, yva) = ((x.to(device), y.to(device)) for x, y in (train, val))
    mean, std = xtr.flatten(0, 1).mean(0), xtr.flatten(0, 1).std(0) + 1e-6
    xtr, xva = ((x - mean) / std for x in (xtr, xva))
    n_clips = xtr.shape[1]
    clip_x, clip_y = xtr.flatten(0, 1), ytr.repeat_interleave(n_clips)
    best = (-1.0, None, None)  # (val acc, weight decay, state)
    for wd in cfg.weight_decays:
        g = torch.Generator().manual_seed(seed)
        clf = torch.nn.Linear(xtr.shape[-1], num_classes)
        torch.nn.init.normal_(clf.weight, std=0.01, generator=g)
        clf.to(device)
        torch.nn.init.zeros_(clf.bias)
        opt = torch.optim.SGD(clf.parameters(), lr=float(cfg.lr), momentum=float(cfg.momentum), weight_decay=float(wd))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, int(cfg.epochs))
        for epoch in range(int(cfg.epochs)):
            order = torch.randperm(len(clip_x), generator=g).to(device)
            for i in range(0, len(order), int(cfg.batch_size)):  # every example, no drop_last
                idx = order[i : i + int(cfg.batch_size)]
                loss = F.cross_entropy(clf(clip_x[idx]), clip_y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
            if (epoch + 1) % int(cfg.eval_every) == 0 or epoch + 1 == int(cfg.epochs):
                with torch.no_grad():
                    acc = topk_correct(video_probs(clf, xva), yva, 1) if len(yva) else 0.0
                if acc > best[0]:
                    best = (acc, (float(wd), epoch + 1), {k: v.clone() for k, v in clf.state_dict().items()})
    clf = torch.nn.Linear(xtr.shape[-1], num_classes).to(device)
    clf.load_state_dict(best[2])
    xte, yte = test[0].to(device), test[1].to(device)
    xte = (xte - mean) / std
    with torch.no_grad():
        clip_logits = clf(xte.flatten(0, 1))
        vid = video_probs(clf, xte)
    yclip = yte.repeat_interleave(xte.shape[1])
    return {
        "top1": topk_correct(vid, yte, 1),
        "top5": topk_correct(vid, yte, 5),
        "clip_top1": topk_correct(clip_logits, yclip, 1),
        "clip_top5": topk_correct(clip_logits, yclip, 5),
        "val_top1": best[0],
        "selected_weight_decay": best[1][0],
        "selected_epoch": float(best[1][1]),
    }


@register("linear")
class LinearProbe(Protocol):
    def run(self, x: EvalInputs) -> Outcome:
        f = x.features
        metrics = linear_probe(
            *((f[p]["pooled"], f[p]["labels"]) for p in ("train", "val", "test")),
            num_classes=x.evalset.index.num_classes,
            cfg=x.settings,
            seed=x.seed,
            device=x.device,
        )
        return Outcome(metrics, len(f["test"]["labels"]))
