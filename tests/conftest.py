import os

import pytest

# Small, deterministic CPU runs: the machine has 2 cores. (The tests' helpers are importable through pyproject.toml's
# pytest `pythonpath`.)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)


@pytest.fixture
def ucf_root(tmp_path):
    from videofiles import make_ucf_root

    return make_ucf_root(tmp_path / "ucf")


@pytest.fixture
def hmdb_root(tmp_path):
    from videofiles import make_hmdb_root

    return make_hmdb_root(tmp_path / "hmdb")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Both embedded layouts at size `tiny`, generated once per test session (the `data` folder of preset=smoke)."""
    from datasets.synthetic import generate

    root = tmp_path_factory.mktemp("data")
    for layout in ("ucf101", "hmdb51"):
        generate(root / "embedded" / f"{layout}-tiny-seed0", layout, "tiny", 0)
    return root
