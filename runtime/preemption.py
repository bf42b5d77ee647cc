"""A submitit job whose work is final ignores the requeue signal from then on.

submitit installs a handler for SIGUSR2 (``SUBMITIT_PREEMPT_SIGNAL``) in every job it runs. SLURM sends that signal
``signal_delay_s`` before the job's time limit (up to 30 s earlier still: slurmctld looks at time limits every 30 s)
and on preemption; the handler calls the job's ``checkpoint`` hook, requeues the job (``scontrol requeue``) and
exits. The handler stays installed after the job's function has returned, so a signal arriving in the job's last
moments, after its records were written, does one of two things:

- while submitit pickles the job's result or runs the atexit callbacks, the handler requeues a finished job: the
  next allocation starts again only to find everything "already done", and where the signal interrupted the
  pickling of the result, the ``<job>_result.pkl.save_tmp`` file left behind makes that allocation fail ("A
  temporary saved file already exists");
- once the interpreter finalizes (after atexit, before the modules and torch are torn down: ~0.5-1.5 s with
  torch loaded), Python has put back the default action for every signal it handled, and SIGUSR2's default action
  is to terminate: the job step exits with 128 + 12 = 140 and SLURM records the job FAILED although its work is
  done.
  This is how a job requeued at its time limit ended FAILED (tests/slurm/test_time_limit.py).

``ignore_requeue_signal`` replaces submitit's handler with SIG_IGN, which Python keeps through finalization.
``experiment.app.run`` calls it when a run ends, whether it wrote its records or raised: its outcome no longer
changes, so neither requeueing nor killing it does any good.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

log = logging.getLogger("vssl")


def ignore_requeue_signal() -> bool:
    """Ignore the signal of submitit's requeue handler, if that handler is installed in this process (i.e. this is
    a submitit job and we are in its main thread); returns whether it was. Elsewhere (a local run, a test, a warm
    worker) nothing changes."""
    job_environment = sys.modules.get("submitit.core.job_environment")  # not imported: no submitit handler
    if job_environment is None or threading.current_thread() is not threading.main_thread():
        return False
    signum = job_environment.JobEnvironment._usr_sig()
    if not isinstance(getattr(signal.getsignal(signum), "__self__", None), job_environment.SignalHandler):
        return False
    signal.signal(signum, signal.SIG_IGN)
    log.info("%s (submitit's requeue signal) is ignored from now on: this run has ended", signal.Signals(signum).name)
    return True
