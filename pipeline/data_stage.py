"""The ``data`` stage: generate the embedded sets the matrix needs, and ``data/manifest.json`` (label, root,
fingerprint and size of each set), which the sweep stage reads."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.params import overrides
from pipeline.paths import DATA_DIR, MANIFEST


def write_manifest(cfg, keys: list[str], out: Path = MANIFEST) -> dict:
    """Generate the embedded sets that are missing (real ones are only read), and record what each set is."""
    from experiment import data
    from results.atomic import atomic_write

    (DATA_DIR / "embedded").mkdir(parents=True, exist_ok=True)  # the stage's output, also for real datasets
    manifest = {}
    for key in keys:
        es = data.eval_set(cfg, key, 0)
        manifest[key] = {
            "label": es.label,
            "root": str(cfg.dataset.sets[key].root),
            "fingerprint": es.fingerprint,
            "classes": es.index.num_classes,
            "train": len(es.index.train),
            "test": len(es.test),
            "skipped": es.index.skipped,  # listed videos missing or undecodable (Kinetics)
            "synthetic": bool(cfg.dataset.sets[key].synthetic),
        }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(out, lambda f: f.write(text.encode()))
    return manifest


def data_stage(params: dict) -> dict:
    """``python -m pipeline data``: the sets the data stage's config pretrains on and the matrix evaluates on."""
    from experiment.compose import compose

    ovr = overrides(params)
    print(f"pipeline data: {' '.join(ovr)}", flush=True)
    cfg = compose(ovr)
    keys = list(dict.fromkeys([cfg.dataset.pretrain_on, *params["matrix"]["datasets"]]))
    return write_manifest(cfg, keys)


def read_manifest(params: dict) -> dict:
    """The data stage's manifest, with every evaluation set of the matrix in it (else: which stage to run)."""
    if not MANIFEST.exists():
        raise FileNotFoundError(f"{MANIFEST} not found: run the data stage first (dvc repro data)")
    manifest = json.loads(MANIFEST.read_text())
    missing = [k for k in params["matrix"]["datasets"] if k not in manifest]
    if missing:
        raise KeyError(f"{MANIFEST} has no set {missing}; run the data stage again (dvc repro data)")
    return manifest
