"""The warm worker (protocols/warm.py): a forked child must behave like a fresh process for the client that asked.

The entry points the children run are in tests/warm_target.py. Each test module gets its own runtime folder and
identity token, so a user's warm workers are never touched. (That a pipeline cell's results are identical warm and
cold is tested on real cells in tests/test_pipeline.py.)"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from helpers import REPO
from protocols import warm

TESTS = Path(__file__).resolve().parents[1]
CLIENT = ("import sys; from protocols import warm; "
          "sys.exit(warm.run_in_worker(sys.argv[1], sys.argv[3:], float(sys.argv[2])))")


@pytest.fixture(scope="module")
def env():
    run_dir = tempfile.mkdtemp(prefix="vw")  # short: a unix socket path has at most 107 bytes
    e = {**os.environ, "XDG_RUNTIME_DIR": run_dir, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}",
         "VSSL_TEST_TOKEN": uuid.uuid4().hex}
    e.pop("VSSL_WARM_CHILD", None)
    yield e
    subprocess.run([sys.executable, "-m", "protocols.warm", "stop"], cwd=REPO, env=e, capture_output=True)
    shutil.rmtree(run_dir, ignore_errors=True)


def client(env, entry, *argv, idle=60.0, cwd=REPO, **kw):
    return subprocess.run([sys.executable, "-c", CLIENT, entry, str(idle), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240, **kw)


def test_child_takes_the_clients_cwd_environment_argv_stdio_and_exit_code(env, tmp_path):
    r1 = client({**env, "CELL_NOTE": "first"}, "warm_target:report", "3", "a b", cwd=tmp_path)
    r2 = client({**env, "CELL_NOTE": "second"}, "warm_target:report", "0", cwd=tmp_path)
    assert (r1.returncode, r2.returncode) == (3, 0), r1.stderr + r2.stderr
    s1, s2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert s1["cwd"] == s2["cwd"] == str(tmp_path) and s1["argv"] == ["3", "a b"]
    # CELL_NOTE is not read at import time, so both calls share one server, with the caller's value each time
    assert (s1["x"], s2["x"]) == ("first", "second")
    assert s1["ppid"] == s2["ppid"] and s1["pid"] != s2["pid"]  # one server, a fresh child per cell
    assert "to stderr" in r1.stderr and "to stderr" in r2.stderr
    assert s1["umask"] == oct(_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_an_exception_prints_its_traceback_and_exits_1(env):
    r = client(env, "warm_target:fail", "x", "y")
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "RuntimeError: the cell broke: x y" in r.stderr


def test_a_child_killed_by_a_signal_gives_128_plus_the_signal(env):
    assert client(env, "warm_target:die").returncode == 128 + signal.SIGKILL


def test_killing_the_client_stops_the_cell(env, tmp_path):
    pid_file = tmp_path / "pid"
    p = subprocess.Popen([sys.executable, "-c", CLIENT, "warm_target:hang", "60", str(pid_file)], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert _alive(child)
    p.kill()  # SIGKILL: the client cannot clean up; the child sees its socket close
    p.wait()
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the cell kept running after its client was killed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie waiting for the server to reap it is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_identity_follows_code_and_import_time_environment(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    base = {"OMP_NUM_THREADS": "1", "HOME": "/root"}
    k = warm.identity(base, roots=[tmp_path])
    assert warm.identity({**base, "HOME": "/elsewhere", "VSSL_WARM": "1"}, roots=[tmp_path]) == k
    assert warm.identity({**base, "OMP_NUM_THREADS": "2"}, roots=[tmp_path]) != k  # read when torch loads
    assert warm.identity({**base, "CUDA_VISIBLE_DEVICES": "1"}, roots=[tmp_path]) != k
    (tmp_path / "m.py").write_text("x = 22\n")  # edited code: a new server, never the one that imported the old
    assert warm.identity(base, roots=[tmp_path]) != k
    (tmp_path / "conf.yaml").write_text("a: 1\n")
    k2 = warm.identity(base, roots=[tmp_path])
    (tmp_path / "notes.txt").write_text("not code\n")
    assert warm.identity(base, roots=[tmp_path]) == k2


def test_an_idle_server_exits_and_removes_its_socket(env):
    e = {**env, "VSSL_TEST_TOKEN": uuid.uuid4().hex}  # its own server
    assert client(e, "warm_target:report", "0", idle=1.0).returncode == 0
    sock = Path(e["XDG_RUNTIME_DIR"]) / f"vssl-warm-{os.getuid()}" / f"{_key(e)}.sock"
    deadline = time.monotonic() + 30
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sock.exists()
    assert "exits (idle)" in sock.with_suffix(".log").read_text()


def _key(env) -> str:
    code = "import sys; from protocols import warm; print(warm.identity())"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_status_and_stop(env):
    assert client(env, "warm_target:report", "0").returncode == 0
    st = subprocess.run([sys.executable, "-m", "protocols.warm", "status"], cwd=REPO, env=env, capture_output=True,
                        text=True, check=True).stdout
    assert f"{_key(env)}  pid " in st and "running" in st
    out = subprocess.run([sys.executable, "-m", "protocols.warm", "stop"], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "stopped" in out
    sock = Path(env["XDG_RUNTIME_DIR"]) / f"vssl-warm-{os.getuid()}" / f"{_key(env)}.sock"
    deadline = time.monotonic() + 20
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sock.exists()
