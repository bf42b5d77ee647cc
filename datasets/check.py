"""Check a dataset before a long job: decode every listed video of every split, report counts and broken files.

    python -m datasets.check --layout ucf101 --root /data/ucf101 [--split N] [--video-dir D --split-dir S]
    python -m datasets.check --layout kinetics400 --root /data/k400 [--max-skipped 0.1]
    python -m datasets.check --layout ssv2 --root /data/ssv2

Layouts: ucf101, hmdb51 (splits 1-3), kinetics400 and ssv2 (one official split: train / validation). Prints class
and video counts per split, the dataset fingerprint, and the missing and undecodable files by name. Exits 1 if more
listed videos are missing or broken than ``--max-skipped`` allows (a fraction of the listed videos, default 0: any;
Kinetics is always incomplete, so give it the run's ``max_skipped``), 2 if the layout or an annotation file is wrong.
"""

from __future__ import annotations

import argparse
import sys

from datasets.errors import DatasetError, VideoDecodeError
from datasets.fingerprint import dataset_fingerprint
from datasets.splits import LAYOUTS, SINGLE_SPLIT, load_split
from datasets.video_io import get_decoder


def check_split(layout, root, split, video_dir=None, split_dir=None, decoder=None, out=None) -> tuple[int, int]:
    """Decode every listed video of one split; prints the report and returns (videos left out, videos listed)."""
    out = out or sys.stdout
    # max_skipped=1: the check lists every missing or undecodable Kinetics video instead of stopping at the threshold
    index = load_split(layout, root, split, video_dir, split_dir, on_missing="skip", max_skipped=1.0)
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
    broken += [(e.relpath, "undecodable (probe)") for e in index.undecodable]
    for e in index.missing:
        print(f"  MISSING {e.relpath} (listed at {e.source})", file=out)
    for rel, why in broken:
        print(f"  BROKEN  {rel}: {why}", file=out)
    bad = len(index.missing) + len(broken)
    decodable = len(seen) - len(broken) + len(index.undecodable)
    print(f"  {decodable} decodable, {len(index.missing)} missing, {len(broken)} broken", file=out)
    return bad, len(seen) + len(index.missing) + len(index.undecodable)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m datasets.check", description=__doc__.splitlines()[0])
    p.add_argument("--layout", choices=LAYOUTS, required=True)
    p.add_argument("--root")
    p.add_argument(
        "--split", type=int, choices=(1, 2, 3), action="append", help="default: all (1 for one-split layouts)"
    )
    p.add_argument("--video-dir")
    p.add_argument("--split-dir")
    p.add_argument("--decoder", default=None, help="pyav (default), torchcodec or auto")
    p.add_argument("--max-skipped", type=float, default=0.0, help="fraction of listed videos that may be absent")
    args = p.parse_args(argv)
    if not args.root and not (args.video_dir and args.split_dir):
        p.error("give --root, or both --video-dir and --split-dir")
    if not 0 <= args.max_skipped <= 1:
        p.error("--max-skipped is a fraction in [0, 1]")
    splits = args.split or ((1,) if args.layout in SINGLE_SPLIT else (1, 2, 3))
    if args.layout in SINGLE_SPLIT and set(splits) != {1}:
        p.error(f"{args.layout} has one official split (train / validation): --split 1")
    decoder = get_decoder(args.decoder)
    too_many = False
    try:
        for split in splits:
            bad, listed = check_split(args.layout, args.root, split, args.video_dir, args.split_dir, decoder)
            too_many |= bad > args.max_skipped * listed
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if too_many else 0


if __name__ == "__main__":
    sys.exit(main())
