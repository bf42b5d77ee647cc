"""Compare two folders of result records (two runs of the same matrix, e.g. before and after a refactor).

    python -m results.compare OLD_RECORDS NEW_RECORDS [--ignore-code]

The same records must exist in both (same file names), with the same content. ``--ignore-code`` leaves out the
fields that name the code rather than the result: ``git_sha``, ``git_time``, ``git_dirty`` and ``code_hash`` (a
commit that only moves code changes them and nothing else). Pretraining curves (``pretraining/*.csv``) and
``matrix.json`` are compared byte for byte. Exit status 1 and one line per difference when they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CODE_FIELDS = ("git_sha", "git_time", "git_dirty", "code_hash")


def _files(folder: Path) -> dict[str, Path]:
    """Records, curves and the matrix file by relative name (hidden folders such as .timing are not results)."""
    return {
        str(p.relative_to(folder)): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def _diff_values(a, b, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in {'old' if k in a else 'new'}" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += _diff_values(a[k], b[k], f"{where}.{k}")
        return out
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def compare(old: Path, new: Path, ignore_code: bool = False) -> list[str]:
    """Every difference between the two folders, one line each (empty: the same results)."""
    a, b = _files(Path(old)), _files(Path(new))
    problems = [f"{name}: only in {'old' if name in a else 'new'}" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        if name.endswith(".json") and name != "matrix.json":
            ra, rb = (json.loads(p.read_text()) for p in (a[name], b[name]))
            if ignore_code:
                for r in (ra, rb):
                    for k in CODE_FIELDS:
                        r.pop(k, None)
            problems += _diff_values(ra, rb, name)
        elif a[name].read_bytes() != b[name].read_bytes():
            problems.append(f"{name}: bytes differ")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--ignore-code", action="store_true", help=f"leave out {', '.join(CODE_FIELDS)}")
    a = ap.parse_args(argv)
    problems = compare(a.old, a.new, a.ignore_code)
    n = len(_files(a.old))
    print("\n".join(problems) if problems else f"identical: {n} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
