"""What a run prints: a short header first (commit, method, backbone, data, device, where its folder and config
are), a summary table of the records it wrote last, and user errors as one line.

A user error is a problem of the input, not of the code: a wrong dataset root, a missing or malformed split file, a
broken video at evaluation, a bad or unsafe checkpoint, a feature cache that the run was told to read from, an
invalid configuration value. Each of these exceptions already names the file and the fix; the command prints that
message alone and exits with status 2. ``VSSL_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from datasets.errors import DatasetError
from experiment.checks import ConfigValueError
from protocols.features import FeatureCacheMiss
from runtime.checkpoint import CheckpointError

USER_ERRORS = (DatasetError, CheckpointError, FeatureCacheMiss, ConfigValueError)
EXIT_USER_ERROR = 2


def debug() -> bool:
    """Whether ``VSSL_DEBUG`` asks for tracebacks of user errors."""
    return os.environ.get("VSSL_DEBUG", "").lower() not in ("", "0", "false", "no")


def user_error_line(e: BaseException) -> str:
    return f"vssl-bench: error: {e}"


def header(
    git: dict,
    method: str,
    backbone: str,
    data: str,
    device: str,
    run_dir: Path | str,
    config_file: Path | str | None,
    ranks: int = 1,
) -> str:
    """The run's first lines."""
    sha = f"{git['sha'][:12]}{' (dirty)' if git['dirty'] else ''}"
    lines = [
        f"vssl-bench git {sha} | method {method} | backbone {backbone} | data {data} | device {device}"
        + (f" | {ranks} processes" if ranks > 1 else ""),
        f"run folder {run_dir}",
    ]
    if config_file:
        lines.append(f"resolved config {config_file}")
    return "\n".join(lines)


def summary(paths: list[Path]) -> str:
    """A table of the records written: dataset, protocol, top-1 (and top-5 where there is one), the file."""
    if not paths:
        return "no records written (all current, or a stage that writes none)"
    rows = []
    for p in paths:
        r = json.loads(Path(p).read_text())
        m = r["metrics"]
        rows.append(
            (
                r["dataset"],
                r["protocol"],
                f"{m['top1']:.3f}" if "top1" in m else "-",
                f"{m['top5']:.3f}" if "top5" in m else "-",
                str(p),
            )
        )
    head = ("dataset", "protocol", "top1", "top5", "record")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([f"records written ({len(rows)}):", *(fmt.format(*row).rstrip() for row in [head, *rows])])
