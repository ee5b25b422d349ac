"""Bulk listings read once per run and shared by every certificate of the account.

Why: a run over many certificates plans each one's targets, and each plan starts with
the same bulk listing (every HTTPS domain of CDN, every upload in CAS). Asked once per
certificate, a run that changes nothing costs one listing per certificate; answered
from this cache it costs one listing per product and account, whatever the count.

The cache lives in one CloudClient (one account, one run). Only calls the caller marks
`cached` are kept (bulk listings; never a per-target read, which read-backs poll). A
write to a product forgets that product's listings, so a listing asked after a write is
fresh; an answer that was in flight while a write happened is handed to its caller but
not kept. Concurrent callers asking for the same page wait for one request (single
flight): four certificates planned side by side still cost one listing.
"""

import json
import threading
from typing import Any, Callable, Dict, Optional, Tuple

Key = Tuple[str, str, str, str]


class _Slot:
    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None
        self.kept = False                 # the error is a definite answer, raised to later callers


class ListingCache:
    """(group, action, region, params) -> the parsed answer, for one account and one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: Dict[Key, _Slot] = {}
        self._generation: Dict[str, int] = {}
        self.hits = 0

    def forget(self, group: str) -> None:
        """A write to `group` happened: its listings are stale."""
        with self._lock:
            self._generation[group] = self._generation.get(group, 0) + 1
            for key in [k for k in self._slots if k[0] == group]:
                del self._slots[key]

    def get(self, group: str, action: str, region: str, params: dict, fetch: Callable[[], dict],
            keep_error: Callable[[BaseException], bool] = lambda e: False) -> dict:
        """The cached answer, or fetch() once for every concurrent caller. An error is kept
        (raised again to later callers) only where keep_error says it is a definite answer
        (NoHttpsDomain: "no domain is HTTPS"), never a transient one."""
        key = (group, action, region or "", json.dumps(params, sort_keys=True, default=str))
        with self._lock:
            found = self._slots.get(key)
            owner = found is None
            if found is None:
                found = self._slots[key] = _Slot(self._generation.get(group, 0))
            else:
                self.hits += 1
        slot = found
        if not owner:
            slot.done.wait()
            if slot.error is None:
                return slot.value
            if slot.kept:
                raise slot.error
            return self.get(group, action, region, params, fetch, keep_error)   # the owner failed: try again
        try:
            slot.value = fetch()
        except BaseException as e:
            slot.error, slot.kept = e, keep_error(e)
            self._settle(key, slot, failed=not slot.kept)
            raise
        finally:
            slot.done.set()
        self._settle(key, slot)
        return slot.value

    def _settle(self, key: Key, slot: "_Slot", failed: bool = False) -> None:
        """Drop the slot if its fetch failed or a write happened while it was in flight."""
        with self._lock:
            stale = failed or self._generation.get(key[0], 0) != slot.generation
            if stale and self._slots.get(key) is slot:
                del self._slots[key]
