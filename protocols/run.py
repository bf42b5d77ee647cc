"""vssl-bench main command: pretrain one method and evaluate it with every protocol.

    python protocols/run.py method=tcgl
    python protocols/run.py method=vcop preset=smoke
    python protocols/run.py -m method=tcgl,vcop seed=0,1,2 hydra/launcher=slurm
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without `pip install -e`

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from protocols.app import run

    logging.getLogger("vssl").setLevel(logging.INFO)
    run(cfg)


if __name__ == "__main__":
    main()
