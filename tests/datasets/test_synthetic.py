"""Tests of the embedded synthetic dataset generator (datasets.synthetic, its motions), on the tiny size: the ucf101 and
hmdb51 layouts (kinetics400 and ssv2: tests/datasets/test_synthetic_layouts.py)."""

from __future__ import annotations

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
from datasets.synthetic.motions import DIRECTIONS, HMDB_MOTIONS, UCF_MOTIONS, Amplitudes

REPO = Path(__file__).resolve().parents[2]
TINY = syn.SIZES["tiny"]
SEED = 3
LAYOUTS = ("ucf101", "hmdb51")  # the layouts of this module


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("synthetic")
    return {layout: syn.generate(base / layout, layout, "tiny", SEED) for layout in LAYOUTS}


def decode(path: Path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])
        return frames, float(stream.average_rate)


def videos_on_disk(video_dir: Path) -> set[str]:
    return {p.relative_to(video_dir).as_posix() for p in video_dir.rglob("*.avi")}


def crlf_lines(path: Path) -> list[str]:
    data = path.read_bytes().decode("ascii")
    assert data.endswith("\r\n") and data.count("\n") == data.count("\r\n"), f"{path.name}: not CRLF throughout"
    return data[:-2].split("\r\n")


# ------------------------------------------------------------------------------------------------ layouts
def test_ucf101_layout_and_group_splits(roots):
    root = roots["ucf101"]
    video_dir, split_dir = root / "UCF-101", root / "ucfTrainTestlist"
    class_lines = crlf_lines(split_dir / "classInd.txt")
    names = [line.split(" ")[1] for line in class_lines]
    assert class_lines == [f"{i} {n}" for i, n in enumerate(names, start=1)]
    assert names == [m.name for m in syn.classes("ucf101", TINY)]
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", n) for n in names)
    assert sorted(p.name for p in video_dir.iterdir()) == sorted(names)

    on_disk = videos_on_disk(video_dir)
    assert len(on_disk) == json.loads((root / syn.MANIFEST).read_text())["num_videos"]
    pattern = re.compile(r"(?P<cls>[A-Za-z]+)/v_(?P=cls)_g(?P<g>\d\d)_c(?P<c>\d\d)\.avi")
    assert all(pattern.fullmatch(v) for v in on_disk)
    per_class = {n: sum(v.startswith(n + "/") for v in on_disk) for n in names}
    assert all(n >= TINY.ucf_groups for n in per_class.values())  # >= 1 clip per group

    test_groups_seen = []
    for k in (1, 2, 3):
        train_lines = crlf_lines(split_dir / f"trainlist0{k}.txt")
        test = crlf_lines(split_dir / f"testlist0{k}.txt")
        train = [line.split(" ")[0] for line in train_lines]
        for line in train_lines:
            rel, label = line.split(" ")
            assert names[int(label) - 1] == rel.split("/")[0]
        assert all(" " not in t for t in test)
        assert set(train).isdisjoint(test) and len(train) + len(test) == len(on_disk)
        assert set(train) | set(test) == on_disk  # every video in exactly one of train/test
        group = lambda rel: (rel.split("/")[0], int(pattern.fullmatch(rel)["g"]))
        assert {group(r) for r in train}.isdisjoint({group(r) for r in test})  # groups never straddle
        test_g = {group(r)[1] for r in test}
        assert test_g == set(syn.ucf_test_groups(TINY.ucf_groups, k))
        test_groups_seen.append(test_g)
    assert not (test_groups_seen[0] & test_groups_seen[1] or test_groups_seen[1] & test_groups_seen[2])


def test_ucf_test_groups_follow_the_official_blocks():
    assert [list(syn.ucf_test_groups(25, k)) for k in (1, 2, 3)] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 22)),
    ]
    assert [list(syn.ucf_test_groups(10, k)) for k in (1, 2, 3)] == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [list(syn.ucf_test_groups(4, k)) for k in (1, 2, 3)] == [[1], [2], [3]]
    with pytest.raises(ValueError):
        syn.ucf_test_groups(2, 1)


def test_hmdb51_layout_and_source_splits(roots):
    root = roots["hmdb51"]
    split_dir = root / "testTrainMulti_7030_splits"
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and p != split_dir)
    assert names == sorted(m.name for m in HMDB_MOTIONS[: TINY.hmdb_classes])
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", n) for n in names)
    assert sorted(p.name for p in split_dir.iterdir()) == sorted(
        f"{n}_test_split{k}.txt" for n in names for k in (1, 2, 3)
    )
    n_train, n_test, n_unused = TINY.hmdb_sources
    clips = TINY.hmdb_clips_per_source
    line_re = re.compile(
        r"(?P<name>(?P<src>Synth\d\d)_(?P<cls>[a-z_]+)_f_nm_np1_(fr|ba|le|ri)_(goo|med|bad)_\d+"
        r"\.avi) (?P<flag>[012]) "
    )
    total, splits_differ = 0, []
    for cls in names:
        on_disk = {p.name for p in (root / cls).glob("*.avi")}
        total += len(on_disk)
        assignments = []
        for k in (1, 2, 3):
            text = (split_dir / f"{cls}_test_split{k}.txt").read_bytes().decode("ascii")
            assert "\r" not in text and text.endswith(" \n")
            matches = [line_re.fullmatch(line) for line in text[:-1].split("\n")]
            assert all(matches), text
            assert {m["name"] for m in matches} == on_disk and len(matches) == len(on_disk)
            assert all(m["cls"] == cls for m in matches)
            flags = [m["flag"] for m in matches]
            assert (flags.count("1"), flags.count("2"), flags.count("0")) == (
                n_train * clips,
                n_test * clips,
                n_unused * clips,
            )
            by_source: dict[str, set[str]] = {}
            for m in matches:
                by_source.setdefault(m["src"], set()).add(m["flag"])
            assert all(len(f) == 1 for f in by_source.values())  # sources never straddle
            assignments.append(tuple(flags))
        assert len(on_disk) == (n_train + n_test + n_unused) * clips
        splits_differ.append(len(set(assignments)) > 1)
    assert any(splits_differ)  # the three splits are different draws
    assert total == json.loads((root / syn.MANIFEST).read_text())["num_videos"]


def test_hmdb_small_split_is_70_30_with_unused():
    spec = syn.SIZES["small"]
    items = syn.plan_videos("hmdb51", spec, 0)
    for ci in range(spec.hmdb_classes):
        for k in (1, 2, 3):
            flags = [syn.hmdb_flags(spec, 0, ci, k)[v.group] for v in items if v.class_index == ci]
            assert abs(flags.count(1) / (flags.count(1) + flags.count(2)) - 0.7) < 0.02 and 0 < flags.count(0) < 5
    splits = {tuple(syn.hmdb_flags(spec, 0, 0, k).items()) for k in (1, 2, 3)}
    assert len(splits) == 3  # the three splits differ


def test_readable_by_the_split_reader(roots):
    from datasets.splits import load_split

    for layout, root in roots.items():
        n_classes = TINY.ucf_classes if layout == "ucf101" else TINY.hmdb_classes
        for k in (1, 2, 3):
            index = load_split(layout, root, k)
            assert index.num_classes == n_classes and index.train and index.test
            assert not index.missing
            assert {e.label for e in index.test} == set(range(n_classes))


def test_size_plans_match_the_documented_geometry():
    expect = {"tiny": (32, 32, 64), "small": (64, 64, 72), "bench": (320, 240, 120)}
    for name, spec in syn.SIZES.items():
        assert (spec.width, spec.height, spec.frames) == expect[name] and spec.frames >= 64
        assert spec.width % 2 == 0 and spec.height % 2 == 0
    small = syn.SIZES["small"]
    assert 300 <= len(syn.plan_videos("ucf101", small, 0)) <= 400
    assert 300 <= len(syn.plan_videos("hmdb51", small, 0)) <= 400
    bench = syn.SIZES["bench"]
    assert len(syn.classes("ucf101", bench)) == 101 and len(syn.classes("hmdb51", bench)) == 51
    assert len(syn.plan_videos("ucf101", bench, 0)) >= 2 * 101


# ------------------------------------------------------------------------------------------------ videos
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_video_decodes_to_the_documented_geometry(roots, layout):
    root = roots[layout]
    video_dir = root / "UCF-101" if layout == "ucf101" else root
    items = syn.plan_videos(layout, TINY, SEED)
    assert {v.relpath for v in items} == videos_on_disk(video_dir)
    for item in items:
        frames, fps = decode(video_dir / item.relpath)
        assert frames.shape == (TINY.frames, TINY.height, TINY.width, 3) and frames.dtype == np.uint8
        assert fps == TINY.fps
    # compression keeps the content: a decoded video is close to its own render, far from another one
    for a, b in ((items[0], items[-1]), (items[len(items) // 2], items[1])):
        frames, _ = decode(video_dir / a.relpath)
        own = syn.render_video(TINY, SEED, layout, a.class_index, a.group, a.clip)
        other = syn.render_video(TINY, SEED, layout, b.class_index, b.group, b.clip)
        own_err, other_err = (np.abs(frames.astype(np.float32) - r).mean() for r in (own, other))
        assert own_err < 10 and other_err > 3 * own_err


@pytest.mark.parametrize("layout", LAYOUTS)
def test_same_seed_same_bytes_other_seed_differs(tmp_path, layout):
    a = syn.generate(tmp_path / "a", layout, "tiny", 11)
    b = syn.generate(tmp_path / "b", layout, "tiny", 11)
    c = syn.generate(tmp_path / "c", layout, "tiny", 12)
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    for rel in files:  # split files, manifest and videos are byte-identical
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    videos = [f for f in files if f.endswith(".avi")]
    for rel in videos[:: max(1, len(videos) // 8)]:
        assert np.array_equal(decode(a / rel)[0], decode(b / rel)[0])
    video_dir = (lambda r: r / "UCF-101") if layout == "ucf101" else (lambda r: r)
    in_c = {(v.class_index, v.group, v.clip): v.relpath for v in syn.plan_videos(layout, TINY, 12)}
    same_slot = [
        (v.relpath, in_c[key])
        for v in syn.plan_videos(layout, TINY, 11)
        if (key := (v.class_index, v.group, v.clip)) in in_c
    ]
    assert len(same_slot) >= len(videos) // 2
    for rel_a, rel_c in same_slot[:: max(1, len(same_slot) // 6)]:
        assert not np.array_equal(decode(video_dir(a) / rel_a)[0], decode(video_dir(c) / rel_c)[0])
    split_files = [f for f in files if f.endswith(".txt")]
    if layout == "hmdb51":  # the source -> train/test/unused draw depends on the seed
        assert any((a / f).read_bytes() != (c / f).read_bytes() for f in split_files)


def test_generate_refuses_to_clobber(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not a dataset")
    with pytest.raises(FileExistsError):
        syn.generate(foreign, "hmdb51", "tiny", 0, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "not a dataset"
    root = syn.generate(tmp_path / "d", "hmdb51", "tiny", 0)
    with pytest.raises(FileExistsError):
        syn.generate(root, "hmdb51", "tiny", 1)
    syn.generate(root, "hmdb51", "tiny", 1, overwrite=True)
    assert json.loads((root / syn.MANIFEST).read_text())["seed"] == 1
    assert not list(tmp_path.glob(".*partial*"))


# ------------------------------------------------------------------------------------------------ classes
def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def test_class_sets_are_disjoint_and_named_by_convention():
    ucf, hmdb = [m.name for m in UCF_MOTIONS], [m.name for m in HMDB_MOTIONS]
    assert len(set(ucf)) == len(ucf) >= 101 and len(set(hmdb)) == len(hmdb) >= 51
    assert not {_norm(n) for n in ucf} & {_norm(n) for n in hmdb}
    for spec in syn.SIZES.values():
        u = [m.name for m in syn.classes("ucf101", spec)]
        h = [m.name for m in syn.classes("hmdb51", spec)]
        assert not {_norm(n) for n in u} & {_norm(n) for n in h}
        assert all(re.fullmatch(r"[A-Z][A-Za-z]+", n) for n in u)
        assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", n) for n in h)
        for names, motions in ((u, syn.classes("ucf101", spec)), (h, syn.classes("hmdb51", spec))):
            reversed_pairs = [m for m in motions if m.reverse_of in names]
            assert len(reversed_pairs) >= len(names) // 3  # many classes are time reversals of others


def _path(m, n=201):
    amp = Amplitudes(travel=30.0, turns=1.0, log_scale=math.log(2.5), radius=10.0, wiggle=4.0, phase=0.3)
    return m.pose(np.linspace(0, 1, n), amp)


def _along(dx, dy, d, tol=0.95):
    ux, uy = DIRECTIONS[d]
    norm = math.hypot(dx, dy)
    return norm > 1 and (dx * ux + dy * uy) / norm > tol


def _turning(x, y) -> float:
    """Sum of cross products of consecutive velocities: > 0 clockwise on screen (y down), < 0 counter-clockwise."""
    vx, vy = np.diff(x), np.diff(y)
    return float((vx[:-1] * vy[1:] - vy[:-1] * vx[1:]).sum())


_DIR = "(UpLeft|UpRight|DownLeft|DownRight|Left|Right|Up|Down)"
_SNAKE_DIR = {re.sub(r"(?<!^)([A-Z])", r"_\1", d).lower(): d for d in DIRECTIONS}


def _check_ucf(name, x, y, a, s) -> bool:
    n = len(x) - 1
    if m := re.fullmatch(f"(Translate|Accelerate|Decelerate){_DIR}", name):
        kind, d = m.groups()
        speed = np.hypot(np.diff(x), np.diff(y))
        profile = {
            "Translate": np.ptp(speed) < 1e-6,
            "Accelerate": speed[-1] > 3 * speed[1],
            "Decelerate": speed[1] > 3 * speed[-1],
        }[kind]
        return _along(x[-1], y[-1], d) and profile and np.ptp(a) == 0 == np.ptp(s)
    if m := re.fullmatch(f"{_DIR}Then{_DIR}", name):
        h = n // 2
        return _along(x[h], y[h], m[1]) and _along(x[-1] - x[h], y[-1] - y[h], m[2])
    if m := re.fullmatch(f"(RotateClockwise|RotateCounterclockwise|Grow|Shrink)(Moving{_DIR})?", name):
        sign = 1 if m[1] in ("RotateClockwise", "Grow") else -1
        moving = _along(x[-1], y[-1], m[3]) if m[3] else np.ptp(x) == 0 == np.ptp(y)
        if m[1].startswith("Rotate"):
            return bool(np.all(sign * np.diff(a) > 0)) and moving
        steps = sign * np.diff(s)  # monotone growth / shrinking over the whole video
        return bool(np.all(steps > 0)) and np.ptp(s) > 0.8 and moving
    if m := re.fullmatch("Rotate(Clockwise|Counterclockwise)Then(Clockwise|Counterclockwise)", name):
        sign = 1 if m[1] == "Clockwise" else -1
        return sign * (a[n // 2] - a[0]) > 1 and sign * (a[-1] - a[n // 2]) < -1
    raise AssertionError(f"no semantic check for ucf101 class {name}")


def _check_hmdb(name, x, y, a, s) -> bool:
    n = len(x) - 1
    if m := re.fullmatch("(orbit|spiral_out|spiral_in|square)_(cw|ccw)", name):
        return np.sign(_turning(x, y)) == (1 if m[2] == "cw" else -1)
    if m := re.fullmatch("(zigzag|wave|stop_go|hop)_(.+)", name):
        d = _SNAKE_DIR[m[2]]
        ok = _along(x[-1], y[-1], d)
        if m[1] == "stop_go":
            ok &= np.hypot(x[n // 2] - x[n // 3 + 1], y[n // 2] - y[n // 3 + 1]) < 1e-6
        if m[1] in ("zigzag", "wave", "hop"):  # leaves the straight line
            ux, uy = DIRECTIONS[d]
            ok &= np.abs(x * uy - y * ux).max() > 2
        return bool(ok)
    if m := re.fullmatch("spin_(speedup|slowdown)_(cw|ccw)", name):
        w = np.diff(a) * (1 if m[2] == "cw" else -1)
        return bool(np.all(w >= 0) and (w[-1] > 3 * w[1] if m[1] == "speedup" else w[1] > 3 * w[-1]))
    if name in ("breathe", "pulse"):  # periodic: ends at the start size; one triangle / three sine periods
        turns = np.sum(np.diff(np.sign(np.diff(s))) != 0)
        return np.ptp(s) > 0.3 and abs(s[-1]) < 1e-9 and (turns in (1, 2) if name == "breathe" else turns >= 5)
    if name == "figure_eight":  # closed, two lobes turning in opposite senses
        vx, vy = np.diff(x), np.diff(y)
        cross = vx[:-1] * vy[1:] - vy[:-1] * vx[1:]
        return abs(x[-1]) + abs(y[-1]) < 1e-9 and abs(cross.sum()) < 0.05 * np.abs(cross).sum() and np.ptp(x) > 10
    if m := re.fullmatch("shake_(horizontal|vertical)", name):
        moving, still = (x, y) if m[1] == "horizontal" else (y, x)
        return np.ptp(moving) > 4 and np.ptp(still) == 0 and abs(moving[-1]) < 1e-6
    if m := re.fullmatch("curve_(left|right)_heading_(.+)", name):
        d = _SNAKE_DIR[m[2]]
        return _along(x[n // 20], y[n // 20], d, 0.99) and np.sign(_turning(x, y)) == (-1 if m[1] == "left" else 1)
    raise AssertionError(f"no semantic check for hmdb51 class {name}")


def test_every_class_moves_as_its_name_says():
    for motions, check in ((UCF_MOTIONS, _check_ucf), (HMDB_MOTIONS, _check_hmdb)):
        for m in motions:
            x, y, a, s = _path(m)
            assert check(m.name, x - x[0], y - y[0], a - a[0], s - s[0]), m.name
            if m.reverse_of:  # a reversal is the partner played backwards
                base = next(b for b in motions if b.name == m.reverse_of)
                for p, q in zip(_path(m), _path(base)):
                    assert np.allclose(p - p[0], q[::-1] - q[-1]), m.name


# ------------------------------------------------------------------------------------------------ frame vs motion
def _global_affine_flow(video: np.ndarray) -> np.ndarray:
    """Least-squares global affine optical flow per frame pair -> [T-1, 4] = (vx, vy, curl, divergence).

    Coordinates are centred on the circular (torus) centroid of the frame-difference energy, so an object wrapping
    around an edge is not split. curl > 0 is clockwise on screen (y down)."""
    g = video.astype(np.float32).mean(-1)
    t_len, h, w = g.shape
    it, mid = g[1:] - g[:-1], 0.5 * (g[1:] + g[:-1])
    ix = 0.5 * (np.roll(mid, -1, 2) - np.roll(mid, 1, 2))
    iy = 0.5 * (np.roll(mid, -1, 1) - np.roll(mid, 1, 1))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    e = np.abs(it)

    def circ_mean(coord, period):
        ang = 2 * np.pi * coord / period
        return np.arctan2((e * np.sin(ang)).sum((1, 2)), (e * np.cos(ang)).sum((1, 2))) * period / (2 * np.pi)

    xc = (x - circ_mean(x, w)[:, None, None] + w / 2) % w - w / 2
    yc = (y - circ_mean(y, h)[:, None, None] + h / 2) % h - h / 2
    design = np.stack([ix, ix * xc, ix * yc, iy, iy * xc, iy * yc], -1).reshape(t_len - 1, -1, 6)
    lhs = np.einsum("tni,tnj->tij", design, design) + 1e-3 * np.eye(6)
    rhs = np.einsum("tni,tn->ti", design, -it.reshape(t_len - 1, -1))
    p = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    return np.stack([p[:, 0], p[:, 3], p[:, 4] - p[:, 2], p[:, 1] + p[:, 5]], 1)


def _nearest_centroid_accuracy(x, y, train):
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    x = (x - mu) / sd
    centroids = np.stack([x[train & (y == c)].mean(0) for c in np.unique(y)])
    pred = ((x[~train][:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    return float((pred == y[~train]).mean())


def _single_frame_features(frame: np.ndarray) -> dict[str, np.ndarray]:
    f = frame.astype(np.float32)
    h, w = f.shape[:2]
    q = (frame // 64).reshape(-1, 3).astype(int)
    salience = np.abs(f - np.median(f.reshape(-1, 3), 0)).sum(-1)  # where the objects are, whatever their colour
    return {
        "mean colour": f.reshape(-1, 3).mean(0),
        "colour histogram": np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64) / len(q),
        "salience 4x4": salience.reshape(4, h // 4, 4, w // 4).mean((1, 3)).reshape(-1),  # position
        "salience histogram": np.histogram(salience, bins=16, range=(0, 400))[0] / salience.size,  # object sizes
    }


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_single_frame_does_not_reveal_the_class(layout):
    """Nearest class centroid on the statistics of one frame at a random time stays near chance (train groups 1-50,
    test 51-100). Checked to catch class-dependent colour, position or size.

    The frame's time is random, as for every clip a sampler draws: Grow and Shrink are exact time reversals, so the
    sizes over a video are identically distributed for the two, but a frame at a KNOWN time is not (Grow starts small,
    Shrink large): that monotone size change is what makes clip order learnable (datasets.synthetic.motions)."""
    spec, groups = TINY, 100
    n_classes = len(syn.classes(layout, spec))
    when = np.random.default_rng(0).integers(0, spec.frames, (n_classes, groups))
    feats, labels, group = [], [], []
    for ci in range(n_classes):
        for g in range(1, groups + 1):
            frame = syn.render_video(spec, SEED, layout, ci, g, 1)[when[ci, g - 1]]
            feats.append(_single_frame_features(frame))
            labels.append(ci)
            group.append(g)
    y, train = np.array(labels), np.array(group) <= groups // 2
    for name in feats[0]:
        acc = _nearest_centroid_accuracy(np.stack([f[name] for f in feats]), y, train)
        assert acc < 1 / n_classes + 0.07, (name, acc)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_motion_reveals_the_class(layout):
    groups = 16  # train on groups 1-8, test on 9-16 (a group shares scene and target look)
    names = [m.name for m in syn.classes(layout, TINY)]
    videos, labels, group = [], [], []
    for ci in range(len(names)):
        for g in range(1, groups + 1):
            videos.append(syn.render_video(TINY, SEED, layout, ci, g, 1))
            labels.append(ci)
            group.append(g)
    y, train = np.array(labels), np.array(group) <= groups // 2
    # one frame at a random time (a known time would separate Grow from Shrink by size: the order cue)
    when = np.random.default_rng(1).integers(0, TINY.frames, len(videos))
    single = np.stack([v[t].reshape(-1) for v, t in zip(videos, when)]).astype(np.float32)
    assert _nearest_centroid_accuracy(single, y, train) < 1 / len(names) + 0.15

    flow = np.stack([_global_affine_flow(v) for v in videos])  # [N, T-1, 4]
    binned = flow.reshape(len(videos), 7, -1, 4).mean(2).reshape(len(videos), -1)  # 7 time bins
    assert _nearest_centroid_accuracy(binned, y, train) > 0.6

    if layout == "ucf101":  # the estimated motion has the sign the class name says, in almost every video
        mean = flow.mean(1)
        expect = {
            "TranslateLeft": (0, -1),
            "TranslateRight": (0, 1),
            "TranslateUp": (1, -1),
            "TranslateDown": (1, 1),
            "RotateClockwise": (2, 1),
            "RotateCounterclockwise": (2, -1),
            "Grow": (3, 1),
            "Shrink": (3, -1),
        }
        expect |= {f"GrowMoving{d}": (3, 1) for d in DIRECTIONS} | {f"ShrinkMoving{d}": (3, -1) for d in DIRECTIONS}
        for ci, name in enumerate(names):
            feature, sign = expect[name]
            assert np.mean(sign * mean[y == ci, feature] > 0) >= 0.8, name


def test_group_look_shares_or_redraws_the_background():
    """group_look=True: the clips of a group share the scene; False: every video draws its own."""

    def background(spec, clip):
        return np.median(syn.render_video(spec, SEED, "ucf101", 0, 1, clip)[0].reshape(-1, 3), axis=0)

    assert np.array_equal(background(TINY, 1), background(TINY, 2))
    per_video = dataclasses.replace(TINY, group_look=False)
    assert not np.array_equal(background(per_video, 1), background(per_video, 2))
    assert syn.SIZES["small"].group_look is False


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_every_pretraining_class_changes_monotonically_over_the_video(size):
    """The design rule behind `small` version 3 (BENCHMARKS.md, "Designing small, third round"): every ucf101-layout
    class of the sizes the order tasks pretrain on changes size or speed monotonically over the whole video, so the
    pooled features of three clips say which came first; stationary classes (translations on the torus, rotations)
    left VCOP and TCGL's ASOP at chance. Each class still has its time reversal in the set."""
    tau = np.linspace(0.0, 1.0, 73)
    amp = Amplitudes(travel=100.0, turns=1.5, log_scale=math.log(5.0), radius=10.0, wiggle=5.0)
    motions = syn.classes("ucf101", syn.SIZES[size])
    for m in motions:
        dx, dy, _, dlog = m.pose(tau, amp)
        speed = np.hypot(np.diff(dx), np.diff(dy))
        grows_or_shrinks = np.all(np.diff(dlog) > 0) or np.all(np.diff(dlog) < 0)
        speeds_up_or_down = np.all(np.diff(speed) > 1e-9) or np.all(np.diff(speed) < -1e-9)
        assert grows_or_shrinks or speeds_up_or_down, m.name
    names = {m.name for m in motions}
    assert all(m.reverse_of in names or any(n.reverse_of == m.name for n in motions) for m in motions)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_writes_and_reports(tmp_path):
    out = tmp_path / "cli_hmdb"
    cmd = [
        sys.executable,
        "-m",
        "datasets.synthetic",
        "--layout",
        "hmdb51",
        "--size",
        "tiny",
        "--seed",
        "5",
        "--out",
        str(out),
        "--set",
        "frames=66",
    ]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert str(out.resolve()) in run.stdout and "48 videos" in run.stdout and "split 3:" in run.stdout
    manifest = json.loads((out / syn.MANIFEST).read_text())
    assert manifest["spec"]["frames"] == 66 and manifest["seed"] == 5
    first = sorted((out / "orbit_cw").glob("*.avi"))[0]
    assert decode(first)[0].shape[0] == 66

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "not empty" in again.stderr
    bad = subprocess.run(cmd[:-2] + ["--set", "no_such_knob=1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no_such_knob" in bad.stderr


def test_spec_validation():
    assert syn.LAYOUTS == ("ucf101", "hmdb51", "kinetics400", "ssv2")
    with pytest.raises(ValueError):
        dataclasses.replace(TINY, width=33)
    with pytest.raises(ValueError):
        dataclasses.replace(TINY, ucf_classes=len(UCF_MOTIONS) + 1)
    with pytest.raises(ValueError):
        syn.generate("/nonexistent/never", "kinetics", "tiny", 0)


def test_class_names_select_classes_from_the_catalogue(tmp_path):
    import dataclasses

    from datasets.splits import load_split
    from datasets.synthetic import SIZES, generate

    spec = dataclasses.replace(SIZES["tiny"], ucf_classes=2, ucf_names=("Shrink", "Grow"))
    root = generate(tmp_path / "u", "ucf101", spec, 0)
    assert load_split("ucf101", root).classes == ["Shrink", "Grow"]
    with pytest.raises(ValueError, match="distinct names of the catalogue"):
        dataclasses.replace(SIZES["tiny"], ucf_classes=2, ucf_names=("Shrink", "Jump"))
