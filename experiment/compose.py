"""The app's config from a list of Hydra overrides, as ``protocols/run.py`` would compose it from its command line:
the one compose helper of the project (the DVC pipeline, the SLURM launch code, benchmarks and tests use it)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig

from experiment.config import register as register_schemas

CONFIG_DIR = Path(__file__).resolve().parents[1] / "protocols" / "conf"


def compose(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """``protocols/conf/config.yaml`` with ``overrides`` (struct mode: a misspelled key or group is an error);
    ``return_hydra_config``: keep the ``hydra`` node too (its launcher, sweep and job settings)."""
    register_schemas()  # the typed schemas in Hydra's ConfigStore (experiment/config.py), every protocol registered now
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)
