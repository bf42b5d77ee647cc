"""Check a dataset before a long job: decode every listed video of every split, report counts and broken files.

    python -m datasets.check --layout ucf101 --root /data/ucf101 [--split N] [--video-dir D --split-dir S]

Prints class and video counts per split, the dataset fingerprint, and the missing and undecodable files by name.
Exits 1 if any listed video is missing or broken, 2 if the layout or a split file is wrong.
"""

from __future__ import annotations

import argparse
import sys

from datasets.errors import DatasetError, VideoDecodeError
from datasets.fingerprint import dataset_fingerprint
from datasets.splits import LAYOUTS, load_split
from datasets.video_io import get_decoder


def check_split(layout, root, split, video_dir=None, split_dir=None, decoder=None, out=None) -> int:
    out = out or sys.stdout
    index = load_split(layout, root, split, video_dir, split_dir, on_missing="skip")
    decoder = decoder or get_decoder()
    broken: list[tuple[str, str]] = []
    seen = set()
    for entry in index.train + index.test:
        if entry.relpath in seen:
            continue
        seen.add(entry.relpath)
        try:
            n = decoder.num_frames(entry.path)
            decoder.read(entry.path, [0, n - 1])  # decodes the whole stream up to its last frame
        except VideoDecodeError as e:
            broken.append((entry.relpath, str(e)))
    print(
        f"[{layout} split {split}] classes={index.num_classes} train={len(index.train)} test={len(index.test)}"
        f" (present) fingerprint={dataset_fingerprint(index)}",
        file=out,
    )
    for e in index.missing:
        print(f"  MISSING {e.relpath} (listed at {e.source})", file=out)
    for rel, why in broken:
        print(f"  BROKEN  {rel}: {why}", file=out)
    bad = len(index.missing) + len(broken)
    print(f"  {len(seen) - len(broken)} decodable, {len(index.missing)} missing, {len(broken)} broken", file=out)
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m datasets.check", description=__doc__.splitlines()[0])
    p.add_argument("--layout", choices=LAYOUTS, required=True)
    p.add_argument("--root")
    p.add_argument("--split", type=int, choices=(1, 2, 3), action="append", help="default: all three")
    p.add_argument("--video-dir")
    p.add_argument("--split-dir")
    p.add_argument("--decoder", default=None, help="pyav (default), torchcodec or auto")
    args = p.parse_args(argv)
    if not args.root and not (args.video_dir and args.split_dir):
        p.error("give --root, or both --video-dir and --split-dir")
    decoder = get_decoder(args.decoder)
    bad = 0
    try:
        for split in args.split or (1, 2, 3):
            bad += check_split(args.layout, args.root, split, args.video_dir, args.split_dir, decoder)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
