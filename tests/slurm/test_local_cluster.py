"""slurm/local-cluster.sh brings up a usable cluster with accounting, and `up` again is a quick no-op."""

import subprocess
import time

from helpers import REPO
from sacct_rows import settled

SCRIPT = REPO / "slurm" / "local-cluster.sh"


def test_cluster_is_up_with_accounting_and_a_second_up_is_a_quick_noop(slurm_cluster):
    t0 = time.time()
    r = subprocess.run(["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "started" not in r.stdout and "wrote" not in r.stdout  # nothing restarted, no config rewritten
    assert time.time() - t0 < 10
    status = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    states = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()[1:6]}
    assert states == dict.fromkeys(("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd"), "running")
    assert subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.split()[0] in (
        "idle",
        "mixed",
        "allocated",
    )
    # accounting answers: without it submitit would wait forever on a job killed without a result
    assert subprocess.run(["sacct", "-n", "-X", "-o", "JobID"], capture_output=True).returncode == 0
    conf = open("/etc/slurm/slurm.conf").read()
    for key in (
        "KillWait=5",
        "EnforcePartLimits=ALL",
        "JobRequeue=1",
        "NodeAddr=127.0.0.1",
        "AccountingStorageType=accounting_storage/slurmdbd",
        "batch_sched_delay=0",
    ):
        assert key in conf


def test_requests_beyond_the_node_fail_at_submit_instead_of_pending(slurm_cluster):
    r = subprocess.run(["sbatch", "--cpus-per-task=64", "--wrap", "true"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Submitted" not in r.stdout


def test_a_new_job_id_was_never_used_by_an_older_cluster_in_the_same_accounting_database(slurm_cluster):
    """The accounting database (/var/lib/mysql) can outlive the controller's state folder; slurmctld would then number
    jobs from 1 again and ``sacct -j N`` would also list an older job N (seen: a requeue test read a previous day's
    COMPLETED row). `up` sets FirstJobId past every id the database holds, once per state folder."""
    r = subprocess.run(
        ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    rows = settled(job, "JobIDRaw,State")  # once slurmdbd has recorded the job's end
    assert len(rows) == 1, rows  # only the job just submitted, never an older one with the same id
    conf = open("/etc/slurm/slurm.conf").read()
    first = int(conf.split("FirstJobId=")[1].split()[0])
    assert int(job) >= first >= 1
