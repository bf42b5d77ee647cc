"""The DVC pipeline's SLURM settings (slurm/launch.py): hydra/launcher=slurm's fields with params.yaml's `slurm:`
overrides in the same names, and the submitit executor built from them. No cluster needed: a stand-in `srun` on the
PATH lets submitit build its SLURM executor, whose parameters are then read back."""

from __future__ import annotations

import os

import pytest
import yaml

from slurm.launch import JOB_NAME, executor, launcher_config, slurm_settings

from helpers import REPO


@pytest.fixture
def fake_srun(tmp_path, monkeypatch):
    """An `srun` on the PATH (submitit looks for one before it builds a SLURM executor); it is never run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_an_unknown_key_is_an_error_that_lists_the_valid_ones():
    with pytest.raises(ValueError) as e:
        slurm_settings({"partition": "gpu", "gpus": 1, "walltime": 60}, "unused/%j", "params.yaml: slurm")
    msg = str(e.value)
    assert msg.startswith("params.yaml: slurm: unknown key(s) gpus, walltime")
    assert "gpus is now gpus_per_node" in msg  # the key's name in the launcher's vocabulary
    for key in (
        "partition",
        "account",
        "qos",
        "gres",
        "gpus_per_node",
        "cpus_per_task",
        "mem_gb",
        "timeout_min",
        "max_num_timeout",
        "array_parallelism",
        "additional_parameters",
        "setup",
        "lost_after_s",
    ):
        assert key in msg
    assert "_target_" not in msg


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"timeout_min": "soon"}, "timeout_min"),
        ({"lost_after_s": "never"}, "lost_after_s"),
        ({"lost_after_s": 0}, "lost_after_s"),
    ],
)
def test_a_value_of_the_wrong_type_names_its_key(overrides, key):
    with pytest.raises(ValueError, match=key):
        slurm_settings(overrides, "unused/%j")


def test_the_executor_has_the_launchers_settings_with_the_overrides_applied(fake_srun, tmp_path):
    overrides = {
        "partition": "gpu",
        "account": "proj",
        "gpus_per_node": 1,
        "cpus_per_task": 4,
        "mem_gb": 16,
        "timeout_min": 30,
        "max_num_timeout": 2,
        "additional_parameters": {"exclude": "node12"},
        "lost_after_s": 12,
    }
    settings = slurm_settings(overrides, folder=tmp_path / "submitit" / "%j")
    assert settings.lost_after_s == 12 and "lost_after_s" not in settings.launcher
    ex = executor(settings)
    yaml_conf = yaml.safe_load((REPO / "protocols" / "conf" / "hydra" / "launcher" / "slurm.yaml").read_text())
    p = ex.parameters  # submitit's sbatch parameters
    # the overrides, under submitit's names for them
    assert (p["partition"], p["account"], p["gpus_per_node"], p["cpus_per_task"], p["mem"], p["time"]) == (
        "gpu",
        "proj",
        1,
        4,
        "16GB",
        30,
    )
    assert ex.folder == tmp_path / "submitit" / "%j" and p["job_name"] == JOB_NAME
    # additional_parameters merges into the launcher's; every other field is the launcher YAML's
    assert p["additional_parameters"] == {**yaml_conf["additional_parameters"], "exclude": "node12"}
    assert p["signal_delay_s"] == yaml_conf["signal_delay_s"] and p["setup"] == yaml_conf["setup"]
    assert p["array_parallelism"] == yaml_conf["array_parallelism"]
    assert p["nodes"] == yaml_conf["nodes"] and p["ntasks_per_node"] == yaml_conf["tasks_per_node"]
    assert "qos" not in p and "gres" not in p  # null in the YAML: no sbatch option
    with_defaults = executor(slurm_settings({}, tmp_path / "%j")).parameters
    assert (with_defaults["time"], with_defaults["mem"], with_defaults["cpus_per_task"]) == (
        yaml_conf["timeout_min"],
        f"{yaml_conf['mem_gb']}GB",
        yaml_conf["cpus_per_task"],
    )


def test_the_executor_is_the_one_hydra_submitit_launcher_builds_from_the_same_fields(fake_srun, tmp_path, monkeypatch):
    """hydra-submitit-launcher's SlurmLauncher, given the same fields, builds an executor with the same parameters
    (caught where it would submit)."""
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
    from omegaconf import OmegaConf
    from submitit import AutoExecutor

    class Submitted(Exception):
        pass

    def catch(ex, *args, **kwargs):
        raise Submitted(dict(ex.parameters), ex.folder, ex._executor.max_num_timeout)

    settings = slurm_settings(
        {
            "gres": "gpu:a100:1",
            "qos": "high",
            "constraint": "a100",
            "max_num_timeout": 4,
            "additional_parameters": {"mail-type": "END"},
        },
        folder=tmp_path / "%j",
    )
    ours = executor(settings)
    monkeypatch.setattr(AutoExecutor, "map_array", catch)
    launcher = SlurmLauncher(**settings.launcher)
    launcher.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    with pytest.raises(Submitted) as e:
        launcher.launch([["method=vcop"]], 0)
    assert e.value.args == (ours.parameters, ours.folder, ours._executor.max_num_timeout)
    assert ours._executor.max_num_timeout == 4
    assert (ours.parameters["gres"], ours.parameters["qos"], ours.parameters["constraint"]) == (
        "gpu:a100:1",
        "high",
        "a100",
    )


def test_the_committed_params_slurm_section_is_valid():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    settings = slurm_settings(params["slurm"], "runs/pipeline/submitit/%j")
    assert set(params["slurm"]) - {"lost_after_s"} <= set(settings.launcher)
    assert set(settings.launcher) == set(launcher_config()) - {"_target_"}
