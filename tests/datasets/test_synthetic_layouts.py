"""The kinetics400 and ssv2 layouts of the synthetic dataset generator (datasets.synthetic), on the tiny size: files and
formats as the official releases have them (and as their readers expect), their quirks (quoted labels, ids starting
with '-', missing and broken downloads, variable fps / size / length; SSv2 templates vs labels, string indices,
mirror-pair classes), determinism and staleness."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from datasets import synthetic as syn
from datasets.synthetic.motions import UCF_MOTIONS, Amplitudes

REPO = Path(__file__).resolve().parents[2]
TINY = syn.SIZES["tiny"]
SEED = 3
NEW = ("kinetics400", "ssv2")
ID_RE = re.compile(r"[A-Za-z0-9_-]{11}")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("synthetic_layouts")
    return {layout: syn.generate(base / layout, layout, "tiny", SEED, workers=1) for layout in NEW}


def manifest(root: Path) -> dict:
    return json.loads((root / syn.MANIFEST).read_text())


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])
        return {
            "codec": stream.codec_context.name,
            "fps": float(stream.average_rate),
            "container": c.format.name,
            "frames": frames,
        }


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------------ kinetics400
def read_csv(path: Path) -> tuple[bytes, list[dict]]:
    data = path.read_bytes()
    with path.open(newline="") as f:
        return data, list(csv.DictReader(f))


def test_kinetics_annotation_files_have_the_official_headers(roots):
    ann = roots["kinetics400"] / "annotations"
    assert sorted(p.name for p in ann.iterdir()) == ["test.csv", "train.csv", "validate.csv"]
    headers = {
        "train.csv": "label,youtube_id,time_start,time_end,split,is_cc",  # the 2020 release
        "validate.csv": "label,youtube_id,time_start,time_end,split",  # the older release, no is_cc
        "test.csv": "youtube_id,time_start,time_end,split",
    }
    ids = []
    for name, header in headers.items():
        data, rows = read_csv(ann / name)
        assert b"\r" not in data and data.endswith(b"\n")  # LF, as the official files
        assert data.decode("utf-8").split("\n", 1)[0] == header
        assert rows and all(r["split"] == name.removesuffix(".csv") for r in rows)
        for r in rows:
            assert ID_RE.fullmatch(r["youtube_id"]), r
            assert int(r["time_end"]) == int(r["time_start"]) + 10 and int(r["time_start"]) >= 0
            assert "label" not in r or (r["label"] == r["label"].lower() and r["label"].strip() == r["label"])
        if name == "train.csv":
            assert {r["is_cc"] for r in rows} == {"0", "1"}
        ids += [r["youtube_id"] for r in rows]
    assert len(ids) == len(set(ids))  # every youtube id is one video, in one file
    assert any(i.startswith("-") for i in ids)
    _, test_rows = read_csv(ann / "test.csv")
    assert len(test_rows) == TINY.kinetics_test_rows
    assert not any(r["youtube_id"] in p for r in test_rows for p in files(roots["kinetics400"]))  # no test videos


def test_kinetics_quoted_label_round_trips_and_names_its_folder(roots):
    root = roots["kinetics400"]
    data, rows = read_csv(root / "annotations" / "train.csv")
    labels = {m.name for m in syn.classes("kinetics400", TINY)}
    paren = sorted(label for label in labels if "(" in label)
    assert paren and "shrink (moving down)" in paren and "grow moving up" in labels and "grow" in labels
    text = data.decode("utf-8")
    for label in paren:  # quoted explicitly, as the official files quote such labels
        assert f'\n"{label}",' in text
        assert label in {r["label"] for r in rows}
    assert {r["label"] for r in rows} == labels
    for split_dir in ("train", "val"):  # class folders are the labels exactly, spaces and parentheses kept
        assert sorted(p.name for p in (root / split_dir).iterdir()) == sorted(labels)


def test_kinetics_files_match_the_rows_missing_and_broken(roots):
    root = roots["kinetics400"]
    m = manifest(root)
    listed = {}
    for name, folder in (("train.csv", "train"), ("validate.csv", "val")):
        for r in read_csv(root / "annotations" / name)[1]:
            rel = f"{folder}/{r['label']}/{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}.mp4"
            listed[rel] = r
    videos = {f for f in files(root) if f.endswith(".mp4")}
    assert videos <= set(listed) and len(videos) == m["num_videos"]
    assert set(m["missing"]) == set(listed) - videos  # listed but missing: exactly the manifest's list
    assert any(p.startswith("train/") for p in m["missing"]) and any(p.startswith("val/") for p in m["missing"])
    assert 0.03 <= len(m["missing"]) / len(listed) <= 0.08  # ~5% of the rows
    assert any(Path(v).name.startswith("-") for v in videos)  # a file name beginning with a dash
    assert len(m["broken"]) == 1 and m["broken"][0].startswith("train/") and m["broken"][0] in videos
    with pytest.raises(av.error.FFmpegError):  # a truncated download no demuxer opens
        with av.open(str(root / m["broken"][0])) as c:
            list(c.decode(video=0))
    for split, folder in (("train", "train"), ("validate", "val")):  # per class ~80% train, >= 2 validate videos
        for label in {r["label"] for r in listed.values()}:
            n = sum(v.startswith(f"{folder}/{label}/") for v in videos)
            assert n >= (2 if split == "validate" else 4), (split, label)
    n_train, n_val = (sum(v.startswith(f) for v in videos) for f in ("train/", "val/"))
    assert 0.72 <= n_train / (n_train + n_val) <= 0.85


def test_kinetics_videos_vary_in_fps_size_and_length(roots):
    root = roots["kinetics400"]
    m = manifest(root)
    items = {v.relpath: v for v in syn.plan_videos("kinetics400", TINY, SEED)}
    assert set(items) == {f for f in files(root) if f.endswith(".mp4")}
    seen = []
    for rel, item in items.items():
        if item.broken:
            continue
        info = probe(root / rel)
        t, h, w, _ = info["frames"].shape
        assert info["codec"] == "h264" and "mp4" in info["container"]
        assert (w, h, t, info["fps"]) == (item.width, item.height, item.frames, item.fps), rel
        assert (t < 64) == (rel in m["short"]), rel
        seen.append((info["fps"], (w, h), t))
    assert {s[0] for s in seen} == {24.0, 25.0, 30.0}
    sizes = {s[1] for s in seen}
    assert len(sizes) >= 3 and any(h > w for w, h in sizes) and all(w % 2 == 0 == h % 2 for w, h in sizes)
    assert all(32 <= min(s) and max(s) <= 48 for s in sizes)  # tiny
    short = [s for s in seen if s[2] < 64]
    assert 1 <= len(short) <= 0.12 * len(seen) and all(40 <= s[2] <= 56 for s in short)
    assert any(p.startswith("train/") for p in m["short"])
    assert len({s[2] for s in seen if s[2] >= 64}) > 5
    # compression keeps the content: a decoded video is close to its own render
    rel, item = next((r, v) for r, v in items.items() if not v.broken)
    own = syn.render_item(TINY, SEED, "kinetics400", item).astype(np.float32)
    assert np.abs(probe(root / rel)["frames"] - own).mean() < 10


# ------------------------------------------------------------------------------------------------ ssv2
def test_ssv2_label_files_and_videos_match(roots):
    root = roots["ssv2"]
    labels_dir = root / "labels"
    assert sorted(p.name for p in labels_dir.iterdir()) == sorted(
        ["labels.json", "train.json", "validation.json", "test.json"]
    )
    labels = json.loads((labels_dir / "labels.json").read_text())
    assert all(isinstance(v, str) for v in labels.values())  # values are strings, as the official file
    assert sorted(int(v) for v in labels.values()) == list(range(TINY.ssv2_classes))
    assert list(labels) == sorted(labels) == [m.name for m in syn.classes("ssv2", TINY)]
    ids, per_class = [], {c: {"train": 0, "validation": 0} for c in labels}
    two_placeholders = False
    for split in ("train", "validation"):
        entries = json.loads((labels_dir / f"{split}.json").read_text())
        for e in entries:
            assert list(e) == ["id", "label", "template", "placeholders"]
            assert isinstance(e["id"], str) and e["id"].isdigit() and not e["id"].startswith("0")
            cls = e["template"].replace("[", "").replace("]", "")
            assert cls in labels and e["label"] != cls  # the class is the template, not the label
            filled = e["template"]
            for obj in e["placeholders"]:
                filled = filled.replace("[something]", obj, 1)
            assert e["label"] == filled.lower() and len(e["placeholders"]) == e["template"].count("[something]")
            two_placeholders |= len(e["placeholders"]) == 2
            per_class[cls][split] += 1
        ids += [e["id"] for e in entries]
    assert two_placeholders
    for cls, n in per_class.items():  # every class in both splits, ~70 / 30
        assert n["validation"] >= 1 and abs(n["train"] / (n["train"] + n["validation"]) - 0.7) <= 0.1, cls
    test = json.loads((labels_dir / "test.json").read_text())
    assert test and all(list(e) == ["id"] for e in test)
    ids += [e["id"] for e in test]
    assert len(ids) == len(set(ids))
    videos = {p.name for p in (root / "20bn-something-something-v2").iterdir()}
    assert videos == {f"{i}.webm" for i in ids}  # none missing, none extra
    assert manifest(root)["num_videos"] == len(videos)


def test_ssv2_videos_are_vp9_webm_at_12_fps_with_varying_width_and_length(roots):
    root = roots["ssv2"]
    seen = []
    for item in syn.plan_videos("ssv2", TINY, SEED):
        info = probe(root / item.relpath)
        t, h, w, _ = info["frames"].shape
        assert info["codec"] == "vp9" and "webm" in info["container"] and info["fps"] == 12.0
        assert (w, h, t) == (item.width, item.height, item.frames) and h == TINY.ssv2_height
        seen.append((w, t))
    widths, lengths = {s[0] for s in seen}, {s[1] for s in seen}
    assert len(widths) >= 4 and all(w % 2 == 0 and 40 <= w <= 56 for w in widths)
    assert len(lengths) >= 10 and all(32 <= n <= 72 for n in lengths)


def _horizontal_velocity(video: np.ndarray) -> float:
    """Mean per-frame shift of the circular horizontal centre of mass of what differs from the background (the
    per-pixel temporal median), px per frame; positive = to the right. Circular, as the scene is a torus."""
    f = video.astype(np.float32)
    salience = np.abs(f - np.median(f, axis=0)).sum(-1).sum(1)  # [T, W]
    w = salience.shape[1]
    ang = 2 * np.pi * np.arange(w) / w
    centre = np.arctan2((salience * np.sin(ang)).sum(1), (salience * np.cos(ang)).sum(1)) * w / (2 * np.pi)
    step = (np.diff(centre) + w / 2) % w - w / 2
    return float(step.mean())


def test_ssv2_left_right_pairs_are_mirror_images(roots):
    root = roots["ssv2"]
    m = manifest(root)
    pairs = m["mirror_pairs"]
    assert len(pairs) >= 2 and pairs == syn.mirror_pairs(TINY)
    motion = {c["name"]: c["motion"] for c in m["classes"]}
    catalogue = {mo.name: mo for mo in UCF_MOTIONS}
    amp = Amplitudes(travel=30.0, turns=1.0, log_scale=math.log(2.5), radius=10.0, wiggle=4.0)
    tau = np.linspace(0, 1, 50)
    by_class = {}
    for item in syn.plan_videos("ssv2", TINY, SEED):
        if item.split != "test":
            by_class.setdefault(syn.classes("ssv2", TINY)[item.class_index].name, []).append(item)
    for a, b in pairs:
        assert {"left to right", "right to left"} == {re.search("(left to right|right to left)", c)[0] for c in (a, b)}
        # the paths relative to the (random) start pose: b's is a's mirrored (x -> -x, so the rotation sense flips)
        pa, pb = ([p - p[0] for p in catalogue[motion[c]].pose(tau, amp)] for c in (a, b))
        assert np.allclose(-pa[0], pb[0]) and np.allclose(pa[1], pb[1])
        assert np.allclose(-pa[2], pb[2]) and np.allclose(pa[3], pb[3])
        # the videos on disk: the object's horizontal centre of mass moves in opposite directions
        for cls in (a, b):
            sign = 1 if "left to right" in cls else -1
            v = [sign * _horizontal_velocity(probe(root / it.relpath)["frames"]) for it in by_class[cls]]
            assert np.mean(np.array(v) > 0.2) >= 0.9, (cls, v)


def test_class_names_and_mirror_table():
    for spec in syn.SIZES.values():
        kin = [m.name for m in syn.classes("kinetics400", spec)]
        assert kin == sorted(kin) and len(set(kin)) == len(kin) == spec.kinetics_classes
        assert all(re.fullmatch(r"[a-z]+( [a-z]+)*( \([a-z ]+\))?", n) for n in kin)
        ssv2 = syn.classes("ssv2", spec)
        assert len(ssv2) == spec.ssv2_classes and all(m.catalogue for m in ssv2)
        lr = [m for m in ssv2 if syn.mirror_name(m.catalogue) != m.catalogue]
        paired = {c for pair in syn.mirror_pairs(spec) for c in pair}
        assert {m.name for m in lr} == paired  # every left/right class has its mirror class in the set
        assert len(syn.mirror_pairs(spec)) >= 2
    assert syn.kinetics_label("ShrinkMovingDown") == "shrink (moving down)"
    assert syn.kinetics_label("GrowMovingUp") == "grow moving up" and syn.kinetics_label("Grow") == "grow"
    assert syn.mirror_name("RotateClockwiseMovingRight") == "RotateCounterclockwiseMovingLeft"
    assert syn.mirror_name("TranslateUp") == "TranslateUp"
    assert syn.ssv2_class("Putting [something] next to [something]") == "Putting something next to something"
    # kinetics400 renders the size-changing classes of tiny ucf101, so pretraining on it transfers
    assert {m.catalogue for m in syn.classes("kinetics400", TINY)} <= set(TINY.ucf_names)


def test_size_table():
    tiny_k = syn.plan_videos("kinetics400", TINY, 0)
    tiny_s = syn.plan_videos("ssv2", TINY, 0)
    assert 40 <= len(tiny_k) <= 70 and 40 <= len(tiny_s) <= 70
    assert TINY.kinetics_classes == 6 and TINY.ssv2_classes == 6
    small = syn.SIZES["small"]
    assert 300 <= len(syn.plan_videos("kinetics400", small, 0)) <= 400
    assert 300 <= len(syn.plan_videos("ssv2", small, 0)) <= 400
    for bad in (
        {"kinetics_sizes": ((33, 32),)},
        {"kinetics_classes": 2},  # tiny names 6 classes
        {"kinetics_videos_per_class": (3, 5)},
        {"ssv2_classes": len(syn.SSV2_TEMPLATES) + 1},
        {"ssv2_widths": (41, 56)},
    ):
        with pytest.raises(ValueError):
            dataclasses.replace(TINY, **bad)


# ------------------------------------------------------------------------------------------------ generation
@pytest.mark.parametrize("layout", NEW)
def test_workers_and_runs_write_identical_bytes_other_seed_differs(roots, tmp_path, layout):
    two = syn.generate(tmp_path / "two", layout, "tiny", SEED, workers=2)
    one = roots[layout]
    assert files(one) == files(two)
    for rel in files(one):
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    other = syn.generate(tmp_path / "other", layout, "tiny", SEED + 1, workers=2)
    ann = "annotations/train.csv" if layout == "kinetics400" else "labels/train.json"
    assert (other / ann).read_bytes() != (one / ann).read_bytes()


@pytest.mark.parametrize("layout", NEW)
def test_stale_reason(roots, layout):
    root = roots[layout]
    assert syn.stale_reason(root, layout, "tiny", SEED) is None
    assert "seed" in syn.stale_reason(root, layout, "tiny", SEED + 1)
    knob = "kinetics_test_rows" if layout == "kinetics400" else "ssv2_test_videos"
    changed = dataclasses.replace(TINY, **{knob: 7})
    assert knob in syn.stale_reason(root, layout, changed, SEED)
    # the fields of one layout never make another layout's data stale
    other = "ssv2_test_videos" if layout == "kinetics400" else "kinetics_test_rows"
    assert syn.stale_reason(root, layout, dataclasses.replace(TINY, **{other: 7}), SEED) is None


def test_old_layouts_manifest_spec_is_unchanged():
    """ucf101 / hmdb51 manifests hold exactly the fields they had before kinetics400 / ssv2, so datasets written
    before stay current (stale_reason compares the manifest's spec)."""
    for layout in ("ucf101", "hmdb51"):
        keys = set(syn.manifest_spec(layout, TINY))
        assert not {k for k in keys if k.startswith(("kinetics_", "ssv2_"))}
        assert "ucf_names" in keys and "quality" in keys
    assert not {k for k in syn.manifest_spec("kinetics400", TINY) if k.startswith("ssv2_")}
    assert not {k for k in syn.manifest_spec("ssv2", TINY) if k.startswith("kinetics_")}


def test_cli_writes_kinetics_and_reports(tmp_path):
    out = tmp_path / "cli_kinetics"
    cmd = [sys.executable, "-m", "datasets.synthetic", "--layout", "kinetics400", "--size", "tiny", "--out", str(out)]
    run = subprocess.run(
        [*cmd, "--set", "kinetics_sizes=48x32,32x48", "--set", "kinetics_fps=25,30"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "validate:" in run.stdout and "missing (listed, no file): 3" in run.stdout
    spec = manifest(out)["spec"]
    assert spec["kinetics_sizes"] == [[48, 32], [32, 48]] and spec["kinetics_fps"] == [25, 30]
    bad = subprocess.run(
        [*cmd[:-1], str(tmp_path / "x"), "--set", "kinetics_sizes=33x32"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "even" in bad.stderr
