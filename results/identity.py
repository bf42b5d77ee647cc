"""What identifies a cell, a pretraining run and a result record, and what each is called on disk: the one place
where these names are made. The app (experiment/app.py), the DVC pipeline (pipeline/), the SLURM status
(slurm/status.py), the aggregation and the tables use it.

- a **cell** of the benchmark matrix: (method, backbone, seed) and the control flag, named
  ``tcgl__tiny__seed0`` (``tcgl__untrained__tiny__seed0`` for the untrained control);
- a **pretraining run**: ``<method>[__untrained]__<backbone>__<data>__split<k>__seed<s>__<identity>``, the folder
  that holds its checkpoints and log, and the name of its pretraining curve;
- a **record**: ``{method}[__{weights}]__{backbone}__{dataset}__split{split}__{protocol}__seed{seed}__{variant}.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CELL_FIELDS = ("method", "weights", "backbone", "dataset", "split", "protocol", "seed")  # a record's cell


class FilenameError(ValueError):
    """A field value from which no file name can be built."""


@dataclass(frozen=True)
class Cell:
    """One cell of the benchmark matrix: pretrains once, evaluates every protocol on every dataset of the matrix."""

    method: str
    backbone: str
    seed: int
    control: str = "none"

    @property
    def name(self) -> str:
        """``tcgl__tiny__seed0``, ``tcgl__untrained__tiny__seed0`` for the control."""
        parts = [self.method, *(["untrained"] if self.control != "none" else []), self.backbone, f"seed{self.seed}"]
        return "__".join(parts)


def sanitise(value: Any) -> str:
    """``value`` as one part of a file name: runs of other characters than ``A-Za-z0-9.-_`` become ``-``, ``__``
    (the separator) cannot occur, no leading dot (no hidden files)."""
    text = re.sub(r"[^A-Za-z0-9.\-_]+", "-", str(value))
    text = re.sub(r"_{2,}", "_", text).strip(".-_")
    if not text:
        raise FilenameError(f"cannot build a file name from field value {value!r}")
    return text


def record_filename(record: dict) -> str:
    """``{method}[__{weights}]__{backbone}__{dataset}__split{split}__{protocol}__seed{seed}__{variant}.json``: each
    part sanitised, ``weights`` only where it is not ``pretrained``, the first 8 digits of ``variant_hash``."""
    r = {k: sanitise(record[k]) for k in CELL_FIELDS}
    weights = "" if record["weights"] == "pretrained" else f"__{r['weights']}"
    return (
        f"{r['method']}{weights}__{r['backbone']}__{r['dataset']}__split{r['split']}__{r['protocol']}"
        f"__seed{r['seed']}__{sanitise(record['variant_hash'])[:8]}.json"
    )


def run_folder_name(
    method: str, backbone: str, data_label: str, split: int, seed: int, identity_hash: str, untrained: bool
) -> str:
    """``<method>[__untrained]__<backbone>__<data>__split<k>__seed<s>__<identity>``: a pretraining run's folder
    (``untrained``: the untrained control of a method that pretrains)."""
    suffix = "__untrained" if untrained else ""
    return f"{method}{suffix}__{backbone}__{data_label}__split{split}__seed{seed}__{identity_hash[:8]}"


def curve_filename(run_folder: str) -> str:
    """The pretraining curve of a run, under ``<records>/pretraining/``."""
    return f"{run_folder}.csv"
