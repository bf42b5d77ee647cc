"""Crash-safe checkpoints: atomic save with a sha256 sidecar, ``weights_only`` load, strict state-dict load.

Layout: ``epoch_7.pt`` and next to it ``epoch_7.pt.sha256`` (``sha256sum`` format: ``<hex>  epoch_7.pt``).
The checkpoint is written first (temp file in the same folder, fsync, ``os.replace``), the sidecar after it, so a
crash at any point leaves either the previous good pair or a checkpoint whose sidecar is missing or stale; such a
checkpoint is never picked by :func:`latest_good_checkpoint` and is refused by :func:`load_checkpoint`
(stale sidecar) unless ``verify=False``.

Payloads hold only tensors and plain Python values (state dicts, epoch, RNG states as tensors, config as a plain
dict); :func:`save_checkpoint` checks this up front so every checkpoint loads with ``torch.load(weights_only=True)``.
We never unpickle arbitrary objects: a file that needs that is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from results.atomic import atomic_write

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".sha256"
_PLAIN_TYPES = (str, int, float, bool, complex, bytes, type(None), torch.Size, torch.dtype, torch.device)
_DDP_PREFIX = "module."
_SHOW = 10  # how many keys of each kind an error message lists


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, fails its sha256 check, is unsafe to load or does not fit the model."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (full disk, read-only folder, ...). The previous checkpoint under that name,
    if any, is untouched (or the new one lacks a matching sidecar, so it is never picked); no temp file is left.
    ``errno`` is that of the underlying OS error where there is one."""


class _WriteRecorder:
    """File proxy for ``torch.save``: keeps the first OS error of a write, which torch turns into an obscure
    ``RuntimeError: [enforce fail at inline_container.cc] unexpected pos ...``."""

    def __init__(self, f):
        self._f, self.error = f, None

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self):
        return self._f.flush()


def _free_bytes(folder: Path) -> str:
    try:
        st = os.statvfs(folder)
    except OSError:
        return "unknown"
    return f"{st.f_bavail * st.f_frsize} bytes"


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<path>.sha256``, the file holding the checkpoint's sha256."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's content (streamed in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_payload(obj: Any, where: str = "payload") -> None:
    """Raise ``TypeError`` naming the first value that ``torch.load(weights_only=True)`` would refuse."""
    if isinstance(obj, torch.Tensor) or isinstance(obj, _PLAIN_TYPES):
        return
    if isinstance(obj, (dict, OrderedDict)):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} has type {type(key).__name__}; use str or int keys")
            _check_payload(value, f"{where}[{key!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_payload(value, f"{where}[{i}]")
        return
    hint = ""
    if type(obj).__module__.startswith("numpy"):
        hint = " (convert numpy values with torch.as_tensor(...) or .tolist())"
    elif type(obj).__module__.startswith("omegaconf"):
        hint = " (convert configs with OmegaConf.to_container(cfg, resolve=True))"
    raise TypeError(
        f"{where} has type {type(obj).__module__}.{type(obj).__qualname__}, which a weights_only=True load "
        f"refuses; checkpoints hold only tensors and plain Python values{hint}"
    )


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Atomically save ``payload`` to ``path`` and then its sha256 to ``<path>.sha256``; return ``path``.

    ``payload`` must hold only tensors and plain Python values (``TypeError`` otherwise, before anything is
    written). The folder is created if needed. A failed write (full disk, read-only folder) raises
    :class:`CheckpointWriteError` naming the file, the OS error and the free space, and leaves no temp file.
    """
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    _check_payload(payload)
    path = Path(path)
    recorder = None

    def write_payload(f):
        nonlocal recorder
        recorder = _WriteRecorder(f)
        torch.save(payload, recorder)

    what = "checkpoint"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write_payload)
        digest = file_sha256(path)
        what = "sha256 sidecar"
        atomic_write(sidecar_path(path), lambda f: f.write(f"{digest}  {path.name}\n".encode()))
    except (OSError, RuntimeError) as e:
        cause = recorder.error if recorder is not None and recorder.error is not None else e
        kept = (
            "the previous checkpoint of that name is untouched"
            if what == "checkpoint"
            else "the new checkpoint has no matching sidecar, so it is never resumed from"
        )
        err = CheckpointWriteError(
            f"could not write {what} for {path}: {cause}; {kept} and no temp file is left. Check that "
            f"{path.parent} is writable and has free space (free now: {_free_bytes(path.parent)})"
        )
        err.errno = getattr(cause, "errno", None)
        raise err from cause
    return path


def read_sidecar(path: str | os.PathLike) -> str | None:
    """The sha256 recorded next to ``path``, or ``None`` when there is no sidecar."""
    side = sidecar_path(path)
    try:
        text = side.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    digest = text.split()[0].lower() if text else ""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CheckpointError(
            f"{side}: malformed sha256 sidecar (expected '<64 hex digits>  <name>'); "
            f"delete it or the checkpoint and re-save"
        )
    return digest


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path} (absolute: {path.absolute()}); check the path / the "
            f"pretrained= or resume= setting, or run the pretext stage that writes it first"
        )


def verify_checkpoint(path: str | os.PathLike, require_sidecar: bool = False) -> str:
    """Check ``path`` against its sidecar and return its sha256.

    Missing file -> :class:`CheckpointError`. Sidecar present and different -> :class:`CheckpointError` naming
    both hashes. No sidecar -> accepted (a checkpoint from elsewhere, e.g. a ``pretrained=`` file) and its
    computed hash returned, unless ``require_sidecar``.
    """
    path = Path(path)
    _require_file(path)
    expected = read_sidecar(path)
    actual = file_sha256(path)
    if expected is None:
        if require_sidecar:
            raise CheckpointError(
                f"{path}: no sha256 sidecar {sidecar_path(path).name}; the save did not finish "
                f"(crash between checkpoint and sidecar) - do not trust this file"
            )
        log.info("%s has no sha256 sidecar; accepting it with computed sha256 %s", path, actual)
    elif expected != actual:
        raise CheckpointError(
            f"{path}: sha256 mismatch - sidecar {sidecar_path(path).name} says {expected}, file content is "
            f"{actual}; the file is truncated, corrupt or was replaced. Re-save or re-download it "
            f"(or delete the stale sidecar if you replaced the file on purpose)"
        )
    return actual


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> dict:
    """Load a checkpoint on CPU with ``torch.load(weights_only=True)``.

    With ``verify`` the file is checked by :func:`verify_checkpoint` first (a mismatching sidecar is refused; a
    file with no sidecar is accepted and its hash logged). A file that needs arbitrary objects unpickled is
    refused: we never unpickle untrusted code.
    """
    path = Path(path)
    if verify:
        verify_checkpoint(path)
    else:
        _require_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "weights only" in text.lower() or "weights_only" in text.lower():
            found = re.search(r"GLOBAL ([\w.]+)", text)
            detail = f"it references {found.group(1)}" if found else " ".join(text.split())[:300]
            raise CheckpointError(
                f"{path}: refused by torch.load(weights_only=True) ({detail}) - the file contains objects other "
                f"than tensors and plain Python values, and we never unpickle untrusted code. Re-export it as a "
                f"plain state dict (torch.save(model.state_dict(), ...)) from code you trust"
            ) from e
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated?): {e}") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated?): {e}") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def latest_good_checkpoint(folder: str | os.PathLike, pattern: str = "epoch_*.pt") -> Path | None:
    """Newest checkpoint in ``folder`` matching ``pattern`` whose sha256 sidecar exists and verifies.

    "Newest" is the highest number in the file name (``epoch_10`` after ``epoch_9``), ties broken by mtime.
    Truncated, corrupt or sidecar-less files are skipped with a warning. ``None`` when nothing qualifies.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    candidates = [p for p in folder.glob(pattern) if p.is_file() and not p.name.endswith((SIDECAR_SUFFIX, ".tmp"))]
    candidates.sort(key=lambda p: (_natural_key(p.name), p.stat().st_mtime_ns), reverse=True)
    for path in candidates:
        try:
            verify_checkpoint(path, require_sidecar=True)
        except CheckpointError as e:
            log.warning("skipping checkpoint that is not good: %s", e)
            continue
        return path
    return None


def _strip_ddp_prefix(state_dict: dict) -> dict:
    if state_dict and all(isinstance(k, str) and k.startswith(_DDP_PREFIX) for k in state_dict):
        return OrderedDict((k[len(_DDP_PREFIX) :], v) for k, v in state_dict.items())
    return state_dict


def _listing(title: str, items: list[str]) -> str:
    shown = "\n    ".join(items[:_SHOW])
    more = f"\n    ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"  {title} ({len(items)}):\n    {shown}{more}"


def load_state_strict(module: nn.Module, state_dict: dict, what: str) -> None:
    """Load ``state_dict`` into ``module`` strictly, explaining any mismatch.

    A leading ``module.`` (DataParallel / DDP) prefix is stripped from the state dict only when ALL its keys have
    it, and a DataParallel / DDP ``module`` is unwrapped, so both sides are compared unwrapped. On mismatch a
    :class:`CheckpointError` names ``what`` (which model / checkpoint) and lists missing keys, unexpected keys and
    shape mismatches (first 10 of each, with counts). Nothing is loaded in that case.
    """
    if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        module = module.module
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{what}: expected a state dict, got {type(state_dict).__name__}")
    state_dict = _strip_ddp_prefix(state_dict)
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state_dict)
    unexpected = sorted(str(k) for k in state_dict if k not in own)
    mis_shaped = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict
        and isinstance(state_dict[k], torch.Tensor)
        and isinstance(own[k], torch.Tensor)
        and state_dict[k].shape != own[k].shape
    )
    if missing or unexpected or mis_shaped:
        parts = [
            f"{what}: state dict does not match {type(module).__name__} "
            f"({len(own)} model keys, {len(state_dict)} checkpoint keys)"
        ]
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mis_shaped),
        ):
            if items:
                parts.append(_listing(title, items))
        parts.append(
            "  check that the checkpoint was made for this backbone/method (backbone name, depth, "
            "num_classes) and that you pass the encoder's state dict, not the whole method's"
        )
        raise CheckpointError("\n".join(parts))
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:  # e.g. a non-tensor value or dtype problem not caught above
        raise CheckpointError(f"{what}: load_state_dict failed: {e}") from e


__all__ = [
    "CheckpointError",
    "CheckpointWriteError",
    "file_sha256",
    "latest_good_checkpoint",
    "load_checkpoint",
    "load_state_strict",
    "read_sidecar",
    "save_checkpoint",
    "sidecar_path",
    "verify_checkpoint",
]
