"""Dataset fingerprint: a short hash that changes whenever the evaluated data could have changed.

It covers the content of the split files that were read and, for every listed video (train and test), its relative
path and its size in bytes, plus the names of the videos skipped as missing or undecodable (Kinetics: what was
present). Sizes rather than content hashes keep it cheap on 13k videos; a re-encoded or truncated file changes its
size. Every result record carries it.
"""

from __future__ import annotations

import hashlib

from datasets.entries import SplitIndex


def dataset_fingerprint(index: SplitIndex) -> str:
    h = hashlib.sha256()
    h.update(f"{index.layout}|split{index.split}\n".encode())
    for f in sorted(index.split_files, key=lambda p: p.name):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    for part, entries in (("train", index.train), ("test", index.test)):
        for e in sorted(entries, key=lambda e: e.relpath):
            h.update(f"{part}|{e.relpath}|{e.label}|{e.path.stat().st_size}\n".encode())
    for e in sorted(index.missing, key=lambda e: e.relpath):
        h.update(f"missing|{e.relpath}\n".encode())
    for e in sorted(index.undecodable, key=lambda e: e.relpath):  # Kinetics: present but skipped
        h.update(f"undecodable|{e.relpath}|{e.path.stat().st_size}\n".encode())
    return h.hexdigest()[:16]
