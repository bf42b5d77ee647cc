"""Tests for runtime.checkpoint: atomic save + sha256 sidecar, safe load, strict state-dict load."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import random
import shlex
import signal
import time

import numpy as np
import pytest
import torch
from torch import nn

from runtime import checkpoint as ckpt
from runtime.checkpoint import (
    CheckpointError,
    file_sha256,
    latest_good_checkpoint,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
    sidecar_path,
    verify_checkpoint,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def _payload(epoch: int = 3) -> dict:
    return {
        "model": _model().state_dict(),
        "epoch": epoch,
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "numpy_rng": torch.as_tensor(np.random.default_rng(1).bit_generator.state["state"]["state"] % 1000),
        "config": {"method": {"name": "vcop", "optim": {"lr": 0.01}}, "seed": 0, "tags": ["a", "b"]},
    }


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_roundtrip_and_sidecar(tmp_path):
    path = save_checkpoint(tmp_path / "sub" / "epoch_3.pt", _payload())
    assert path.is_file() and sidecar_path(path).is_file()
    digest, name = sidecar_path(path).read_text().split()
    assert digest == file_sha256(path) and name == "epoch_3.pt"
    assert verify_checkpoint(path, require_sidecar=True) == digest
    loaded = load_checkpoint(path)
    ref = _payload()
    assert loaded["epoch"] == 3 and loaded["config"] == ref["config"]
    assert loaded["python_rng"] == ref["python_rng"]
    assert torch.equal(loaded["torch_rng"], ref["torch_rng"])
    for key, value in ref["model"].items():
        assert torch.equal(loaded["model"][key], value), key
    model = _model()
    load_state_strict(model, loaded["model"], "roundtrip")
    assert _leftovers(path.parent) == []


def test_save_refuses_non_plain_payload_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"payload\['rng'\]\['state'\].*numpy.*torch.as_tensor"):
        save_checkpoint(tmp_path / "x.pt", {"rng": {"state": np.zeros(3)}})
    with pytest.raises(TypeError, match="must be a dict"):
        save_checkpoint(tmp_path / "y.pt", [torch.zeros(1)])
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_previous_checkpoint_and_leaves_no_temp(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", _payload(epoch=1))
    before = file_sha256(path)

    def exploding_save(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", exploding_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, _payload(epoch=2))
    assert file_sha256(path) == before
    assert load_checkpoint(path)["epoch"] == 1
    assert _leftovers(tmp_path) == []


def test_crash_between_checkpoint_and_sidecar_is_not_good(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "epoch_1.pt", _payload(epoch=1))
    real = ckpt.atomic_write
    calls = []

    def crash_on_sidecar(target, write):
        calls.append(target)
        if target.name.endswith(".sha256"):
            raise KeyboardInterrupt("simulated crash")  # the process dies after os.replace of the checkpoint
        real(target, write)

    monkeypatch.setattr(ckpt, "atomic_write", crash_on_sidecar)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _payload(epoch=2))
    assert [p.name for p in calls] == ["epoch_1.pt", "epoch_1.pt.sha256"]  # checkpoint first, sidecar after
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(path)  # stale sidecar from epoch 1 does not match the epoch-2 content
    assert latest_good_checkpoint(tmp_path) is None


def test_truncated_file_detected_by_sha(tmp_path):
    path = save_checkpoint(tmp_path / "epoch_5.pt", _payload())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="sha256 mismatch") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path, verify=False)


def test_sidecar_mismatch_names_both_hashes(tmp_path):
    a = save_checkpoint(tmp_path / "a.pt", _payload(epoch=1))
    b = save_checkpoint(tmp_path / "b.pt", _payload(epoch=2))
    expected, actual = file_sha256(a), file_sha256(b)
    assert expected != actual
    os.replace(b, a)  # a's sidecar now describes different content
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(a)
    msg = str(err.value)
    assert expected in msg and actual in msg and str(a) in msg
    assert load_checkpoint(a, verify=False)["epoch"] == 2  # explicit opt-out still loads safely


def test_malformed_sidecar(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", _payload())
    sidecar_path(path).write_text("not-a-hash\n")
    with pytest.raises(CheckpointError, match="malformed sha256 sidecar"):
        load_checkpoint(path)


def test_missing_file_error_text(tmp_path):
    missing = tmp_path / "nowhere" / "epoch_9.pt"
    for verify in (True, False):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(missing, verify=verify)
        msg = str(err.value)
        assert "not found" in msg and str(missing) in msg and "pretrained=" in msg


def test_file_without_sidecar_is_accepted_with_computed_hash(tmp_path, caplog):
    path = tmp_path / "downloaded.pth"
    torch.save(_model().state_dict(), path)
    with caplog.at_level(logging.INFO, logger="runtime.checkpoint"):
        assert verify_checkpoint(path) == file_sha256(path)
    assert file_sha256(path) in caplog.text
    state = load_checkpoint(path)
    load_state_strict(_model(), state, "downloaded.pth")
    with pytest.raises(CheckpointError, match="no sha256 sidecar"):
        verify_checkpoint(path, require_sidecar=True)


class _TouchWithOpen:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


class _TouchWithSystem:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.target)}",))


def _write_malicious(path, gadget, fmt):
    obj = {"model": {"w": torch.zeros(2)}, "evil": gadget}
    if fmt == "torch":
        torch.save(obj, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("gadget_cls", [_TouchWithOpen, _TouchWithSystem])
@pytest.mark.parametrize("fmt", ["torch", "raw-pickle"])
def test_malicious_pickle_is_refused_and_never_executed(tmp_path, gadget_cls, fmt):
    # Positive control: this gadget really does create its file when unpickled unsafely.
    control_target = tmp_path / "control_pwned"
    _write_malicious(tmp_path / "control.pt", gadget_cls(control_target), fmt)
    if fmt == "torch":
        torch.load(tmp_path / "control.pt", weights_only=False)
    else:
        with open(tmp_path / "control.pt", "rb") as f:
            pickle.load(f)
    assert control_target.exists()

    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _write_malicious(path, gadget_cls(target), fmt)
    sidecar_path(path).write_text(f"{file_sha256(path)}  evil.pt\n")  # hash is fine: only the content is bad
    for verify in (True, False):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path, verify=verify)
        msg = str(err.value)
        assert "weights_only" in msg and "never unpickle untrusted code" in msg and str(path) in msg
    assert not target.exists()


def test_weights_only_is_not_overridden_by_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _write_malicious(path, _TouchWithOpen(target), "torch")
    with pytest.raises(CheckpointError, match="never unpickle"):
        load_checkpoint(path)
    assert not target.exists()


def test_strict_load_lists_missing_unexpected_and_mis_shaped_keys():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: torch.ones_like(v) for k, v in model.state_dict().items()}
    del state["2.bias"]
    state["head.weight"] = torch.zeros(5)
    state["0.weight"] = torch.zeros(3, 7)
    with pytest.raises(CheckpointError) as err:
        load_state_strict(model, state, "VCOP r3d encoder from runs/x/epoch_3.pt")
    msg = str(err.value)
    assert "VCOP r3d encoder from runs/x/epoch_3.pt" in msg
    assert "missing keys (1)" in msg and "2.bias" in msg
    assert "unexpected keys (1)" in msg and "head.weight" in msg
    assert "shape mismatches (1)" in msg and "0.weight: checkpoint (3, 7) vs model (3, 4)" in msg
    for k, v in model.state_dict().items():  # nothing was loaded
        assert torch.equal(v, before[k]), k


def test_strict_load_truncates_long_listings():
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(15)])
    with pytest.raises(CheckpointError) as err:
        load_state_strict(model, {}, "empty checkpoint")
    msg = str(err.value)
    assert "missing keys (30)" in msg and "... and 20 more" in msg
    assert msg.count("\n    ") == 11  # 10 keys + the "more" line


def test_ddp_prefix_stripped_only_when_all_keys_have_it():
    src = _model()
    prefixed = {f"module.{k}": v for k, v in src.state_dict().items()}
    dst = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    load_state_strict(dst, prefixed, "ddp checkpoint")
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
    load_state_strict(nn.DataParallel(_model()), src.state_dict(), "plain into DataParallel")
    load_state_strict(nn.DataParallel(_model()), prefixed, "ddp into DataParallel")

    mixed = dict(src.state_dict())
    mixed["module.0.weight"] = mixed.pop("0.weight")
    with pytest.raises(CheckpointError) as err:
        load_state_strict(_model(), mixed, "mixed")
    assert "module.0.weight" in str(err.value) and "0.weight" in str(err.value)


def test_latest_good_checkpoint_skips_bad_newest(tmp_path, caplog):
    assert latest_good_checkpoint(tmp_path / "missing") is None
    assert latest_good_checkpoint(tmp_path) is None
    for epoch in (1, 2, 9, 10):
        save_checkpoint(tmp_path / f"epoch_{epoch}.pt", _payload(epoch))
    assert latest_good_checkpoint(tmp_path).name == "epoch_10.pt"  # numeric, not lexicographic order

    newest = tmp_path / "epoch_10.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated by a crash / full disk
    torch.save(_payload(11), tmp_path / "epoch_11.pt")  # sidecar never written
    (tmp_path / ".epoch_12.pt.abc.tmp").write_bytes(b"half")  # leftover temp file
    with caplog.at_level(logging.WARNING, logger="runtime.checkpoint"):
        best = latest_good_checkpoint(tmp_path)
    assert best == tmp_path / "epoch_9.pt"
    assert load_checkpoint(best)["epoch"] == 9
    assert "epoch_10.pt" in caplog.text and "epoch_11.pt" in caplog.text


# ------------------------------------------------------------------------------ SIGKILL while a checkpoint is written
def _big_payload(epoch: int) -> dict:
    return {"state_dict": {"w": torch.full((2_000_000,), float(epoch))}, "epoch": epoch}  # 8 MB


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _save_and_get_killed(path, epoch: int, moment: str) -> None:
    """Child process: save a checkpoint and SIGKILL itself at ``moment`` (a real SIGKILL: no cleanup runs)."""
    from results import atomic

    if moment == "mid-data":  # after the first MB of the checkpoint's bytes
        real_write = ckpt._WriteRecorder.write
        written = [0]

        def write(self, data):
            n = real_write(self, data)
            written[0] += len(data)
            if written[0] > 1 << 20:
                _die()
            return n

        ckpt._WriteRecorder.write = write
    elif moment == "slow-data":  # killed from outside, by the test, while it writes
        real_write = ckpt._WriteRecorder.write

        def write(self, data):  # 64 KiB at a time, 1 ms apart: 8 MB take over 0.1 s
            view = memoryview(data).cast("B")
            for i in range(0, len(view), 1 << 16):
                real_write(self, view[i : i + (1 << 16)])
                self._f.flush()
                time.sleep(0.001)
            return len(view)

        ckpt._WriteRecorder.write = write
    else:
        real_replace = atomic.os.replace
        replaced = []

        def replace(src, dst):
            if moment == "before-rename" or (moment == "mid-sidecar" and replaced):
                _die()
            replaced.append(dst)
            real_replace(src, dst)

        atomic.os.replace = replace
        if moment == "after-rename":  # the checkpoint is in place, its sidecar not yet written
            ckpt.file_sha256 = lambda p: _die()
    save_checkpoint(path, _big_payload(epoch))


@pytest.mark.parametrize("moment", ["mid-data", "before-rename", "after-rename", "mid-sidecar", "slow-data"])
@pytest.mark.parametrize("same_name", [False, True], ids=["new-name", "overwrite"])
def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, moment, same_name):
    """A process saving epoch 2 is SIGKILLed at each moment of the save. The last good checkpoint is still found
    and loads; a half-written temp file, a checkpoint without sidecar, or one whose content no longer matches its
    sidecar (``overwrite``: the same name saved again) are all ignored; saving again works."""
    save_checkpoint(tmp_path / "epoch_0000.pt", _big_payload(0))
    if same_name:
        save_checkpoint(tmp_path / "epoch_0002.pt", _big_payload(1))  # to be overwritten with epoch 2's weights
    target = tmp_path / "epoch_0002.pt"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    child = mp.get_context("fork").Process(target=_save_and_get_killed, args=(target, 2, moment))
    child.start()
    if moment == "slow-data":  # kill it from here once its temp file holds 1 MB
        deadline = time.time() + 60
        while not any(p.stat().st_size > 1 << 20 for p in tmp_path.glob(".epoch_0002.pt.*.tmp")):
            assert child.is_alive() and time.time() < deadline, "the child never started writing"
            time.sleep(0.001)
        os.kill(child.pid, signal.SIGKILL)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL

    leftovers = _leftovers(tmp_path)
    assert len(leftovers) == (1 if moment in ("mid-data", "before-rename", "slow-data", "mid-sidecar") else 0)
    if moment in ("mid-data", "slow-data"):  # the partial bytes went to a temp file, never under the real name
        assert 0 < (tmp_path / leftovers[0]).stat().st_size < len(before["epoch_0000.pt"])
    renamed = moment in ("after-rename", "mid-sidecar")
    if not renamed:  # nothing under a real name changed
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith(".tmp")} == before
    elif same_name:  # the new content sits beside the old sidecar: detected by its sha256
        with pytest.raises(CheckpointError, match="sha256 mismatch"):
            load_checkpoint(target)
    else:
        with pytest.raises(CheckpointError, match="no sha256 sidecar"):
            verify_checkpoint(target, require_sidecar=True)

    good = latest_good_checkpoint(tmp_path)
    assert good == (target if same_name and not renamed else tmp_path / "epoch_0000.pt")
    assert load_checkpoint(good)["epoch"] == (1 if good == target else 0)
    # the rerun saves the same checkpoint over whatever was left
    save_checkpoint(target, _big_payload(2))
    assert latest_good_checkpoint(tmp_path) == target and load_checkpoint(target)["epoch"] == 2
