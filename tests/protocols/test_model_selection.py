"""Model selection of the linear probe and of fine-tuning uses the validation split only; the test split is read
once, after the selection is over.

The data are planted so that the choice that is best on validation and the one that is best on test differ: the
test split holds the validation videos with every label shifted by one class (a derangement), so a model that is
right on a validation video is wrong on its test copy, and the test-best checkpoint is another one. A protocol
that selected on the test split (or peeked at it) would then report another weight decay / epoch and other test
metrics.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from methods.backbones.tiny import Tiny3D
from protocols import finetune as finetune_mod
from protocols.linear import linear_probe, topk_correct, video_probs

K = 3  # classes

# ------------------------------------------------------------------------------------------------ linear probe

LINEAR_CFG = SimpleNamespace(
    weight_decays=[0.0, 0.03, 0.3], lr=0.1, momentum=0.9, batch_size=16, epochs=12, eval_every=3
)


def _features(n: int, g: torch.Generator, n_clips: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, n_clips, 2K] features: the class one-hot plus a large shared nuisance ``z`` in the first K dimensions, ``z``
    alone in the last K. Separable only through the difference of the two halves, so the classifier needs epochs
    (and little weight decay) to fit it: early / strongly decayed checkpoints are worse on validation."""
    y = torch.arange(n) % K
    z = 1.5 * torch.randn(n, 1, K, generator=g)
    x = torch.cat([F.one_hot(y, K).float()[:, None, :] + z, z], -1).expand(n, n_clips, 2 * K)
    return x + 0.05 * torch.randn(x.shape, generator=g), y


@pytest.fixture(scope="module")
def planted_features():
    g = torch.Generator().manual_seed(0)
    train, val = _features(60, g), _features(30, g)
    test = (val[0].clone(), (val[1] + 1) % K)  # the validation videos, every label moved to the next class
    return train, val, test


def _reference_checkpoints(train, val, test, cfg, seed: int) -> list[dict]:
    """Every (weight decay, epoch) checkpoint the linear probe evaluates, trained here independently as the protocol
    specifies (train statistics, seeded init and order, SGD + cosine): its video-level validation top-1 and the
    test metrics of that very model."""
    (xtr, ytr), (xva, yva), (xte, yte) = train, val, test
    mean, std = xtr.flatten(0, 1).mean(0), xtr.flatten(0, 1).std(0) + 1e-6
    xtr, xva, xte = ((x - mean) / std for x in (xtr, xva, xte))
    clip_x, clip_y = xtr.flatten(0, 1), ytr.repeat_interleave(xtr.shape[1])
    rows = []
    for wd in cfg.weight_decays:
        g = torch.Generator().manual_seed(seed)
        clf = torch.nn.Linear(xtr.shape[-1], K)
        torch.nn.init.normal_(clf.weight, std=0.01, generator=g)
        torch.nn.init.zeros_(clf.bias)
        opt = torch.optim.SGD(clf.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
        for epoch in range(cfg.epochs):
            order = torch.randperm(len(clip_x), generator=g)
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                loss = F.cross_entropy(clf(clip_x[idx]), clip_y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                with torch.no_grad():
                    vid, clip = video_probs(clf, xte), clf(xte.flatten(0, 1))
                    yclip = yte.repeat_interleave(xte.shape[1])
                    rows.append(
                        {
                            "choice": (float(wd), float(epoch + 1)),
                            "val_top1": topk_correct(video_probs(clf, xva), yva, 1),
                            "top1": topk_correct(vid, yte, 1),
                            "top5": topk_correct(vid, yte, 5),
                            "clip_top1": topk_correct(clip, yclip, 1),
                            "clip_top5": topk_correct(clip, yclip, 5),
                        }
                    )
    return rows


def _first_best(rows: list[dict], key: str) -> dict:
    return max(rows, key=lambda r: r[key])  # max keeps the first of equals, as a strict ">" update does


def test_linear_probe_selects_weight_decay_and_epoch_on_validation(planted_features):
    train, val, test = planted_features
    rows = _reference_checkpoints(train, val, test, LINEAR_CFG, seed=0)
    on_val, on_test = _first_best(rows, "val_top1"), _first_best(rows, "top1")
    # the planted data: validation and test prefer another weight decay and another epoch
    assert on_val["choice"][0] != on_test["choice"][0] and on_val["choice"][1] != on_test["choice"][1]
    assert on_test["top1"] > on_val["top1"]

    out = linear_probe(train, val, test, num_classes=K, cfg=LINEAR_CFG, seed=0)

    assert (out["selected_weight_decay"], out["selected_epoch"]) == on_val["choice"]
    assert out["val_top1"] == on_val["val_top1"]
    # the reported test metrics are those of the validation-selected model
    assert {k: out[k] for k in ("top1", "top5", "clip_top1", "clip_top5")} == {
        k: on_val[k] for k in ("top1", "top5", "clip_top1", "clip_top5")
    }


def test_linear_probe_derangement_without_a_reference(planted_features):
    """Independent of the training recipe: the selected model fits every validation video, so it misses every test
    copy (shifted labels), although another checkpoint does score on the test split."""
    train, val, test = planted_features
    out = linear_probe(train, val, test, num_classes=K, cfg=LINEAR_CFG, seed=0)
    assert out["val_top1"] == 1.0
    assert out["top1"] == 0.0
    # the same probe selecting on the shifted labels finds a checkpoint that scores on them: selecting on the test
    # split would have given another model and a test top-1 above 0
    swapped = linear_probe(train, test, val, num_classes=K, cfg=LINEAR_CFG, seed=0)
    assert swapped["val_top1"] > 0.0
    assert (swapped["selected_weight_decay"], swapped["selected_epoch"]) != (
        out["selected_weight_decay"],
        out["selected_epoch"],
    )


def _leaves(obj):
    if isinstance(obj, (list, tuple)):
        return [leaf for o in obj for leaf in _leaves(o)]
    if isinstance(obj, dict):
        return _leaves(list(obj.values()))
    return [obj]


class _Spy(torch.Tensor):
    """A tensor that logs every torch operation on it, and on every tensor computed from it, into ``EVENTS`` as
    (the splits its operands came from, operation name); ``splits`` travels to the results."""

    EVENTS: list[tuple[frozenset, str]] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        splits = frozenset().union(*(a.splits for a in _leaves((args, kwargs)) if isinstance(a, _Spy)))
        _Spy.EVENTS.append((splits, getattr(func, "__name__", str(func))))
        with torch._C.DisableTorchFunctionSubclass():
            ret = func(*args, **kwargs)
        return _mark(ret, splits)


def _mark(ret, splits: frozenset):
    if isinstance(ret, (tuple, list)):
        return type(ret)(_mark(r, splits) for r in ret)
    if type(ret) in (torch.Tensor, _Spy):
        ret = ret.as_subclass(_Spy)
        ret.splits = splits
    return ret


def _spied(split: str, pair: tuple[torch.Tensor, torch.Tensor]):
    return tuple(_mark(t, frozenset([split])) for t in pair)


def test_linear_probe_reads_test_split_only_after_selection(planted_features):
    """Every operation on the test features or labels (moving, standardising included) comes after the last
    validation evaluation and the last training step."""
    train, val, test = planted_features
    cfg = SimpleNamespace(**{**vars(LINEAR_CFG), "weight_decays": [0.0, 0.3], "epochs": 6})  # spying is slow
    plain = linear_probe(train, val, test, num_classes=K, cfg=cfg, seed=0)
    _Spy.EVENTS = []
    out = linear_probe(_spied("train", train), _spied("val", val), _spied("test", test), num_classes=K, cfg=cfg, seed=0)
    events = _Spy.EVENTS
    assert out == plain  # the spies change nothing

    first_test = next(i for i, (splits, _) in enumerate(events) if "test" in splits)
    val_ops = [i for i, (splits, _) in enumerate(events) if "val" in splits]
    backward = [i for i, (splits, name) in enumerate(events) if name == "backward"]
    n_evals = len(cfg.weight_decays) * (cfg.epochs // cfg.eval_every)
    assert len(val_ops) >= n_evals and len(backward) > 0  # the log does see selection and training
    assert max(val_ops) < first_test, "the test split was read before the validation selection was over"
    assert max(backward) < first_test, "the test split was read before training was over"


# ------------------------------------------------------------------------------------------------ fine-tuning

FRAMES, SIZE, CLIPS = 8, 16, 2  # frames per video, frame side, clips per validation and test video
SIGNAL = 0.8  # brightness added to the class's colour channel: learnt within the 4 epochs, not at once


def _videos(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, 3, FRAMES, SIZE, SIZE] noise videos whose class shows as a faint brighter colour channel."""
    y = torch.arange(n) % K
    v = torch.randn(n, 3, FRAMES, SIZE, SIZE, generator=g)
    v[torch.arange(n), y] += SIGNAL
    return v, y


class _Videos(Dataset):
    """In-memory videos with ClipDataset's interface (``(epoch, index)`` keys, items of ``clips [K, C, T, H, W]``,
    ``meta``, ``label``, ``index``, ``short``; ``set_epoch``; ``finish``), sampled by the real clip samplers. Every
    item read is appended to ``log`` as (split, index)."""

    def __init__(self, entries, sampler, log: list):
        self.entries, self.sampler, self.log, self.epoch = list(entries), sampler, log, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        e = self.entries[index]
        self.log.append((e.split, index))
        picked = self.sampler.sample(e.video.shape[1], np.random.default_rng([0, epoch, index]))
        clips = torch.stack([e.video[:, torch.from_numpy(f)] for f in picked.clips])
        return {
            "clips": clips,
            "meta": torch.from_numpy(picked.meta),
            "label": torch.tensor(e.label),
            "index": torch.tensor(index),
            "short": torch.tensor(picked.short),
        }

    def finish(self, clips, colour):  # pragma: no cover - items are never colour-deferred here
        raise AssertionError("no deferred colour stage in this dataset")


def _entries(split: str, videos: torch.Tensor, labels: torch.Tensor) -> list:
    return [SimpleNamespace(split=split, video=v, label=int(y)) for v, y in zip(videos, labels)]


SUITE = {
    "finetune": "suite",
    "eval_precision": "auto",
    "test_clip_starts": "round",
    "optimizer": "suite",
    "method_settings": "suite",
}
FINETUNE_CFG = {
    "protocol": {
        "finetune": {
            "epochs": 4,
            "lr": 0.05,
            "momentum": 0.9,
            "weight_decay": 0.0,
            "batch_size": 6,
            "warmup_epochs": 0,
            "val_clips": CLIPS,
            "clip_len": 4,
        }
    },
    "eval": {"num_workers": 0, "clips_per_video": CLIPS},
    "recipe": SUITE,
    "method": {"name": "planted"},
}
# the released recipe (TCGL's 2_ft_tcg_classify.py), with this file's lr and epochs: lowest validation loss on one
# random clip per video, plain SGD, plateau (patience 1 here, so that it acts within the 4 epochs)
RELEASED_CFG = {
    **FINETUNE_CFG,
    "recipe": {**SUITE, "finetune": "released"},
    "method": {
        "name": "planted",
        "released": {
            "finetune": {
                "epochs": 4,
                "batch_size": 6,
                "lr": 0.05,
                "ft_lr": None,
                "momentum": 0.9,
                "weight_decay": 0.0,
                "schedule": "plateau",
                "plateau": {"metric": "val_loss", "factor": 0.1, "patience": 1, "min_lr": 1e-5},
            }
        },
    },
}


def _finetune_run(cfg: dict):
    """One fine-tuning run on planted videos (test = the validation videos with shifted labels), recording the order
    in which dataset items are read and every evaluation pass (``video_logits``: split, logits, labels)."""
    g = torch.Generator().manual_seed(0)
    train, val = _videos(24, g), _videos(12, g)
    evalset = SimpleNamespace(
        train=_entries("train", *train),
        val=_entries("val", *val),
        test=_entries("test", val[0], (val[1] + 1) % K),
        label="planted",
        index=SimpleNamespace(num_classes=K),
    )
    torch.manual_seed(0)
    method = SimpleNamespace(encoder=Tiny3D(width=2), preprocess=torch.nn.Identity())
    reads, passes = [], []
    real_video_logits = finetune_mod.video_logits

    def recording_video_logits(model, loader, device, precision="auto"):
        logits, labels = real_video_logits(model, loader, device, precision)
        passes.append((loader.dataset.entries[0].split, logits.clone(), labels.clone()))
        return logits, labels

    lrs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(finetune_mod, "video_logits", recording_video_logits)
        real_optimizer = finetune_mod.recipes.finetune_optimizer

        def recording_optimizer(model, settings):
            opt, schedule = real_optimizer(model, settings)
            real_begin = schedule.begin
            schedule.begin = lambda epoch: (real_begin(epoch), lrs.append(opt.param_groups[0]["lr"]))
            return opt, schedule

        mp.setattr(finetune_mod.recipes, "finetune_optimizer", recording_optimizer)
        out = finetune_mod.finetune(
            method,
            evalset,
            finetune_mod.settings(OmegaConf.create(cfg)),
            torch.device("cpu"),
            0,
            lambda entries, sampler, train, augment=None: _Videos(entries, sampler, reads),
        )
    return SimpleNamespace(out=out, reads=reads, passes=passes, test_labels=(val[1] + 1) % K, lrs=lrs)


@pytest.fixture(scope="module")
def finetune_run():
    return _finetune_run(FINETUNE_CFG)


def test_finetune_selects_epoch_on_validation(finetune_run):
    out, passes = finetune_run.out, finetune_run.passes
    epochs = FINETUNE_CFG["protocol"]["finetune"]["epochs"]
    val_passes = [(logits, labels) for split, logits, labels in passes if split == "val"]
    assert len(val_passes) == epochs, f"validation passes for {epochs} epochs: {[p[0] for p in passes]}"
    val_logits, val_labels = [logits for logits, _ in val_passes], val_passes[0][1]
    val_acc = [topk_correct(lg, val_labels, 1) for lg in val_logits]
    # the test videos are the validation videos: each epoch's model scores on the test split what its validation
    # logits score against the shifted labels
    test_acc = [topk_correct(lg, finetune_run.test_labels, 1) for lg in val_logits]
    on_val, on_test = val_acc.index(max(val_acc)) + 1, test_acc.index(max(test_acc)) + 1
    assert on_val != on_test, (val_acc, test_acc)  # the planted data: validation and test prefer other epochs

    assert out["selected_epoch"] == on_val
    assert out["val_top1"] == val_acc[on_val - 1]
    # the test split is scored once, last, by the validation-selected model
    test_passes = [p for p in passes if p[0] == "test"]
    assert len(test_passes) == 1 and passes[-1][0] == "test"
    _, test_logits, test_labels = test_passes[0]
    assert torch.equal(test_labels, finetune_run.test_labels)
    torch.testing.assert_close(test_logits, val_logits[on_val - 1], rtol=1e-4, atol=1e-5)
    assert out["top1"] == topk_correct(test_logits, test_labels, 1) == test_acc[on_val - 1]
    assert out["top5"] == topk_correct(test_logits, test_labels, 5)


def test_finetune_reads_test_split_only_after_selection(finetune_run):
    reads = finetune_run.reads
    first_test = next(i for i, (split, _) in enumerate(reads) if split == "test")
    assert {split for split, _ in reads[:first_test]} == {"train", "val"}, "training and validation come first"
    assert all(split == "test" for split, _ in reads[first_test:]), (
        "a train or validation video was read after the first test video: the test split was read before the "
        "selection was over"
    )
    assert sorted(i for split, i in reads[first_test:]) == list(range(len(finetune_run.test_labels)))


def test_released_finetune_keeps_the_lowest_validation_loss_and_steps_the_plateau_on_it():
    run = _finetune_run(RELEASED_CFG)
    val_passes = [(logits, labels) for split, logits, labels in run.passes if split == "val"]
    assert len(val_passes) == 4
    # one clip per validation video (the release's random clip): every pass is [videos, classes] of one draw
    losses = [float(F.cross_entropy(logits, labels)) for logits, labels in val_passes]
    assert run.out["selected_epoch"] == losses.index(min(losses)) + 1
    assert run.out["val_loss"] == pytest.approx(min(losses), rel=1e-6)
    # ReduceLROnPlateau(patience=1) on those losses, written out: the lr of every epoch
    best, bad, lr, want = float("inf"), 0, 0.05, []
    for loss in losses:
        want.append(lr)
        best, bad = (loss, 0) if loss < best * (1 - 1e-4) else (best, bad + 1)
        if bad > 1:
            lr, bad = max(lr * 0.1, 1e-5), 0
    assert run.lrs == pytest.approx(want, rel=1e-12)
    test_passes = [p for p in run.passes if p[0] == "test"]
    assert len(test_passes) == 1 and run.passes[-1][0] == "test"
