"""Run many certificates side by side, within a time budget, most urgent first.

Why: one order spends most of its time waiting (on the CA's validation, on DNS
propagation, on the cloud's QPS budget), so a fleet ordered one at a time takes the
sum of those waits. Here `[acme] Parallel` certificates (4 by default) run at once;
each certificate's own steps stay in order inside one worker. What the workers share
is built once and is safe to share: the ACME client (nonces pooled under a lock), one
CloudClient per account (one Pacer: every certificate's deploys draw on the same QPS
budget; one listing cache), the rate-limit ledger (reservations under a lock), the
http-01 listener (one per address). Per-certificate state lives in per-certificate
files, so concurrent writers never touch the same file; the run lock stays one per run.

A budget (`[acme] RunBudget`, or Function Compute's remaining time) bounds a run: a
certificate is started only while the time left exceeds the longest one seen so far
(plus a margin); the rest are reported `pending` and named in `<state>/pending.json`,
and the next run starts with them. The order of starting: pending from the last run
first, then the certificates that expire soonest (a missing one first of all), so a
budget or a CA limit defers the least urgent.
"""

import datetime
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Optional, Sequence

from acme_aliyun.fsio import atomic_write

log = logging.getLogger(__name__)

PENDING_FILE = "pending.json"
MARGIN = 1.25              # a certificate starts only if 1.25 x the longest seen still fits
FIRST_GUESS = 20.0         # seconds assumed for the first certificate when nothing was measured


class Budget:
    """Time left for starting certificates (None: no limit)."""

    def __init__(self, seconds: Optional[float], clock: Optional[Callable[[], float]] = None) -> None:
        self.clock = clock or time.monotonic
        self.deadline = None if seconds is None else self.clock() + seconds
        self.seconds = seconds
        self.longest = 0.0
        self._lock = threading.Lock()

    def allows_start(self) -> bool:
        if self.deadline is None:
            return True
        with self._lock:
            need = max(self.longest, FIRST_GUESS if self.longest == 0 else 0.0) * MARGIN
            return self.deadline - self.clock() > need

    def took(self, seconds: float) -> None:
        with self._lock:
            self.longest = max(self.longest, seconds)


def pending_names(state_dir: str) -> List[str]:
    """The certificates the last run left pending (its budget ran out)."""
    try:
        with open(os.path.join(state_dir, PENDING_FILE)) as fh:
            names = json.load(fh).get("pending") or []
        return [n for n in names if isinstance(n, str)]
    except (OSError, ValueError, AttributeError):
        return []


def write_pending(state_dir: str, names: Sequence[str]) -> None:
    """Record what this run left for the next one (an empty list when all were handled)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    atomic_write(os.path.join(state_dir, PENDING_FILE),
                 json.dumps({"pending": list(names), "at": now}, indent=2) + "\n", mode=0o600)


def start_order(certs: Sequence, pending: Sequence[str], expiry: Callable[[object], Optional[datetime.datetime]]
                ) -> List[int]:
    """Indices of certs in the order to start them: pending first, then soonest expiry."""
    floor = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    keys = []
    for i, cert in enumerate(certs):
        keys.append((cert.name not in pending, expiry(cert) or floor, i))
    return [k[2] for k in sorted(keys)]


def run_all(certs: Sequence[Any], one: Callable[[Any], Any], skipped: Callable[[Any, str], Any],
            workers: int, budget: Budget, order: Optional[List[int]] = None) -> List[Any]:
    """one(cert) for every cert, `workers` at a time, started in `order`; a cert the budget
    leaves out gets skipped(cert, reason). Results in the certs' order."""
    order = list(range(len(certs))) if order is None else order
    results: List[Any] = [None] * len(certs)

    def work(i: int) -> None:
        cert = certs[i]
        if not budget.allows_start():
            results[i] = skipped(cert, "left for the next run: the time budget (%.0f s) would run out"
                                 % (budget.seconds or 0))
            return
        started = budget.clock()
        try:
            results[i] = one(cert)
        finally:
            budget.took(budget.clock() - started)

    if workers <= 1 or len(certs) <= 1:
        for i in order:
            work(i)
        return results
    with ThreadPoolExecutor(max_workers=min(workers, len(certs)), thread_name_prefix="cert") as pool:
        for future in [pool.submit(work, i) for i in order]:
            future.result()          # re-raises a UsageError from any certificate
    return results
