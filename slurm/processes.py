"""Whether a process of this machine is alive: the one liveness check of the SLURM tooling (a job of submitit's local
executor is a process whose id is its job id)."""

from __future__ import annotations

import os


def pid_alive(pid: int | str) -> bool:
    """True if a process with id ``pid`` exists (signal 0: nothing is sent); False for anything that is not a
    process id."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:  # 0 and negative ids name process groups, not one process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return False
    return True
