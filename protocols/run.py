"""vssl-bench main command: pretrain one method and evaluate it with every protocol.

python protocols/run.py method=tcgl
python protocols/run.py method=vcop preset=smoke
python protocols/run.py -m method=tcgl,vcop seed=0,1,2 hydra/launcher=slurm
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> list[Path]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from experiment import console
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
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    config_file = Path(HydraConfig.get().runtime.output_dir) / "config.resolved.yaml"
    if int(os.environ.get("RANK", "0")) == 0:  # every value as this run reads it (Hydra's .hydra/ holds the raw ones)
        OmegaConf.save(cfg, config_file, resolve=True)
    try:
        return run(cfg, config_file)  # the records written: a sweep's launcher keeps them in each job's result
    except console.USER_ERRORS as e:  # names the file and the fix: the message alone, exit status 2
        if multirun or console.debug():
            traceback.print_exc()
            raise
        print(console.user_error_line(e), file=sys.stderr)
        sys.exit(console.EXIT_USER_ERROR)
    except Exception:
        # In a sweep, Hydra stores a job's exception in its result and re-raises only the first one in the
        # submitting process: print the traceback in the job's own stderr (its SLURM/submitit log) too.
        if multirun:
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
