"""Injected failures: scheduled faults (the nth call of an action fails), random faults (seeded),
domains whose writes always fail, and overlap detection for writes on the same target (Alidns
LastOperationNotFinished).

A schedule is what a test wants when it must replay: the same calls fail on every run, whatever the
timing, so a test can bound the faults one call can meet and know the outcome in advance.

Faults are decided before any state change, so a call that fails this way changed nothing.
Kinds: throttling (400 Throttling.User), unavailable (503 ServiceUnavailable), internal (500
InternalError), reset (connection closed with RST, no answer), timeout (answer held for
``timeout_sleep_s``, then 503 ServiceUnavailable).
"""

import collections
import contextlib
import random
import threading

from .config import FAULT_KINDS
from .errors import ApiError

FAULT_CODES = {"throttling": "Throttling.User", "unavailable": "ServiceUnavailable", "internal": "InternalError"}


class FaultInjector:
    def __init__(self, rate=0.0, kinds=FAULT_KINDS, seed=None, actions=None):
        self._lock = threading.Lock()
        self._failing = {}   # domain -> ApiError
        self._plan, self._seen = {}, collections.Counter()
        self.configure(rate, kinds, seed, actions)

    def schedule(self, plan):
        """Deterministic faults: plan is {action: {n: kind}}, the nth call (from 1) of action fails with
        kind. Replaces the previous plan and restarts the call counts; random faults still apply to the
        calls the plan spares."""
        plan = {a: dict(calls) for a, calls in (plan or {}).items()}
        kinds = {k for calls in plan.values() for k in calls.values()}
        if kinds - set(FAULT_KINDS) or any(n < 1 for calls in plan.values() for n in calls):
            raise ValueError("a schedule maps actions to {call number >= 1: kind in %s}" % (FAULT_KINDS,))
        with self._lock:
            self._plan, self._seen = plan, collections.Counter()

    def scheduled(self):
        """How many scheduled faults there are in all (each fires once, when its call comes)."""
        with self._lock:
            return sum(len(calls) for calls in self._plan.values())

    def configure(self, rate, kinds=FAULT_KINDS, seed=None, actions=None):
        """Replace the random-fault settings (and reseed). actions: None = every action."""
        kinds = tuple(kinds)
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError("fault kinds must be a non-empty subset of %s" % (FAULT_KINDS,))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be within 0..1")
        with self._lock:
            self._rate = rate
            self._kinds = kinds
            self._actions = None if actions is None else frozenset(actions)
            self._rng = random.Random(seed)

    def draw(self, action):
        """The fault kind this call suffers, or None."""
        with self._lock:
            self._seen[action] += 1
            planned = self._plan.get(action, {}).get(self._seen[action])
            if planned:
                return planned
            if self._rate <= 0 or (self._actions is not None and action not in self._actions):
                return None
            if self._rng.random() >= self._rate:
                return None
            return self._rng.choice(self._kinds)

    def chance(self, probability):
        """True with the given probability, from the same seeded generator."""
        with self._lock:
            return probability > 0 and self._rng.random() < probability

    def fail_domain(self, domain, code, http_status, message=None):
        with self._lock:
            self._failing[domain.lower()] = (code, message, http_status)

    def heal_domain(self, domain):
        with self._lock:
            self._failing.pop(domain.lower(), None)

    def check_targets(self, targets):
        """Raise the configured error if a write touches a failing domain."""
        with self._lock:
            for target in targets:
                if target in self._failing:
                    raise ApiError(*self._failing[target])


class InflightWrites:
    """Which write targets are being written right now."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = {}   # key -> number of writes in flight

    @contextlib.contextmanager
    def track(self, keys):
        """Mark ``keys`` busy for the block; yields True if any was already busy on entry."""
        with self._lock:
            overlapped = any(self._active.get(k) for k in keys)
            for k in keys:
                self._active[k] = self._active.get(k, 0) + 1
        try:
            yield overlapped
        finally:
            with self._lock:
                for k in keys:
                    self._active[k] -= 1
                    if not self._active[k]:
                        del self._active[k]
