"""Per-action QPS limits: a sliding one-second window of admitted calls (rejected calls do not count)."""

import collections
import threading
import time


class RateLimiter:
    def __init__(self, limit_for, enabled=True, window_s=1.0):
        """limit_for: action -> calls allowed per window."""
        self._limit_for = limit_for
        self._enabled = enabled
        self._window = window_s
        self._admitted = collections.defaultdict(collections.deque)   # action -> monotonic times
        self._lock = threading.Lock()

    def admit(self, action):
        """True if the call may proceed (and count it), False if the action is over its limit."""
        if not self._enabled:
            return True
        now = time.monotonic()
        with self._lock:
            times = self._admitted[action]
            while times and now - times[0] >= self._window:
                times.popleft()
            if len(times) >= self._limit_for(action):
                return False
            times.append(now)
            return True
