"""Which classes of an embedded ucf101-layout set does VCOP learn the clip order of? A probe for the dataset design
(foundation issue, property 2): trains VCOP on the tiny backbone with the learnability test's recipe (Adam 2e-3,
batch 16, no jitter or mirroring; tests/methods/test_learning_on_embedded.py), then reports the order accuracy of
each class in eval mode over fresh permutations.

    python benchmarks/order_probe.py --variant small|clean|grow [--steps 400] [--clip-len 4] [--work /tmp/order_probe]

Variants of the `small` spec, generated into ``--work`` when missing (seed 0): ``small`` as it is; ``clean`` without
per-pixel noise, distractors and clutter; ``grow`` with tiny's 8 size-changing classes and their 4-6x scale change.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import datasets.synthetic as syn  # noqa: E402
from datasets.clips import ClipDataset, collate_clips  # noqa: E402
from datasets.splits import load_split  # noqa: E402
from datasets.transforms import ClipTransform  # noqa: E402
from methods.registry import build_method  # noqa: E402


def variant_spec(name: str) -> syn.SizeSpec:
    small, tiny = syn.SIZES["small"], syn.SIZES["tiny"]
    if name == "small":
        return small
    if name == "clean":
        return dataclasses.replace(small, noise_std=0.0, distractors=(0, 0), clutter=0)
    if name == "grow":
        return dataclasses.replace(small, ucf_classes=len(tiny.ucf_names), ucf_names=tiny.ucf_names,
                                   scale_change=tiny.scale_change)
    raise ValueError(f"unknown variant {name!r}: small, clean or grow")


def main(argv=None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="small")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--clip-len", type=int, default=4)
    p.add_argument("--work", default="/tmp/order_probe")
    a = p.parse_args(argv)
    root = Path(a.work) / a.variant
    if not root.exists():
        syn.generate(root, "ucf101", variant_spec(a.variant), 0, workers=2)
    torch.manual_seed(0)
    index = load_split("ucf101", root)
    method = build_method("vcop", "tiny", num_classes=index.num_classes, clip_len=a.clip_len, gap=8)
    entries = index.train + index.test
    ds = ClipDataset(entries, method.sampler(), ClipTransform(True, resize=(40, 40), crop=32, jitter=None, flip=False),
                     seed=0)
    opt = torch.optim.Adam(method.parameters(), lr=2e-3)
    accs, epoch, t0 = [], 0, time.time()
    method.train()
    while len(accs) < a.steps:
        ds.set_epoch(epoch)
        for batch in DataLoader(ds, batch_size=16, shuffle=True, collate_fn=collate_clips, drop_last=True,
                                generator=torch.Generator().manual_seed(epoch)):
            out = method(batch)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            accs.append(float(out.accuracy))
            if len(accs) == a.steps:
                break
        epoch += 1
    print(f"{a.variant}: {a.steps} steps, clip_len {a.clip_len}, {time.time() - t0:.0f} s; training accuracy first 20 "
          f"steps {sum(accs[:20]) / 20:.3f}, last 50 {sum(accs[-50:]) / 50:.3f} (chance {1 / 6:.3f})")
    method.eval()
    per = collections.defaultdict(list)
    with torch.no_grad():
        for rep in range(4):  # fresh permutations and clip positions
            ds.set_epoch(100 + rep)
            for c, name in enumerate(index.classes):
                per[name].append(float(method(collate_clips([ds[i] for i, e in enumerate(entries)
                                                             if e.label == c])).accuracy))
    result = {name: sum(v) / len(v) for name, v in per.items()}
    for name, acc in result.items():
        print(f"  {name:28s} {acc:.2f}")
    return result


if __name__ == "__main__":
    main()
