"""The embedded synthetic datasets are byte-identical to the committed digests (tests/datasets/synthetic_digest.json).

Guards the generator's output against unintended change (a refactor, a dependency's rounding): every set is generated
into a temporary folder and hashed, file by file, with its relative path. Two digests per set:

* ``frames``: the frames ``render_video`` gives for every planned video, plus every file ``generate`` writes except
  the videos (split files, ``SYNTHETIC.json``). Independent of the video encoder, so checked everywhere.
* ``files``: every file ``generate`` writes, videos included. The encoded bytes depend on the PyAV / FFmpeg build
  (``encoder`` in the json), so this one is skipped, saying why, under another build.

A mismatch means the generator writes other data than the committed digest records. If that change is intended, bump
``datasets.synthetic.VERSION`` (so that embedded data written before is regenerated) and regenerate the digests with

    .venv/bin/python tests/datasets/test_synthetic_digest.py --update

or, for a set added without changing the others (e.g. a new layout), regenerate only that set's digests with
``--update NAME ...`` (the other entries stay as committed).

The tests check the tiny sets (about a second each; ucf101, hmdb51, kinetics400 and ssv2). The small ucf101 / hmdb51
sets (about 40 s) are in the digest file too; check them, e.g. after changing the generator, with

    .venv/bin/python tests/datasets/test_synthetic_digest.py --check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import pytest

from datasets import synthetic as syn

DIGESTS = Path(__file__).with_name("synthetic_digest.json")
SETS = {f"{layout}-{size}-seed0": (layout, size, 0) for size in ("tiny", "small") for layout in ("ucf101", "hmdb51")}
SETS |= {f"{layout}-tiny-seed0": (layout, "tiny", 0) for layout in ("kinetics400", "ssv2")}
VIDEO_SUFFIXES = {".avi", ".mp4", ".webm"}
TESTED = [name for name in SETS if "-tiny-" in name]  # the small sets: --check
HOW_TO_UPDATE = (
    "if the change is intended, bump datasets.synthetic.VERSION and regenerate the digests with "
    "`.venv/bin/python tests/datasets/test_synthetic_digest.py --update`"
)


def encoder() -> str:
    """The PyAV / libavcodec build the encoded videos depend on."""
    import av

    return f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}"


def _combine(entries: list[tuple[str, bytes]]) -> str:
    """sha256 over (name, sha256 of content) pairs, in the given order."""
    h = hashlib.sha256()
    for name, data in entries:
        h.update(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return h.hexdigest()


def set_digests(root: Path, layout: str, size: str, seed: int) -> dict[str, str]:
    """{"files": ..., "frames": ...} of the dataset generated at ``root`` for (layout, size, seed)."""
    written = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    files = _combine([(rel, p.read_bytes()) for rel, p in written])
    spec = syn.SIZES[size]
    rendered = [
        (f"render:{v.relpath}", syn.render_item(spec, seed, layout, v).tobytes())
        for v in syn.plan_videos(layout, spec, seed)
    ]
    others = [(rel, p.read_bytes()) for rel, p in written if p.suffix not in VIDEO_SUFFIXES]
    return {"files": files, "frames": _combine(others + rendered)}


def generate_digests(name: str, base: Path, workers: int = 1) -> dict[str, str]:
    layout, size, seed = SETS[name]
    root = syn.generate(base / name, layout, size, seed, workers=workers)
    return set_digests(root, layout, size, seed)


def committed() -> dict:
    return json.loads(DIGESTS.read_text())


@pytest.fixture(scope="module")
def digests(tmp_path_factory):
    base, cache = tmp_path_factory.mktemp("digest"), {}

    def get(name: str) -> dict[str, str]:
        if name not in cache:
            cache[name] = generate_digests(name, base)
        return cache[name]

    return get


@pytest.mark.parametrize("name", TESTED)
def test_rendered_frames_and_split_files_match_the_committed_digest(name, digests):
    want = committed()["sets"][name]["frames"]
    assert digests(name)["frames"] == want, (
        f"{name}: the rendered frames, split files or manifest differ from the committed digest "
        f"({DIGESTS.name}); {HOW_TO_UPDATE}"
    )


@pytest.mark.parametrize("name", TESTED)
def test_written_files_match_the_committed_digest(name, digests):
    data = committed()
    if data["encoder"] != encoder():
        pytest.skip(f"the video digests were made with {data['encoder']}, this environment has {encoder()}")
    assert digests(name)["files"] == data["sets"][name]["files"], (
        f"{name}: the files generate() writes differ from the committed digest ({DIGESTS.name}), with the same "
        f"encoder ({encoder()}); {HOW_TO_UPDATE}"
    )


def test_digest_file_covers_every_set():
    assert sorted(committed()["sets"]) == sorted(SETS)


def update(names: list[str] | None = None) -> None:
    """Regenerate the sets ``names`` (default: every set) with the current code and rewrite the committed digests;
    the other sets keep their committed digests, which needs the encoder they were made with."""
    names = names or list(SETS)
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        raise SystemExit(f"unknown set(s) {', '.join(unknown)}; the sets are {', '.join(SETS)}")
    sets = {}
    if set(names) != set(SETS):
        old = committed()
        if old["encoder"] != encoder():
            raise SystemExit(f"the digests were made with {old['encoder']}, this is {encoder()}: update every set")
        sets = {name: digests for name, digests in old["sets"].items() if name in SETS}
    with tempfile.TemporaryDirectory() as tmp:
        sets |= {name: generate_digests(name, Path(tmp), workers=2) for name in names}
    data = {
        "comment": "sha256 digests of the embedded synthetic datasets (tests/datasets/test_synthetic_digest.py). "
        "Regenerate with `.venv/bin/python tests/datasets/test_synthetic_digest.py --update`. A changed "
        "digest means the generator's output changed: then bump datasets.synthetic.VERSION.",
        "version": syn.VERSION,
        "encoder": encoder(),
        "sets": sets,
    }
    DIGESTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {DIGESTS}")


def check() -> int:
    """Compare every set, the small ones included, with the committed digests; 1 if any differs."""
    data, failed = committed(), False
    same_encoder = data["encoder"] == encoder()
    if not same_encoder:
        print(f"video files not compared: the digests were made with {data['encoder']}, this is {encoder()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in SETS:
            have, want = generate_digests(name, Path(tmp), workers=2), data["sets"][name]
            kinds = ("frames", "files") if same_encoder else ("frames",)
            differ = [kind for kind in kinds if have[kind] != want[kind]]
            failed |= bool(differ)
            print(f"{name}: {'differs in ' + ', '.join(differ) if differ else 'same'}")
    if failed:
        print(HOW_TO_UPDATE)
    return int(failed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--update",
        nargs="*",
        metavar="SET",
        help="regenerate the digests with the current code: of the named sets only, or of every set",
    )
    mode.add_argument("--check", action="store_true", help="compare every set, small included, with the digests")
    args = parser.parse_args()
    if args.update is not None:
        update(args.update)
    else:
        raise SystemExit(check())
