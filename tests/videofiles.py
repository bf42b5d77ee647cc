"""Helpers for tests that need real video files and hand-written split files (independent of the generator)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def frame_pattern(n: int, h: int = 32, w: int = 48, seed: int = 0) -> np.ndarray:
    """n frames whose frame index is readable from the pixels: a bright bar at column (i*3 % w)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    for i in range(n):
        frames[i, :, (i * 3) % w, :] = 255
    return frames


def write_video(
    path: Path,
    frames: np.ndarray,
    fps: int = 25,
    codec: str = "mpeg4",
    gop: int | None = None,
    pts: list[int] | None = None,
) -> Path:
    """``gop``: keyframe interval (the codec's default otherwise); ``pts``: frame timestamps in 1/fps units (default
    0, 1, 2, ...; gaps make a variable-frame-rate file where the container allows it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "2"} if codec == "mpeg4" else {}
        if gop is not None:
            stream.codec_context.gop_size = gop
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_ucf_root(root: Path, classes=("MoveLeft", "MoveRight"), groups=3, clips=2, frames=40) -> Path:
    """A minimal UCF101-layout root: split k tests group k, CRLF line endings, 1-based classInd."""
    vid, spl = root / "UCF-101", root / "ucfTrainTestlist"
    spl.mkdir(parents=True, exist_ok=True)
    (spl / "classInd.txt").write_bytes("".join(f"{i + 1} {c}\r\n" for i, c in enumerate(classes)).encode())
    for k in (1, 2, 3):
        train, test = [], []
        for ci, c in enumerate(classes):
            for g in range(1, groups + 1):
                for j in range(1, clips + 1):
                    rel = f"{c}/v_{c}_g{g:02d}_c{j:02d}.avi"
                    (test.append(rel) if g == k else train.append(f"{rel} {ci + 1}"))
        (spl / f"trainlist0{k}.txt").write_bytes("".join(line + "\r\n" for line in train).encode())
        (spl / f"testlist0{k}.txt").write_bytes("".join(line + "\r\n" for line in test).encode())
    for ci, c in enumerate(classes):
        for g in range(1, groups + 1):
            for j in range(1, clips + 1):
                write_video(vid / c / f"v_{c}_g{g:02d}_c{j:02d}.avi", frame_pattern(frames, seed=ci * 100 + g * 10 + j))
    return root


def make_hmdb_root(root: Path, classes=("jump", "wave"), videos=4, frames=40) -> Path:
    spl = root / "testTrainMulti_7030_splits"
    spl.mkdir(parents=True, exist_ok=True)
    for ci, c in enumerate(classes):
        names = [f"{c}_video_{j}.avi" for j in range(videos)]
        for k in (1, 2, 3):
            flags = ["2" if j % videos == (k - 1) % videos else "1" for j in range(videos)]
            flags[-1] = "0" if k == 3 else flags[-1]
            (spl / f"{c}_test_split{k}.txt").write_text("".join(f"{n} {f} \n" for n, f in zip(names, flags)))
        for j, n in enumerate(names):
            write_video(root / c / n, frame_pattern(frames, seed=ci * 100 + j))
    return root


KINETICS_ROWS = [  # (label, youtube_id, start, split); time_end = start + 10
    ("air drumming", "-abcDEF_123", 5, "train"),
    ("air drumming", "bbbbbbbbbbb", 0, "train"),
    ("passing American football (in game)", "ccccccccccc", 12, "train"),
    ("passing American football (in game)", "ddddddddddd", 30, "train"),
    ("air drumming", "eeeeeeeeeee", 7, "validate"),
    ("passing American football (in game)", "fffffffffff", 1, "validate"),
]


def make_kinetics_root(root: Path, flat: bool = False, is_cc: bool = True, absent=(), frames: int = 20) -> Path:
    """A minimal Kinetics-400 root: annotations/{train,validate}.csv (train with is_cc when ``is_cc``; validate
    without), videos in class folders per split (``flat``: one flat folder). ``absent``: youtube ids not written."""
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    for part in ("train", "validate"):
        cc = is_cc and part == "train"
        lines = ["label,youtube_id,time_start,time_end,split" + (",is_cc" if cc else "")]
        for label, yid, start, split in KINETICS_ROWS:
            if split == part:
                quoted = f'"{label}"' if "(" in label else label
                lines.append(f"{quoted},{yid},{start},{start + 10},{split}" + (",0" if cc else ""))
        (ann / f"{part}.csv").write_text("\n".join(lines) + "\n")
    for i, (label, yid, start, split) in enumerate(KINETICS_ROWS):
        if yid in absent:
            continue
        name = f"{yid}_{start:06d}_{start + 10:06d}.mp4"
        folder = root / "videos" if flat else root / ("train" if split == "train" else "val") / label
        write_video(folder / name, frame_pattern(frames + i, seed=i), fps=(24, 25, 30)[i % 3])
    return root


SSV2_CLASSES = ["Pushing something from left to right", "Pushing something from right to left", "Moving something up"]


def make_ssv2_root(root: Path, frames: int = 20) -> Path:
    """A minimal Something-Something V2 root: labels/{labels,train,validation,test}.json and .webm videos."""
    import json

    labels = root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    (labels / "labels.json").write_text(json.dumps({c: str(i) for i, c in enumerate(SSV2_CLASSES)}))

    def item(vid, ci):
        template = SSV2_CLASSES[ci].replace("something", "[something]")
        return {
            "id": str(vid),
            "label": template.replace("[something]", "a pen").lower(),
            "template": template,
            "placeholders": ["a pen"],
        }

    train = [item(100 + i, i % 3) for i in range(6)]
    val = [item(200 + i, i % 3) for i in range(3)]
    (labels / "train.json").write_text(json.dumps(train, indent=1))
    (labels / "validation.json").write_text(json.dumps(val, indent=1))
    (labels / "test.json").write_text(json.dumps([{"id": "300"}]))
    for i, it in enumerate(train + val):
        path = root / "20bn-something-something-v2" / f"{it['id']}.webm"
        write_video(path, frame_pattern(frames, seed=i), fps=12, codec="libvpx")
    return root
