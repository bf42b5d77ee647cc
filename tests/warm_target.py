"""Entry points that tests/protocols/test_warm.py runs inside a warm worker's child (``warm_target:<name>``)."""
import json
import os
import sys
import time


def report(argv):
    """Print what the child sees, write to stderr, exit with argv[0]."""
    print(json.dumps({"cwd": os.getcwd(), "argv": argv, "x": os.environ.get("CELL_NOTE"), "pid": os.getpid(),
                      "ppid": os.getppid(), "umask": oct(os.umask(0o022))}))
    print("to stderr", file=sys.stderr)
    sys.exit(int(argv[0]))


def fail(argv):
    raise RuntimeError("the cell broke: " + " ".join(argv))


def die(argv):
    os.kill(os.getpid(), 9)


def hang(argv):
    """Write this process's pid to argv[0] and wait (for the test to kill the client)."""
    with open(argv[0] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(argv[0] + ".tmp", argv[0])
    time.sleep(300)
