"""A warm worker for the DVC pipeline's local cells: one Python process that has imported torch, Hydra and the suite
once, and forks a fresh child for every cell. A cell then costs its own work, not ~3.5 s of start-up; on the default
matrix's 112 stages that is about 6 of its 20 minutes (BENCHMARKS.md).

    stage command (client, stdlib only)  --unix socket, its stdin/stdout/stderr passed along-->  server (warm)
                                                                                                   | fork
                                                                                                   v
                                                        child: client's cwd, environment, umask and stdio; runs
                                                        protocols.pipeline.main(argv); its exit code goes back

What keeps a forked child equivalent to a fresh process:
- The server is keyed by everything that decides what a fresh process would have imported: the Python executable,
  the repository, the size and mtime of every .py/.yaml file of the suite, the site-packages folders' mtimes, and
  the environment variables read at import time (OMP_*, CUDA_*, PYTHON*, ...). Any change gives a new key, so a new
  server; a stale one is never asked, and exits after ``idle_s`` without work.
- The server only imports and composes one config (Hydra's plugin scan); it never runs torch kernels, starts
  threads or touches CUDA, so a fork is safe. Every child is forked from that same pristine state, never from an
  earlier cell.
- The child takes the client's environment, working directory, umask and file descriptors, runs in its own process
  group, and is killed with its workers if the client goes away (Ctrl-C or kill of ``dvc repro``).
Results are identical to a fresh process (tests/test_pipeline.py compares both). ``VSSL_WARM=0`` or
``local.warm_worker: false`` in params.yaml runs each cell in its own fresh process instead.

    python -m protocols.warm status        the running warm workers of this user
    python -m protocols.warm stop          stop them (each also exits by itself after idle_s without work)
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("methods", "datasets", "protocols", "results")
# Environment read when modules are imported (thread pools, CUDA, Python itself): part of a server's identity.
IMPORT_TIME_ENV = ("OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_", "CUDA_", "CUBLAS_", "NVIDIA_", "NCCL_", "TORCH",
                   "PYTORCH_", "PYTHON", "LD_", "HYDRA_", "VSSL_")
NOT_IDENTITY = ("VSSL_WARM",)  # the worker's own switches
DEFAULT_IDLE_S = 120.0
START_TIMEOUT_S = 180.0
_HDR = struct.Struct("!I")
_CODE = struct.Struct("!i")


class WarmUnavailable(RuntimeError):
    """The warm worker could not be started or reached; the caller runs the cell in a fresh process instead."""


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    d = Path(base) / f"vssl-warm-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    if d.stat().st_uid != os.getuid() or d.stat().st_mode & 0o077:
        raise WarmUnavailable(f"{d} is not a private folder of this user; remove it")
    return d


def _code_stamp(roots) -> list:
    rows = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(filenames):
                if f.endswith((".py", ".yaml")):
                    st = os.stat(os.path.join(dirpath, f))
                    rows.append((os.path.relpath(os.path.join(dirpath, f), REPO), st.st_size, st.st_mtime_ns))
    return rows


def _site_stamp() -> list:
    import site

    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    return [(d, os.stat(d).st_mtime_ns) for d in dirs if os.path.isdir(d)]


def identity(env=None, roots=None) -> str:
    """The key of the server a cell may run in (see the module docstring)."""
    env = os.environ if env is None else env
    roots = [REPO / p for p in PACKAGES] if roots is None else roots
    ident = {"python": os.path.realpath(sys.executable), "version": sys.version, "repo": str(REPO),
             "code": _code_stamp(roots), "site": _site_stamp(),
             "env": sorted((k, v) for k, v in env.items()
                           if k.startswith(IMPORT_TIME_ENV) and not k.startswith(NOT_IDENTITY))}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _paths(key: str) -> dict:
    d = runtime_dir()
    return {"socket": d / f"{key}.sock", "lock": d / f"{key}.lock", "log": d / f"{key}.log"}


# ----------------------------------------------------------------------------------------------------------- client

def _connect(path: Path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
    except OSError:
        s.close()
        return None
    return s


def _start_server(p: dict, key: str, idle_s: float):
    import fcntl

    with open(p["lock"], "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter per key; the others wait and then connect
        s = _connect(p["socket"])
        if s is not None:
            return s
        p["socket"].unlink(missing_ok=True)  # left by a server that was killed
        with open(p["log"], "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "protocols.warm", "serve", "--key", key,
                                     "--idle", str(idle_s)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            s = _connect(p["socket"])
            if s is not None:
                print(f"warm worker {proc.pid} started (log: {p['log']})", file=sys.stderr, flush=True)
                return s
            if proc.poll() is not None:
                tail = p["log"].read_text(errors="replace")[-2000:]
                raise WarmUnavailable(f"the warm worker exited with {proc.returncode} while starting:\n{tail}")
            time.sleep(0.05)
        proc.kill()
        raise WarmUnavailable(f"the warm worker did not listen within {START_TIMEOUT_S:.0f} s (log: {p['log']})")


def run_in_worker(entry: str, argv: list[str], idle_s: float = DEFAULT_IDLE_S) -> int:
    """Run ``entry`` ("module:function", called with argv) in a fork of the warm server; return its exit code.
    Raises WarmUnavailable if there is no server and none can be started (nothing has run then)."""
    if not hasattr(socket, "send_fds"):
        raise WarmUnavailable("this platform cannot pass file descriptors over a unix socket")
    key = identity()
    p = _paths(key)
    s = _connect(p["socket"]) or _start_server(p, key, idle_s)
    req = json.dumps({"key": key, "entry": entry, "argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ),
                      "umask": _umask()}).encode()
    with s:
        try:
            socket.send_fds(s, [_HDR.pack(len(req)) + req], [0, 1, 2])
            code = _recv_exact(s, _CODE.size)
        except KeyboardInterrupt:  # closing the socket makes the child kill its process group
            return 130
        if code is None:
            print(f"warm worker: the connection closed without an exit code (see {p['log']})", file=sys.stderr)
            return 1
        return _CODE.unpack(code)[0]


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def _recv_exact(s, n: int):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ----------------------------------------------------------------------------------------------------------- server

def _preload() -> None:
    """Import what a cell imports, and compose one config so that Hydra's plugin scan is done. No torch kernels,
    threads or CUDA: the process must stay safe to fork."""
    import importlib

    for m in ("torch", "numpy", "av", "omegaconf", "hydra", "protocols.app", "protocols.pipeline",
              "protocols.data", "datasets.synthetic", "methods.registry", "results.aggregate"):
        importlib.import_module(m)
    from methods.registry import available_methods

    available_methods()  # imports every method module (a broken one fails in its own cell, with its traceback)
    from protocols.pipeline import compose

    compose([])


def _child(conn, listener, wake_r, wake_w, fds, req) -> None:
    """In the forked child: become the client's process, run the entry, send back the exit code, exit."""
    import importlib
    import io
    import threading
    import traceback

    code = 1
    try:
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for f in (listener.fileno(), wake_r, wake_w):
            os.close(f)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(req["cwd"])
        os.umask(req["umask"])
        os.environ.clear()
        os.environ.update(req["env"])
        os.environ["VSSL_WARM_CHILD"] = "1"
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                      errors="backslashreplace")

        def watch():  # the client went away: stop this cell and everything it started
            try:
                conn.recv(1)
            except OSError:
                pass
            os.killpg(0, signal.SIGTERM)
            time.sleep(10)
            os.killpg(0, signal.SIGKILL)

        threading.Thread(target=watch, daemon=True).start()
        module, func = req["entry"].split(":")
        sys.argv = [module, *req["argv"]]
        try:
            getattr(importlib.import_module(module), func)(req["argv"])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int) and e.code is not None:
                print(e.code, file=sys.stderr)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - what a fresh interpreter would print
            traceback.print_exc()
            code = 1
        import atexit
        import logging

        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        try:
            conn.sendall(_CODE.pack(code))
        except OSError:
            pass
        os._exit(code & 0xFF if code >= 0 else 1)


def serve(key: str, idle_s: float) -> None:
    import selectors

    if key != identity():
        raise SystemExit(f"warm worker: key {key} is not this process's identity {identity()}; not serving")
    t0 = time.monotonic()
    _preload()
    p = _paths(key)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(p["socket"]))
    listener.listen(16)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    last = time.monotonic()
    print(f"warm worker {os.getpid()} key {key} ready in {time.monotonic() - t0:.1f} s", flush=True)
    try:
        while not stop:
            for pid in list(children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    conn = children.pop(pid)
                    if os.WIFSIGNALED(status):  # a normal exit sent its own code; a killed child cannot
                        try:
                            conn.sendall(_CODE.pack(128 + os.WTERMSIG(status)))
                        except OSError:
                            pass
                    conn.close()
                    last = time.monotonic()
            if not children and time.monotonic() - last > idle_s:
                break
            for k, _ in sel.select(timeout=max(1.0, idle_s / 4)):
                if k.fileobj is listener:
                    conn, _ = listener.accept()
                    pid = _accept(conn, listener, wake_r, wake_w, key)
                    if pid:
                        children[pid] = conn
                    else:
                        conn.close()
                    last = time.monotonic()
                else:
                    try:
                        os.read(wake_r, 512)
                    except BlockingIOError:
                        pass
    finally:
        p["socket"].unlink(missing_ok=True)
        print(f"warm worker {os.getpid()} exits ({'stopped' if stop else 'idle'})", flush=True)


def _accept(conn, listener, wake_r, wake_w, key: str) -> int | None:
    conn.settimeout(10)
    fds = []
    try:
        head, fds, _, _ = socket.recv_fds(conn, _HDR.size, 3)
        n = _HDR.unpack(head + (_recv_exact(conn, _HDR.size - len(head)) or b""))[0]
        req = json.loads(_recv_exact(conn, n))
        if req.get("key") != key or len(fds) != 3:
            raise ValueError("wrong key or file descriptors")
    except (OSError, ValueError, struct.error, TypeError) as e:
        print(f"warm worker: bad request ({e}); ignored", flush=True)
        for fd in fds:
            os.close(fd)
        return None
    conn.settimeout(None)
    pid = os.fork()
    if pid == 0:
        _child(conn, listener, wake_r, wake_w, fds, req)  # never returns
    for fd in fds:
        os.close(fd)
    return pid


# -------------------------------------------------------------------------------------------------------------- cli

def _servers() -> list[tuple[Path, int | None]]:
    out = []
    for sock in sorted(runtime_dir().glob("*.sock")):
        log = sock.with_suffix(".log")
        pid = None
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("warm worker ") and " ready " in line:
                    pid = int(line.split()[2])
        out.append((sock, pid))
    return out


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve", help="(internal) run a server; started by the first cell that needs it")
    sv.add_argument("--key", required=True)
    sv.add_argument("--idle", type=float, default=DEFAULT_IDLE_S)
    sub.add_parser("status", help="list this user's warm workers")
    sub.add_parser("stop", help="stop this user's warm workers")
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        serve(a.key, a.idle)
        return
    for sock, pid in _servers():
        alive = pid is not None and _alive(pid)
        if a.cmd == "stop" and alive:
            os.kill(pid, signal.SIGTERM)
        state = ("running  -> stopped" if a.cmd == "stop" else "running") if alive else "gone"
        print(f"{sock.stem}  pid {pid}  {state}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
