"""Helpers shared by the test modules (import them from here, never from conftest)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def compose_cfg(*overrides):
    """experiment.compose.compose, with the overrides as arguments."""
    from experiment.compose import compose

    return compose(list(overrides))


def smoke_overrides(data: Path, work: Path, *extra) -> list[str]:
    return [
        "preset=smoke",
        f"paths.data={data}",
        f"paths.runs={work}/runs",
        f"paths.cache={work}/cache",
        f"paths.records={work}/records",
        *extra,
    ]


def make_record(**overrides) -> dict:
    """A valid result record; keyword arguments replace its fields."""
    rec = {
        "record_format": 2,
        "method": "vcop",
        "weights": "pretrained",
        "backbone": "r3d",
        "dataset": "ucf101",
        "split": 1,
        "protocol": "linear",
        "seed": 0,
        "variant_hash": "0123456789abcdef",
        "metrics": {"top1": 0.5125, "top5": 0.80},
        "n_videos": 3783,
        "n_skipped": 0,
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "git_dirty": False,
        "git_time": "2025-11-26T14:13:05+00:00",
        "code_hash": "fedcba9876543210",
        "config_hash": "00112233aabbccdd",
        "config": {"method": {"name": "vcop", "params": {"num_clips": 3}}, "seed": 0},
        "dataset_fingerprint": "ucf101-split1-3783",
        "checkpoint_sha256": "ab" * 32,
        "packages": {"python": "3.11.7", "torch": "2.14.1"},
        "device": "cpu (2 threads)",
    }
    rec.update(overrides)
    return rec
