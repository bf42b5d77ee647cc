"""Full fine-tuning from the pretrained encoder (VCOP-lineage protocol).

The whole network trains: one random clip per training video per epoch with the training augmentation, SGD with
momentum, cosine schedule. After every epoch the validation split (``val_clips`` uniform clips per video) selects the
model; the selected weights are then tested once with ``eval.clips_per_video`` uniformly spaced centre-cropped clips
per video, logits averaged. Top-1 and top-5. The method's evaluation-time input transform (e.g. TCGL's STKD) is
applied before the encoder, as the released code does.

In a multi-process run the classifier trains in DistributedDataParallel on each global batch split across the ranks
(as pretraining does), and the validation and test logits are gathered from every rank's share of the videos, every
video exactly once, so every rank selects the same epoch. BatchNorm statistics are per rank here.
"""
from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from datasets.samplers import SingleClip, UniformClips
from protocols import distributed as dist
from protocols import engine
from protocols.linear import topk_correct

log = logging.getLogger(__name__)


class Classifier(nn.Module):
    def __init__(self, encoder, preprocess, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.preprocess = preprocess
        self.head = nn.Linear(encoder.feat_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, T, H, W]
        return self.head(self.encoder(self.encoder.fit_time(self.preprocess(x))))


@torch.no_grad()
def video_logits(model: Classifier, loader, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits averaged over each video's clips, for every video of the loader's dataset (gathered from all ranks)."""
    model.eval()
    out, labels, index = [], [], []
    for batch in loader:
        if batch["clips"] is None or batch["n_skipped"]:
            raise RuntimeError("evaluation videos must never be skipped")
        clips = engine.to_device(batch, device, loader.dataset.finish)["clips"]
        b, n = clips.shape[:2]
        with engine.autocast(device):
            logits = model(clips.flatten(0, 1))
        out.append(logits.float().view(b, n, -1).mean(1).cpu())
        labels.append(batch["label"])
        index.append(batch["index"])
    mine = {"logits": torch.cat(out), "labels": torch.cat(labels), "index": torch.cat(index)} if out else None
    got = dist.gather_videos(mine, len(loader.dataset))
    return got["logits"], got["labels"]


def finetune(method, evalset, cfg, device, seed: int, make_dataset) -> dict[str, float]:
    """``make_dataset(entries, sampler, train)`` builds a ClipDataset with the run's transforms."""
    p = cfg.protocol.finetune
    model = Classifier(copy.deepcopy(method.encoder), method.preprocess, evalset.index.num_classes).to(device)
    engine.seed_everything(seed, 10_000)
    nn.init.normal_(model.head.weight, std=0.01)
    nn.init.zeros_(model.head.bias)
    train_ds = make_dataset(evalset.train, SingleClip(int(p.clip_len)), True)
    val_ds = make_dataset(evalset.val, UniformClips(int(p.val_clips), int(p.clip_len)), False)
    test_ds = make_dataset(evalset.test, UniformClips(int(cfg.eval.clips_per_video), int(p.clip_len)), False)
    opt = engine.make_optimizer(model, float(p.lr), float(p.momentum), float(p.weight_decay))
    sched = engine.make_scheduler(opt, int(p.epochs), int(p.warmup_epochs), float(p.lr))
    workers, bs = int(cfg.eval.num_workers), int(p.batch_size)
    trained = dist.wrap(model, device)  # DistributedDataParallel with several processes, ``model`` itself otherwise
    best = (-1.0, -1, None)
    n_skipped = 0
    train_loader = engine.EpochLoader(train_ds, bs, True, seed, workers, device)  # workers live across epochs
    val_loader = engine.EpochLoader(val_ds, bs, False, 0, workers, device, evaluation=True)
    for epoch in range(int(p.epochs)):
        engine.seed_everything(*dist.seed_parts(seed, 10_000 + epoch))
        sched.step(epoch)
        trained.train()
        loader = train_loader.epoch(epoch)
        for step, batch in enumerate(tqdm(loader, desc=f"finetune {evalset.label} epoch {epoch + 1}", leave=False,
                                          disable=None if dist.is_main() else True)):
            n_skipped += batch["n_skipped"]
            b = 0 if batch["clips"] is None else batch["clips"].shape[0]
            n_step, weight = dist.step_weight(b)
            if n_step == 0:
                continue
            if b == 0:  # other ranks have samples in this step: take part with weight 0
                batch = engine.stand_in(train_ds, loader.global_batches[step])
            batch = engine.to_device(batch, device, train_ds.finish)
            with engine.autocast(device), dist.stand_in_step(b == 0):
                loss = F.cross_entropy(trained(batch["clips"][:, 0]).float(), batch["label"])
            if not dist.all_finite(loss):
                raise RuntimeError(f"non-finite fine-tuning loss at epoch {epoch + 1}; lower protocol.finetune.lr")
            opt.zero_grad(set_to_none=True)
            (loss if weight == 1.0 else loss * weight).backward()
            opt.step()
        dist.sync_buffers(model)  # every rank validates (and keeps) rank 0's BatchNorm statistics
        if len(val_ds):
            logits, labels = video_logits(model, val_loader.epoch(0), device)
            acc = topk_correct(logits, labels, 1)
        else:
            acc = 0.0
        log.info("finetune %s epoch %d: val top-1 %.3f", evalset.label, epoch + 1, acc)
        if acc > best[0]:
            best = (acc, epoch + 1, copy.deepcopy(model.state_dict()))
    train_loader.close()
    val_loader.close()
    model.load_state_dict(best[2])
    logits, labels = video_logits(model, engine.make_eval_loader(test_ds, bs, workers, device), device)
    if len(labels) != len(evalset.test):
        raise RuntimeError(f"fine-tune test scored {len(labels)} videos, the split has {len(evalset.test)}")
    return {"top1": topk_correct(logits, labels, 1), "top5": topk_correct(logits, labels, 5),
            "val_top1": best[0], "selected_epoch": float(best[1]),
            "train_skipped": dist.all_reduce_sum([float(n_skipped)])[0]}
