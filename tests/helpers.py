"""Helpers shared by the test modules (import them from here, never from conftest)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def compose_cfg(*overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "protocols" / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def smoke_overrides(data: Path, work: Path, *extra) -> list[str]:
    return ["preset=smoke", f"paths.data={data}", f"paths.runs={work}/runs", f"paths.cache={work}/cache",
            f"paths.records={work}/records", *extra]
