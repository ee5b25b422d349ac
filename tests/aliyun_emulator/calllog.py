"""The call log: one CallRecord per request received. It holds parameter NAMES only, never values,
so no certificate, private key, token or signature ends up in it."""

import threading
from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class CallRecord:
    action: Optional[str]
    product: Optional[str]          # "Cdn", "dcdn", "CloudAPI", "Alidns"; None if routing failed
    version: Optional[str]
    http_status: Optional[int]      # None when the connection was reset instead of answered
    code: Optional[str]             # error Code, None on success
    request_id: str
    write: bool                     # the action changes state (counted whether it succeeded or not)
    params_keys: Tuple[str, ...]    # sorted parameter names
    time: float                     # time.time() when the request arrived
    fault: Optional[str] = None     # injected fault kind, if any
    targets: Tuple[str, ...] = ()   # domains (or DNS zones) a write addresses


class CallLog:
    def __init__(self):
        self._records = []
        self._lock = threading.Lock()

    def append(self, record):
        with self._lock:
            self._records.append(record)

    def snapshot(self):
        with self._lock:
            return list(self._records)

    def clear(self):
        with self._lock:
            self._records.clear()
