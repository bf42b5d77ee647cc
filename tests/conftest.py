import os
import sys
from pathlib import Path

import pytest

# Small, deterministic CPU runs: the machine has 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def ucf_root(tmp_path):
    from videofiles import make_ucf_root

    return make_ucf_root(tmp_path / "ucf")


@pytest.fixture
def hmdb_root(tmp_path):
    from videofiles import make_hmdb_root

    return make_hmdb_root(tmp_path / "hmdb")
