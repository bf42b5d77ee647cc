"""Where the pipeline reads and writes, relative to the repository root (DVC runs every stage there)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path("data")  # the data stage's output: the embedded sets
MANIFEST = DATA_DIR / "manifest.json"  # label, root and fingerprint of each set
RUNS_DIR = Path("runs/pipeline")
PRETRAIN_DIR = RUNS_DIR / "pretrain"  # the cells' pretraining runs (paths.runs)
FEATURES_DIR = RUNS_DIR / "features"  # their cached features (paths.cache)
LOGS_DIR = RUNS_DIR / "logs"  # launcher local: one log per cell
SUBMITIT_DIR = RUNS_DIR / "submitit"  # launcher slurm: submitit's folders, one per task
STATUS_FILE = RUNS_DIR / "status.json"  # the cells' states, for `python -m pipeline status`
RECORDS_DIR = Path("results/records")  # the sweep stage's output (paths.records)
MATRIX_FILE = "matrix.json"  # in RECORDS_DIR: what the matrix expects
