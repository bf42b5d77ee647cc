"""vssl-bench main command: pretrain one method and evaluate it with every protocol.

    python protocols/run.py method=tcgl
    python protocols/run.py method=vcop preset=smoke
    python protocols/run.py -m method=tcgl,vcop seed=0,1,2 hydra/launcher=slurm
"""
from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without `pip install -e`

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> list[Path]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    from experiment.app import run
    from experiment.checks import ConfigValueError, check_values

    logging.getLogger("vssl").setLevel(logging.INFO)
    try:
        check_values(cfg)  # a bad value is one clear line, not a traceback from deep inside the run
    except (ConfigValueError, OmegaConfBaseException) as e:
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # the launcher reports the job's error as "ValueError: ..."
            traceback.print_exc()
            raise ValueError(str(e)) from None
        print(f"vssl-bench: invalid configuration: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        return run(cfg)  # the records written: a sweep's launcher keeps them in each job's result
    except Exception:
        # In a sweep, Hydra stores a job's exception in its result and re-raises only the first one in the
        # submitting process: print the traceback in the job's own stderr (its SLURM/submitit log) too.
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            traceback.print_exc()
        raise


if __name__ == "__main__":
    from experiment.checks import ConfigValueError, check_overrides

    try:
        check_overrides(sys.argv[1:])  # group overrides Hydra itself would crash on (dataset=5)
    except ConfigValueError as e:
        print(f"vssl-bench: invalid configuration: {e}", file=sys.stderr)
        sys.exit(2)
    main()
