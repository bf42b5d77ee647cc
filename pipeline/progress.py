"""The cells' states during a sweep (queued, running, done, failed): a line printed on every change, and
``runs/pipeline/status.json``, which ``python -m pipeline status`` shows from another shell."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pipeline.paths import STATUS_FILE


class Progress:
    """Cell states (queued, running, done, failed), printed on every change and kept in ``status.json``."""

    def __init__(self, names: list[str], launcher: str, current: list[str] = (), status_file: Path = STATUS_FILE):
        """``names``: the cells to run; ``current``: the matrix's cells whose records are current (shown as done)."""
        self.launcher, self.file, self.t0 = launcher, status_file, time.time()
        self.cells = {
            n: {"state": "done", "start": None, "end": None, "job": "records current", "log": "", "error": ""}
            for n in current
        }
        self.cells |= {
            n: {"state": "queued", "start": None, "end": None, "job": "", "log": "", "error": ""} for n in names
        }
        self._save()

    def set(self, name: str, state: str, **info) -> None:
        """Set a cell's state and any of its ``job``, ``log`` and ``error``; prints a line and saves on a change."""
        c = self.cells[name]
        if c["state"] == state and not info:
            return
        now = time.time()
        if state == "running" and c["start"] is None:
            c["start"] = now
        if state in ("done", "failed"):
            c["end"] = now
            c["start"] = c["start"] or now
        c.update(state=state, **info)
        counts = {s: sum(x["state"] == s for x in self.cells.values()) for s in ("queued", "running", "done", "failed")}
        where = f" ({c['job']})" if c["job"] else ""
        print(
            f"[sweep {time.time() - self.t0:6.0f}s] {name}: {state}{where}"
            f"{' - ' + c['error'] if state == 'failed' else ''} | " + ", ".join(f"{n} {s}" for s, n in counts.items()),
            flush=True,
        )
        self._save()

    def _save(self) -> None:
        from results.atomic import atomic_write

        self.file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"launcher": self.launcher, "started": self.t0, "cells": self.cells}, indent=2) + "\n"
        atomic_write(self.file, lambda f: f.write(text.encode()))

    def failed(self) -> list[str]:
        return [n for n, c in self.cells.items() if c["state"] == "failed"]


def format_status(cells: dict) -> str:
    """One line per cell: name, state, time taken (so far), and its job or its error."""
    now = time.time()
    lines = []
    for name, c in cells.items():
        took = ((c["end"] or now) - c["start"]) if c["start"] else None
        detail = c["error"] if c["state"] == "failed" else c["job"]
        lines.append(f"{name:40s} {c['state']:8s} {'-' if took is None else f'{took:7.1f}s':>9s}  {detail}")
    return "\n".join(lines)


def show_status(status_file: Path = STATUS_FILE) -> str:
    """``python -m pipeline status``: the launcher, when the sweep started, and one line per cell."""
    if not status_file.exists():
        raise FileNotFoundError(f"no sweep has run here ({status_file} not found)")
    state = json.loads(status_file.read_text())
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state["started"]))
    return f"launcher {state['launcher']}, started {started}\n{format_status(state['cells'])}"
