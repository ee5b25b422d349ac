"""A wall-clock deadline for one network exchange.

requests' timeouts bound each wait for a byte, not the whole exchange: a server
that trickles one byte every few seconds keeps a request alive forever, and a
timer run that hangs holds the state lock for every later run. run() does the
exchange in a worker thread and gives up when the deadline passes; the worker
is a daemon and is abandoned (its socket closes when the server gives up or the
process ends), which is the only way to bound a blocking read from outside
without signals (not usable in Function Compute's worker threads).
"""

import threading
from typing import Callable, TypeVar

from acme_aliyun.errors import ToolError

T = TypeVar("T")


class DeadlineExceeded(ToolError):
    """The exchange did not finish within its wall-clock deadline."""


def run(fn: Callable[[], T], seconds: float, what: str) -> T:
    """fn() within seconds of wall-clock time, else DeadlineExceeded naming what. Exceptions pass through."""
    if not seconds or seconds <= 0:
        return fn()
    result = {}

    def work():
        try:
            result["value"] = fn()
        except BaseException as e:      # handed to the caller's thread
            result["error"] = e

    worker = threading.Thread(target=work, name="exchange: %s" % what[:40], daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise DeadlineExceeded("%s did not finish within %g s; giving up" % (what, seconds))
    if "error" in result:
        raise result["error"]
    return result["value"]
