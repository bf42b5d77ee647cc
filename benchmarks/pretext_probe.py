"""Which classes of an embedded ucf101-layout set does a method learn? A probe for the dataset design (foundation
issue, properties 1 and 2), outside the pipeline so that it takes a minute or a few:

* ``--method vcop`` (clip order) or ``speednet`` (playback speed): trained on the train and test videos with the
  learnability test's recipe (tiny backbone, Adam 2e-3 with a cosine decay, batch 16, no jitter or mirroring, 40x40
  resize and 32 crop; tests/methods/test_learning_on_embedded.py), then each class's pretext accuracy in eval mode
  over 4 passes of fresh permutations / clip positions;
* ``--method supervised``: trained on the train list only, then top-1 of one centre clip per test video, with the
  most frequent confusions.

    python -m benchmarks.pretext_probe --variant small|v2|clean|grow [--method vcop] [--steps 400] [--clip-len 4]
        [--batch 16] [--work /tmp/pretext_probe] [--smoke]

Variants, generated into ``--work`` when missing (seed 0): ``small`` as it is (generator version 3: every ucf101
class grows, shrinks, accelerates or decelerates); ``v2``, the previous `small` (the first 12 classes of the
catalogue: translations, rotations, Grow/Shrink by 2-3x, AccelerateRight/DecelerateLeft, two-leg paths); ``clean``,
``small`` without per-pixel noise, distractors and clutter; ``grow``, ``small`` with tiny's 8 size-changing classes;
``smoke``, six videos of ``tiny`` (2 classes, 3 groups), which ``--smoke`` trains for 2 steps of batch 2: a check that
the probe runs (tests/test_benchmarks_smoke.py), not a figure.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import time
from pathlib import Path
from statistics import mean

import torch
from torch.utils.data import DataLoader

import datasets.synthetic as syn
from datasets.clips import ClipDataset, collate_clips
from datasets.samplers import SingleClip
from datasets.splits import load_split
from datasets.transforms import ClipTransform
from methods.registry import build_method

PARAMS = {
    "vcop": lambda n: {"clip_len": n, "gap": 8},
    "speednet": lambda n: {"clip_len": n},
    "supervised": lambda n: {"clip_len": n},
}


def variant_spec(name: str) -> syn.SizeSpec:
    small, tiny = syn.SIZES["small"], syn.SIZES["tiny"]
    if name == "small":
        return small
    if name == "v2":
        return dataclasses.replace(small, ucf_classes=12, ucf_names=(), scale_change=(2.0, 3.0))
    if name == "clean":
        return dataclasses.replace(small, noise_std=0.0, distractors=(0, 0), clutter=0)
    if name == "grow":
        return dataclasses.replace(small, ucf_classes=len(tiny.ucf_names), ucf_names=tiny.ucf_names)
    if name == "smoke":
        return dataclasses.replace(
            tiny, ucf_classes=2, ucf_names=tiny.ucf_names[:2], ucf_groups=3, ucf_clips_per_group=(1, 1)
        )
    raise ValueError(f"unknown variant {name!r}: small, v2, clean, grow or smoke")


def train(method, ds: ClipDataset, steps: int, batch_size: int = 16) -> list[float]:
    opt = torch.optim.Adam(method.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    accs, epoch = [], 0
    method.train()
    while len(accs) < steps:
        ds.set_epoch(epoch)
        for batch in DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=True,
            collate_fn=collate_clips,
            drop_last=True,
            generator=torch.Generator().manual_seed(epoch),
        ):
            out = method(batch)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            sched.step()
            accs.append(float(out.accuracy))
            if len(accs) == steps:
                break
        epoch += 1
    return accs


def main(argv=None) -> dict[str, float]:
    """Prints the probe; returns the accuracy per class (pretext accuracy, or supervised test top-1)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default=None, help="small (default), v2, clean, grow or smoke")
    p.add_argument("--method", choices=sorted(PARAMS), default="vcop")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 400; smoke 2)")
    p.add_argument("--clip-len", type=int, default=4)
    p.add_argument("--batch", type=int, default=None, help="training batch (default 16; smoke 2)")
    p.add_argument("--work", default="/tmp/pretext_probe")
    p.add_argument("--smoke", action="store_true", help="variant smoke, 2 steps of batch 2: a check, not a figure")
    a = p.parse_args(argv)
    a.variant = a.variant or ("smoke" if a.smoke else "small")
    a.steps = a.steps or (2 if a.smoke else 400)
    a.batch = a.batch or (2 if a.smoke else 16)
    root = Path(a.work) / a.variant
    if not root.exists():
        syn.generate(root, "ucf101", variant_spec(a.variant), 0, workers=2)
    torch.manual_seed(0)
    index = load_split("ucf101", root)
    method = build_method(a.method, "tiny", num_classes=index.num_classes, **PARAMS[a.method](a.clip_len))
    transform = ClipTransform(True, resize=(40, 40), crop=32, jitter=None, flip=False)
    entries = index.train if a.method == "supervised" else index.train + index.test
    ds = ClipDataset(entries, method.sampler(), transform, seed=0, shared_params=method.augmentation().shared)
    t0 = time.time()
    accs = train(method, ds, a.steps, a.batch)
    print(
        f"{a.variant}, {a.method}: {a.steps} steps, clip_len {a.clip_len}, {time.time() - t0:.0f} s; training "
        f"accuracy first 20 steps {mean(accs[:20]):.3f}, last 50 {mean(accs[-50:]):.3f}"
    )
    method.eval()
    with torch.no_grad():
        if a.method == "supervised":
            test = ClipDataset(
                index.test, SingleClip(a.clip_len, random=False), ClipTransform(False, (40, 40), 32), seed=0
            )
            batch = collate_clips([test[i] for i in range(len(test))])
            pred = method.logits(batch).argmax(1)
            hits = (pred == batch["label"]).float()
            confusions = collections.Counter(
                (index.classes[t], index.classes[q]) for t, q in zip(batch["label"].tolist(), pred.tolist()) if t != q
            )
            print(
                f"  test top-1 {hits.mean():.3f} over {len(test)} videos (chance {1 / index.num_classes:.3f}); "
                f"most confused: {confusions.most_common(5)}"
            )
            result = {name: float(hits[batch["label"] == c].mean()) for c, name in enumerate(index.classes)}
        else:
            per = collections.defaultdict(list)
            for rep in range(4):  # fresh permutations / rates and clip positions
                ds.set_epoch(100 + rep)
                for c, name in enumerate(index.classes):
                    items = [ds[i] for i, e in enumerate(entries) if e.label == c]
                    per[name].append(float(method(collate_clips(items)).accuracy))
            result = {name: sum(v) / len(v) for name, v in per.items()}
            print(f"  eval accuracy, mean over classes {sum(result.values()) / len(result):.3f}")
    for name, acc in result.items():
        print(f"  {name:28s} {acc:.2f}")
    return result


if __name__ == "__main__":
    main()
