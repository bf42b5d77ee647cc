"""A real single-node SLURM cluster for the tests in this folder, brought up by ``slurm/local-cluster.sh up``.

Skipped, with the reason shown in the summary, where it cannot be brought up (not root, no apt, install failure);
with CI=true that is a failure instead. The cluster is left running afterwards (a second `up` is a no-op), unless
VSSL_SLURM_STOP_AFTER_TESTS=1 and these tests started it.
"""

import os
import shutil
import subprocess

import pytest

from helpers import REPO

SCRIPT = REPO / "slurm" / "local-cluster.sh"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"CI=true and the local SLURM cluster is unavailable: {reason}", pytrace=False)
    pytest.skip(f"local SLURM cluster unavailable: {reason}")


@pytest.fixture(scope="session")
def slurm_cluster():
    """The local cluster, up and with its node idle; yields the output of `up`."""
    if os.geteuid() != 0:
        _unavailable("not root (slurm/local-cluster.sh up installs packages and starts daemons)")
    if not shutil.which("sinfo") and not shutil.which("apt-get"):
        _unavailable("SLURM is not installed and there is no apt-get to install it")
    was_up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True).returncode == 0
    try:
        r = subprocess.run(
            ["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        _unavailable("slurm/local-cluster.sh up did not finish within 10 minutes")
    if r.returncode != 0:
        _unavailable(f"slurm/local-cluster.sh up failed (exit {r.returncode}):\n{r.stdout[-1500:]}{r.stderr[-3000:]}")
    yield r.stdout
    if not was_up and os.environ.get("VSSL_SLURM_STOP_AFTER_TESTS") == "1":
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)
