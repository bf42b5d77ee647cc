"""Each pretext task learns on synthetic moving-blob videos where its signal is built in (step-count based).

The blob grows and moves with accelerating speed, so frame content, clip content and clip speed all reveal time.
Controls on static videos (no temporal signal) stay at chance, so these tests can fail.
"""

from __future__ import annotations

import pytest
import torch

from methods import build_backbone, build_method


def _gen(seed=1):
    return torch.Generator().manual_seed(seed)


def test_vcop_learns_clip_order(synth):
    videos, g = synth.blob_videos(128, 32, 24), _gen()
    method = build_method("vcop", build_backbone("tiny", width=8), clip_len=4, gap=2)
    acc, _ = synth.train_pretext(method, lambda: synth.tuple_batch(videos, 16, 3, 4, 2, g), steps=80)
    assert acc > 0.6  # chance 1/6


def test_vcop_control_static_videos_stay_at_chance(synth):
    videos, g = synth.blob_videos(128, 32, 24, power=0.0), _gen()  # the blob never moves or grows
    method = build_method("vcop", build_backbone("tiny", width=8), clip_len=4, gap=2)
    acc, _ = synth.train_pretext(method, lambda: synth.tuple_batch(videos, 16, 3, 4, 2, g), steps=80)
    assert acc < 0.35


def test_tcgl_learns_order_and_contrast(synth):
    videos, g = synth.blob_videos(128, 48, 24), _gen()
    method = build_method("tcgl", build_backbone("tiny", width=8), clip_len=8, gap=4)  # faithful STKD, no leak
    acc, logs = synth.train_pretext(method, lambda: synth.tuple_batch(videos, 10, 3, 8, 4, g), steps=100)
    assert acc > 0.5  # chance 1/6
    first = {k: sum(step[k] for step in logs[:10]) / 10 for k in ("loss_intra", "loss_inter")}
    last = {k: sum(step[k] for step in logs[-10:]) / 10 for k in ("loss_intra", "loss_inter")}
    assert last["loss_intra"] < first["loss_intra"] - 0.3
    assert last["loss_inter"] < first["loss_inter"] - 0.3


@pytest.mark.parametrize("negatives", ["outside", "shuffle"])
def test_sorder_learns_verification(synth, negatives):
    videos, g = synth.blob_videos(128, 32, 24), _gen()
    method = build_method("sorder", build_backbone("tiny", width=8), spacing=4, negatives=negatives)
    acc, _ = synth.train_pretext(method, lambda: synth.frame_tuple_batch(videos, 32, 5, 1, 4, g), steps=120)
    assert acc > 0.8  # chance 1/2


def test_opn_learns_sorting(synth):
    videos, g = synth.blob_videos(128, 32, 24), _gen()
    method = build_method("opn", build_backbone("tiny", width=8), spacing=5)
    acc, _ = synth.train_pretext(method, lambda: synth.frame_tuple_batch(videos, 32, 4, 1, 5, g), steps=150)
    assert acc > 0.5  # chance 1/12


def test_speednet_learns_speed(synth):
    videos, g = synth.blob_videos(128, 32, 24, power=1.0), _gen()
    method = build_method("speednet", build_backbone("tiny", width=8), clip_len=8)
    acc, _ = synth.train_pretext(method, lambda: synth.speed_batch(videos, 16, 8, (1, 2), g), steps=60)
    assert acc > 0.85  # chance 1/2


def test_speednet_control_static_videos_stay_at_chance(synth):
    videos, g = synth.blob_videos(128, 32, 24, power=0.0), _gen()
    method = build_method("speednet", build_backbone("tiny", width=8), clip_len=8)
    acc, _ = synth.train_pretext(method, lambda: synth.speed_batch(videos, 16, 8, (1, 2), g), steps=60)
    assert acc < 0.65


def test_multi_rate_speednet_learns(synth):
    videos, g = synth.blob_videos(128, 40, 24, power=1.0, travel=0.7), _gen()
    method = build_method("speednet", build_backbone("tiny", width=8), clip_len=4, multi_rate=True)
    acc, _ = synth.train_pretext(method, lambda: synth.speed_batch(videos, 16, 4, (1, 2, 4, 8), g), steps=100)
    assert acc > 0.6  # chance 1/4


def test_supervised_learns_labels(synth):
    videos, g = synth.blob_videos(128, 16, 24), _gen()
    colour = videos.mean(dim=(2, 3, 4))  # label: the blob's dominant colour channel
    labels = colour.argmax(1)

    def make_batch():
        batch = synth.tuple_batch(videos, 16, 1, 4, 0, g)
        batch["label"] = labels[batch["index"]]
        return batch

    method = build_method("supervised", build_backbone("tiny", width=8), num_classes=3)
    acc, _ = synth.train_pretext(method, make_batch, steps=60)
    assert acc > 0.7  # chance about 1/3
