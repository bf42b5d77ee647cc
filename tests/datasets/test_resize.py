"""``python -m datasets.resize``: a small mixed tree (mp4 / mkv / mov / m4v / avi / webm, a portrait video, one
already small, one garbage file, annotations, symlinks) resized for real; the output tree, sizes, frame counts and
rates, the manifest, an idempotent rerun, a SIGKILL in the middle of a run and its resume, probing of unjournaled
outputs, refused settings and paths, and a worker that dies."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from datasets.resize import cli
from datasets.resize.journal import JOURNAL, MANIFEST, Journal
from datasets.resize.pool import CRASHED, run_pool
from datasets.resize.transcode import Encoding, Task, target_size
from datasets.synthetic.encode import write_video as write_avi

from helpers import REPO

SHORT = 64
FAST = {"libx264": {"preset": "ultrafast"}, "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"}, "mpeg4": {}}


def frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """n frames of a moving random texture (RGB uint8)."""
    base = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return np.stack([np.roll(base, 4 * i, axis=1) for i in range(n)])


def encode(path: Path, codec: str, n: int, w: int, h: int, fps=25, fmt: str | None = None, audio=False) -> Path:
    """A small test video (``fmt``: the muxer, when the extension's default is not wanted; ``audio``: with an AAC
    track of silence)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = FAST[codec]
        sound = out.add_stream("aac", rate=44100) if audio else None
        for i, f in enumerate(frames(n, h, w)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for k in range(int(n / fps * 44100 / 1024) if audio else 0):
            chunk = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = 44100, k * 1024
            for packet in sound.encode(chunk):
                out.mux(packet)
        for s in (stream, sound) if audio else (stream,):
            for packet in s.encode():
                out.mux(packet)
    return path


def info(path: Path) -> tuple[int, int, int, Fraction]:
    """(width, height, decoded frames, average rate) of a video."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return s.codec_context.width, s.codec_context.height, n, Fraction(s.average_rate)


VIDEOS = {  # rel path -> expected status
    "train/some label/abc_000001_000011.mp4": "transcoded",
    "train/other label/def_000002_000012.mkv": "transcoded",
    "train/other label/UPPER.MP4": "transcoded",
    "val/some label/portrait.mov": "transcoded",
    "val/some label/clip.m4v": "transcoded",
    "ucf/v_Move_g01_c01.avi": "transcoded",
    "ssv2/1234.webm": "transcoded",
    "val/small/small.mp4": "copied",
    "val/broken/garbage.mp4": "broken",
    "inside_link/abc_000001_000011.mp4": "transcoded",  # through a symlink to a folder inside the root
}
OTHER = ("annotations/train.csv", "annotations/val.json", "SYNTHETIC.json", "train/.hidden_note")


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resize-src") / "k400"
    encode(root / "train/some label/abc_000001_000011.mp4", "libx264", 20, 320, 240, fps=25, audio=True)
    encode(root / "train/other label/def_000002_000012.mkv", "libx264", 18, 320, 240, fps=Fraction(30000, 1001))
    encode(root / "train/other label/UPPER.MP4", "libx264", 12, 256, 144, fps=30, fmt="mp4")
    encode(root / "val/some label/portrait.mov", "libx264", 16, 180, 320, fps=24)
    encode(root / "val/some label/clip.m4v", "libx264", 10, 200, 150, fps=25, fmt="mp4")
    write_avi(root / "ucf/v_Move_g01_c01.avi", frames(15, 240, 320), fps=25)
    encode(root / "ssv2/1234.webm", "libvpx-vp9", 14, 300, 240, fps=12)
    encode(root / "val/small/small.mp4", "libx264", 9, 80, 60)
    (root / "val/broken").mkdir(parents=True)
    (root / "val/broken/garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but not a video at all" * 40)
    (root / "annotations").mkdir()
    (root / "annotations/train.csv").write_bytes(
        b"label,youtube_id,time_start,time_end,split\r\nsome label,abc,1,11,train\r\n"
    )
    (root / "annotations/val.json").write_text(json.dumps({"abc": {"annotations": {"label": "some label"}}}))
    (root / "SYNTHETIC.json").write_text('{"not": "synthetic"}\n')
    (root / "train/.hidden_note").write_text("a user's hidden file: copied\n")
    (root / "empty folder").mkdir()
    outside = root.parent / "outside"
    encode(outside / "elsewhere.mp4", "libx264", 4, 320, 240)
    (root / "outside_link").symlink_to(outside, target_is_directory=True)  # skipped: leaves the root
    (root / "inside_link").symlink_to(root / "train/some label", target_is_directory=True)
    return root


def run_cli(src: Path, out: Path, *extra: str) -> int:
    args = ["--layout", "kinetics400", "--root", str(src), "--out", str(out), "--short-side", str(SHORT)]
    return cli.main([*args, "--preset", "ultrafast", *extra])


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file under ``out`` but the manifest."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def first(src, tmp_path_factory):
    """One finished run (2 workers) into a fresh OUT: (out, exit status, stdout)."""
    out = tmp_path_factory.mktemp("resize-out") / "k400-64"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = run_cli(src, out, "--workers", "2")
    return out, rc, buf.getvalue()


def test_the_output_tree_mirrors_the_root(src, first):
    out, rc, stdout = first
    assert rc == 0
    expected = {rel for rel, status in VIDEOS.items() if status != "broken"} | set(OTHER)
    assert files_under(out) - {JOURNAL, MANIFEST} == expected
    dirs = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_dir() and "outside_link" not in p.parts}
    assert dirs == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir()}
    assert (out / "empty folder").is_dir() and not (out / "outside_link").exists()
    for rel in OTHER:  # verbatim
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert "8 transcoded, 1 copied, 1 broken, 0 already done" in stdout
    assert "videos/s per worker (2 workers)" in stdout


def test_sizes_frames_and_rates(src, first):
    out = first[0]
    for rel, status in VIDEOS.items():
        if status == "broken":
            continue
        w, h, n, fps = info(src / rel)
        ow, oh, on, ofps = info(out / rel)
        assert (on, ofps) == (n, fps), rel  # every frame, the same rate
        if status == "copied":
            assert (out / rel).read_bytes() == (src / rel).read_bytes()
            continue
        assert min(ow, oh) == SHORT and ow % 2 == 0 and oh % 2 == 0, (rel, ow, oh)
        assert (ow < oh) == (w < h) and abs(ow / oh - w / h) < 2.5 / SHORT, (rel, ow, oh, w, h)
        assert (ow, oh) == target_size(w, h, SHORT)
    assert info(out / "val/some label/portrait.mov")[:2] == (64, 114)  # 180x320 -> 64 x 113.8
    with av.open(str(src / "train/some label/abc_000001_000011.mp4")) as c:
        assert len(c.streams.audio) == 1
    with av.open(str(out / "train/some label/abc_000001_000011.mp4")) as c:
        assert not c.streams.audio  # dropped
    with av.open(str(out / "ucf/v_Move_g01_c01.avi")) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"
    with av.open(str(out / "ssv2/1234.webm")) as c:
        assert c.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    with av.open(str(out / "train/other label/UPPER.MP4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_manifest(src, first):
    out = first[0]
    m = json.loads((out / MANIFEST).read_text())
    assert m["counts"] == {"videos": 10, "transcoded": 8, "copied": 1, "broken": 1, "other_files": len(OTHER)}
    s = m["settings"]
    assert (s["short_side"], s["crf"], s["preset"], s["root"], s["layout"]) == (
        SHORT,
        23,
        "ultrafast",
        str(src.resolve()),
        "kinetics400",
    )
    assert s["codecs"][".webm"] == "libvpx-vp9" and s["codecs"][".avi"] == "mpeg4" and s["codecs"][".mp4"] == "libx264"
    paths = [v["path"] for v in m["videos"]]
    assert paths == sorted(VIDEOS) and [f["path"] for f in m["files"]] == sorted(OTHER)
    by = {v["path"]: v for v in m["videos"]}
    assert {p: v["status"] for p, v in by.items()} == VIDEOS
    v = by["train/some label/abc_000001_000011.mp4"]
    assert v["source"] == {
        "bytes": (src / v["path"]).stat().st_size,
        "width": 320,
        "height": 240,
        "frames": 20,
        "fps": 25.0,
    }
    assert v["output"] == {"bytes": (out / v["path"]).stat().st_size, "width": 86, "height": 64}
    assert by["train/other label/def_000002_000012.mkv"]["source"]["fps"] == pytest.approx(29.97003)
    bad = by["val/broken/garbage.mp4"]
    assert bad["output"] is None and bad["error"].startswith("cannot open") and "error" not in v
    assert set(m) == {"settings", "counts", "videos", "files", "finished"}


def test_rerun_does_nothing_and_writes_the_same_manifest(src, first, capsys):
    out = first[0]
    before, manifest = stamps(out), json.loads((out / MANIFEST).read_text())
    assert run_cli(src, out) == 0
    assert "0 transcoded, 0 copied, 0 broken, 10 already done" in capsys.readouterr().out
    assert stamps(out) == before  # no output, copy or journal line rewritten
    again = json.loads((out / MANIFEST).read_text())
    assert {**again, "finished": None} == {**manifest, "finished": None}
    assert run_cli(src, out, "--fail-on-broken") == 1  # the broken video still counts
    assert stamps(out) == before


def test_other_settings_are_refused(src, first, capsys):
    out = first[0]
    before = stamps(out)
    assert run_cli(src, out, "--crf", "30") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"resize: error: {out} was made with --crf 23, this run has --crf 30: run again with --crf 23 to resume "
        "it, or give another --out"
    )
    rc = cli.main(["--layout", "kinetics400", "--root", str(src), "--out", str(out), "--short-side", "48"])
    err = capsys.readouterr().err
    assert rc == 2 and "run again with --preset ultrafast --short-side 64 to resume it" in err
    assert stamps(out) == before and (out / MANIFEST).is_file()


def test_a_second_run_into_the_same_out_is_refused(src, first, capsys):
    out = first[0]
    held = Journal(out, json.loads((out / JOURNAL).read_text().splitlines()[0])["settings"], {})
    try:
        assert run_cli(src, out) == 2
        assert "another resize run is writing into it" in capsys.readouterr().err
    finally:
        held.close()


@pytest.mark.parametrize("case", ["missing", "inside", "same", "contains"])
def test_path_errors(src, tmp_path, capsys, case):
    root, out = {
        "missing": (tmp_path / "nope", tmp_path / "out"),
        "inside": (src, src / "resized"),
        "same": (src, src),
        "contains": (src, src.parent),
    }[case]
    assert cli.main(["--layout", "ucf101", "--root", str(root), "--out", str(out), "--short-side", "64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("resize: error: --") and "give" in err[0], err
    assert not (src / "resized").exists()


def test_unjournaled_outputs_are_probed_and_a_torn_journal_line_is_cut(tmp_path, capsys):
    """A kill between an output's rename and its journal line: a valid output is kept (not rewritten), an invalid
    one redone; a half-written last line is dropped."""
    src, out = tmp_path / "src", tmp_path / "out"
    for k in range(3):
        encode(src / f"c/{k}.mp4", "libx264", 8, 160, 120)
    encode(src / "c/small.mp4", "libx264", 6, 64, 48)
    assert run_cli(src, out, "--workers", "1") == 0
    journal = out / JOURNAL
    header = journal.read_text().splitlines(keepends=True)[0]
    journal.write_text(header + '{"path": "c/2.mp4", "status": "transc')  # every video unjournaled, a torn line
    (out / "c/1.mp4").write_bytes(b"garbage")  # an output that is not valid: redone
    before = stamps(out)
    capsys.readouterr()
    assert run_cli(src, out, "--workers", "1") == 0
    assert "1 transcoded, 0 copied, 0 broken, 3 already done" in capsys.readouterr().out
    after = stamps(out)
    assert all(after[f] == before[f] for f in ("c/0.mp4", "c/2.mp4", "c/small.mp4"))
    assert after["c/1.mp4"] != before["c/1.mp4"] and info(out / "c/1.mp4")[2] == 8
    entries = [json.loads(line) for line in journal.read_text().splitlines()]  # the torn line is gone
    assert sorted(e["path"] for e in entries[1:] if e.get("reused")) == ["c/0.mp4", "c/2.mp4", "c/small.mp4"]
    m = json.loads((out / MANIFEST).read_text())
    assert (m["counts"]["transcoded"], m["counts"]["copied"]) == (3, 1)


def _crash_on(task: Task) -> dict:
    """A worker function that dies (SIGKILL) on the task named "crash"."""
    if task.rel == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"path": task.rel, "status": "transcoded", "pid": os.getpid()}


def test_a_worker_that_dies_marks_only_its_video_broken(tmp_path):
    enc = Encoding(SHORT)
    tasks = [Task(name, str(tmp_path / name), str(tmp_path / "o" / name), enc) for name in ("a", "crash", "b", "c")]
    got = {task.rel: entry for task, entry in run_pool(tasks, 2, fn=_crash_on)}
    assert set(got) == {"a", "crash", "b", "c"}
    assert got["crash"]["status"] == "broken" and got["crash"]["error"] == CRASHED
    assert all(got[k]["status"] == "transcoded" for k in "abc")


def _journaled(journal: Path) -> list[str]:
    try:
        lines = journal.read_text().splitlines()[1:]
    except FileNotFoundError:
        return []
    return [e["path"] for e in map(_json, lines) if e]


def _json(line: str) -> dict | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _live_in_group(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are not zombies (a zombie waits for a reaper that a container's
    init may not be)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _live_in_group(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_sigkill_then_resume(tmp_path):
    """SIGKILL the command (1 worker) once 2 videos are journaled; the worker dies with it; the resumed run removes
    the temporary files, keeps the finished outputs (same inode and mtime) and finishes the rest."""
    src, out = tmp_path / "src", tmp_path / "out"
    names = [f"a/{k:02d}.mp4" for k in range(8)]  # processed in this order
    for rel in names:
        encode(src / rel, "libx264", 30, 320, 240)
    cmd = [sys.executable, "-m", "datasets.resize", "--layout", "kinetics400", "--root", str(src), "--out", str(out)]
    # preset veryslow: about 0.5 s a video on this machine (2 cores), so the 6 left after the kill take seconds
    cmd += ["--short-side", "128", "--preset", "veryslow", "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(_journaled(out / JOURNAL)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before the kill: {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _group_gone(proc.pid), "a worker outlived the killed main process"
    finally:
        for pid in _live_in_group(proc.pid):  # only on a failure: what is left of the process group started here
            os.kill(pid, signal.SIGKILL)
        proc.wait()
    assert not (out / MANIFEST).exists()  # it had not finished
    done = _journaled(out / JOURNAL)
    assert 2 <= len(done) < len(names)
    finished = {rel: (out / rel).stat() for rel in done}
    stale = out / "a" / ".00.partial-99999999.mp4"  # as a kill mid-video leaves (the run may have left one too)
    stale.write_bytes(b"half a video")

    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    reused = int(re.search(r"(\d+) already done", res.stdout).group(1))
    assert reused in (len(done), len(done) + 1)  # + 1: one killed between its rename and its journal line
    for rel, st in finished.items():
        now = (out / rel).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), rel
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]
    m = json.loads((out / MANIFEST).read_text())
    assert m["counts"]["videos"] == m["counts"]["transcoded"] == len(names)
    for rel in names:
        assert info(out / rel)[2] == info(src / rel)[2]


def test_resize_throughput_benchmark_smoke(tmp_path, capsys):
    """benchmarks/resize_throughput.py runs (tests/test_benchmarks_smoke.py's rule for every benchmark script)."""
    from benchmarks import resize_throughput

    rows = resize_throughput.main(["--smoke", "--data", str(tmp_path / "videos")])
    out = capsys.readouterr().out
    assert [r["workers"] for r in rows] == [1, 2] and all(r["videos"] == 3 for r in rows)
    assert all(r[c] > 0 for r in rows for c in resize_throughput.COLUMNS[2:])
    assert "| " + " | ".join(resize_throughput.COLUMNS) + " |" in out
    assert "command: python -m datasets.resize --layout kinetics400" in out and "machine: " in out
