"""Test-only crash points: reproducible kill -9 for the crash trials (tests/robustness/test_crash_run.py).

With ACME_ALIYUN_TEST_KILL_AT=<point>:<n> in the environment, the process SIGKILLs itself on
reaching the nth <point>: "file-write" (every atomic file write: journal, store, account cache)
or "cloud-call" (every cloud API call, before it is sent). A wall-clock kill lands somewhere
else on every run; a named point lands on the same step every time, so a failing trial replays.

Inert unless the variable is set: reached() is then a dictionary lookup and a return.
"""

import os
import signal
import threading
from typing import Dict

_ENV = "ACME_ALIYUN_TEST_KILL_AT"
_lock = threading.Lock()
_counts: Dict[str, int] = {}


def _target():
    point, _, n = os.environ.get(_ENV, "").rpartition(":")
    return (point, int(n)) if point and n.isdigit() else None


_TARGET = _target()


def reached(point: str) -> None:
    """Count one more `point`; kill this process with SIGKILL if it is the one the test asked for."""
    if _TARGET is None or _TARGET[0] != point:
        return
    with _lock:
        _counts[point] = _counts.get(point, 0) + 1
        if _counts[point] == _TARGET[1]:
            os.kill(os.getpid(), signal.SIGKILL)
