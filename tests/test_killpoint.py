"""acme_aliyun/killpoint.py: inert without ACME_ALIYUN_TEST_KILL_AT, SIGKILL at exactly the nth point with it."""

import os
import signal
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = "from acme_aliyun import killpoint\nfor i in range(5):\n    killpoint.reached('step')\n    print(i, flush=True)\n"


def _run(kill_at=None):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("ACME_ALIYUN_TEST_KILL_AT", None)
    if kill_at:
        env["ACME_ALIYUN_TEST_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30)


def test_kill_point_is_inert_unless_set_and_exact_when_set():
    assert (_run().returncode, _run().stdout.split()) == (0, ["0", "1", "2", "3", "4"])
    killed = _run("step:3")
    assert killed.returncode == -signal.SIGKILL and killed.stdout.split() == ["0", "1"]
    assert _run("other:1").stdout.split() == ["0", "1", "2", "3", "4"]      # another point: not counted
    assert _run("step:9").returncode == 0                                     # never reached: no kill
