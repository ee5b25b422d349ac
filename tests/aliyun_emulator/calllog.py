"""The call log: one CallRecord per request received. It holds parameter NAMES only, never values,
so no certificate, private key, token or signature ends up in it. Whether the URL query carried key
material is decided while the values are in hand (keywatch.KeyWatch) and kept as ``key_in_query``.

``CallLog.snapshot`` returns a CallList: a plain list with a few filters tests need in one call,
e.g. ``assert not emu.calls.key_in_query()``."""

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
    method: str = ""                # HTTP method as received: "GET", "POST"
    query_keys: Tuple[str, ...] = ()   # sorted names of the parameters that came in the URL query
    body_keys: Tuple[str, ...] = ()    # sorted names of the parameters that came in the form body
    key_in_query: bool = False      # the URL query carried private-key material (see keywatch)
    access_key_id: Optional[str] = None   # the AccessKeyId the request was signed with (None: anonymous)


class CallList(list):
    """A snapshot of the call log (oldest first) with filters."""

    def key_in_query(self) -> "CallList":
        """The requests whose URL query carried private-key material (empty when none did)."""
        return CallList(c for c in self if c.key_in_query)

    def of(self, action: str) -> "CallList":
        """The requests to ``action``."""
        return CallList(c for c in self if c.action == action)

    def signed_by(self) -> "set":
        """The AccessKeyIds these requests were signed with."""
        return {c.access_key_id for c in self if c.access_key_id}


class CallLog:
    def __init__(self):
        self._records = []
        self._lock = threading.Lock()

    def append(self, record):
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> CallList:
        with self._lock:
            return CallList(self._records)

    def clear(self):
        with self._lock:
            self._records.clear()
