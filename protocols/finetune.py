"""Full fine-tuning from the pretrained encoder (VCOP-lineage protocol).

The whole network trains: one random clip per training video per epoch. After every epoch the validation split
selects the model; the selected weights are then tested once with ``eval.clips_per_video`` uniformly spaced
centre-cropped clips per video, logits averaged. Top-1 and top-5. The method's evaluation-time input transform (e.g.
TCGL's STKD) is applied before the encoder, as the released code does. Two recipes (``recipe.finetune``,
runtime/recipes.py ``finetune_settings``):

- ``suite``: ``protocol.finetune``; SGD with Nesterov momentum, warm-up + cosine; the training augmentation (colour
  jitter, flips where the dataset allows); the epoch with the best validation top-1 on ``val_clips`` uniform clips per
  video is kept.
- ``released`` (the method's ``released.finetune``): plain SGD (VCOP: two parameter groups), constant lr (VCOP) or
  ReduceLROnPlateau on the validation loss (TCGL); random crop only; the epoch with the lowest validation loss on one
  random clip per video (drawn anew every epoch, as the release's validation split of the training dataset) is kept.

In a multi-process run the classifier trains in DistributedDataParallel on each global batch split across the ranks
(as pretraining does), and the validation and test logits are gathered from every rank's share of the videos, every
video exactly once, so every rank selects the same epoch. BatchNorm statistics are per rank here.
"""

from __future__ import annotations

import copy
import logging
import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from datasets.samplers import SingleClip, UniformClips
from methods.base import Augmentation
from protocols.linear import topk_correct
from protocols.registry import EvalInputs, Outcome, Protocol, register
from runtime import distributed as dist
from runtime import engine, recipes

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
def video_logits(model: Classifier, loader, device, precision: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Logits averaged over each video's clips, for every video of the loader's dataset (gathered from all ranks);
    ``precision``: ``engine.eval_autocast``."""
    model.eval()
    out, labels, index = [], [], []
    for batch in loader:
        if batch["clips"] is None or batch["n_skipped"]:
            raise RuntimeError("evaluation videos must never be skipped")
        clips = engine.to_device(batch, device, loader.dataset.finish)["clips"]
        b, n = clips.shape[:2]
        with engine.eval_autocast(device, precision):
            logits = model(clips.flatten(0, 1))
        out.append(logits.float().view(b, n, -1).mean(1).cpu())
        labels.append(batch["label"])
        index.append(batch["index"])
    mine = {"logits": torch.cat(out), "labels": torch.cat(labels), "index": torch.cat(index)} if out else None
    got = dist.gather_videos(mine, len(loader.dataset))
    return got["logits"], got["labels"]


def settings(cfg) -> dict:
    """The fine-tuning settings of a run: the recipe's (runtime.recipes.finetune_settings) plus the evaluation's
    precision, loader workers and test clips."""
    return recipes.finetune_settings(cfg) | {
        "precision": str(cfg.recipe.eval_precision),
        "workers": int(cfg.eval.num_workers),
        "test_clips": int(cfg.eval.clips_per_video),
        "clip_starts": str(cfg.recipe.test_clip_starts),
    }


def _cross_entropy(model, batch: dict) -> torch.Tensor:
    """The fine-tuning loss of a batch of single clips (runtime.engine.train_step's ``forward``)."""
    return F.cross_entropy(model(batch["clips"][:, 0]).float(), batch["label"])


def finetune(method, evalset, p: dict, device, seed: int, make_dataset) -> dict[str, float]:
    """``p``: :func:`settings`; ``make_dataset(entries, sampler, train, augment=None)`` builds a ClipDataset with the
    run's transforms."""
    released = p["select"] == "val_loss"
    precision = p["precision"]
    model = Classifier(copy.deepcopy(method.encoder), method.preprocess, evalset.index.num_classes).to(device)
    engine.seed_everything(seed, 10_000)
    if released:  # the release's nn.Linear keeps PyTorch's default initialisation
        model.head.reset_parameters()
    else:
        nn.init.normal_(model.head.weight, std=0.01)
        nn.init.zeros_(model.head.bias)
    crop_only = Augmentation(colour=False, mirror=False) if p["augment"] == "crop" else None

    def uniform(clip_len: int, num_clips: int | None = None) -> UniformClips:
        return UniformClips(int(num_clips or p["test_clips"]), int(clip_len), starts=p["clip_starts"])

    train_ds = make_dataset(evalset.train, SingleClip(int(p["clip_len"])), True, crop_only)
    if released:  # one random clip and crop per video, as the release's validation split of its training dataset
        val_ds = make_dataset(evalset.val, SingleClip(int(p["clip_len"])), True, crop_only)
    else:
        val_ds = make_dataset(evalset.val, uniform(int(p["clip_len"]), int(p["val_clips"])), False)
    test_ds = make_dataset(evalset.test, uniform(int(p["clip_len"])), False)
    opt, sched = recipes.finetune_optimizer(model, p)
    workers, bs = p["workers"], int(p["batch_size"])
    trained = dist.wrap(model, device)  # DistributedDataParallel with several processes, ``model`` itself otherwise
    best = (-math.inf, -1, None)  # (score, epoch, weights): score = val top-1, or minus the val loss (released)
    n_skipped = 0
    train_loader = engine.EpochLoader(train_ds, bs, True, seed, workers, device)  # workers live across epochs
    val_loader = engine.EpochLoader(val_ds, bs, False, 0, workers, device, evaluation=True)
    for epoch in range(int(p["epochs"])):
        engine.seed_everything(*dist.seed_parts(seed, 10_000 + epoch))
        sched.begin(epoch)
        trained.train()
        loader = train_loader.epoch(epoch)

        def check_loss(loss: torch.Tensor, epoch: int = epoch) -> None:
            if not dist.all_finite(loss):
                raise RuntimeError(f"non-finite fine-tuning loss at epoch {epoch + 1}; lower protocol.finetune.lr")

        for step, batch in enumerate(
            tqdm(
                loader,
                desc=f"finetune {evalset.label} epoch {epoch + 1}",
                leave=False,
                disable=None if dist.is_main() else True,
            )
        ):
            n_skipped += batch["n_skipped"]
            b = 0 if batch["clips"] is None else batch["clips"].shape[0]
            n_step, weight = dist.step_weight(b)
            if n_step == 0:
                continue
            if b == 0:  # other ranks have samples in this step: take part with weight 0
                batch = engine.stand_in(train_ds, loader.global_batches[step])
            engine.train_step(
                trained, batch, opt, device, weight, b == 0, check_loss, train_ds.finish, forward=_cross_entropy
            )
        dist.sync_buffers(model)  # every rank validates (and keeps) rank 0's BatchNorm statistics
        acc, val_loss = 0.0, math.nan
        if len(val_ds):
            logits, labels = video_logits(model, val_loader.epoch(epoch if released else 0), device, precision)
            acc, val_loss = topk_correct(logits, labels, 1), float(F.cross_entropy(logits, labels))
        sched.end(epoch, {"val_loss": val_loss})
        log.info("finetune %s epoch %d: val top-1 %.3f, loss %.4f", evalset.label, epoch + 1, acc, val_loss)
        score = -val_loss if released else acc
        if score > best[0] or best[2] is None:  # strictly better: the first of equal epochs, as the release
            best = (score, epoch + 1, copy.deepcopy(model.state_dict()))
            best_val = (acc, val_loss)
    train_loader.close()
    val_loader.close()
    model.load_state_dict(best[2])
    logits, labels = video_logits(model, engine.make_eval_loader(test_ds, bs, workers, device), device, precision)
    if len(labels) != len(evalset.test):
        raise RuntimeError(f"fine-tune test scored {len(labels)} videos, the split has {len(evalset.test)}")
    return {
        "top1": topk_correct(logits, labels, 1),
        "top5": topk_correct(logits, labels, 5),
        "val_top1": best_val[0],
        "val_loss": best_val[1],
        "selected_epoch": float(best[1]),
        "train_skipped": dist.all_reduce_sum([float(n_skipped)])[0],
    }


@register("finetune")
class FineTune(Protocol):
    uses_features = False
    all_ranks = True  # DistributedDataParallel over every rank's share of each batch

    @classmethod
    def settings(cls, cfg) -> dict:
        return settings(cfg)

    def run(self, x: EvalInputs) -> Outcome:
        metrics = finetune(x.method, x.evalset, x.settings, x.device, x.seed, x.make_dataset)
        return Outcome(metrics, len(x.evalset.test))
