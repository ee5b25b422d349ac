"""The credential value and the provider that hands it out, with nothing that resolves them.

credentials.py (the resolver chain) and sts.py (role credentials) both build on these;
keeping them here lets credentials.py import sts.py without sts.py importing it back
(no import circle, tests/shape/test_import_graph.py).
"""

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from acme_aliyun.errors import ToolError
from acme_aliyun.log import mask_key_id, register_secret

REFRESH_MARGIN = 600.0              # refresh temporary credentials with less than 10 min left


@dataclass(frozen=True)
class Credential:
    """An AccessKey pair, with the STS token and expiry (epoch seconds) when temporary."""

    access_key_id: str
    access_key_secret: str
    security_token: Optional[str] = None
    expiration: Optional[float] = None

    def __repr__(self):
        return "Credential(access_key_id=%s, temporary=%s)" % (mask_key_id(self.access_key_id),
                                                              bool(self.security_token))


def make_credential(key_id: str, secret: str, token: Optional[str] = None,
                    expiration: Optional[float] = None) -> Credential:
    """A Credential whose secret and token are registered with the redactor first."""
    for value in (secret, token):
        register_secret(value)
    return Credential(key_id, secret, token or None, expiration)


_credential = make_credential


class CredentialProvider:
    """Hands out a valid Credential; .source says where it comes from.

    A temporary credential is fetched again once less than `margin` seconds of it are left
    by `clock` (injectable for tests); invalidate() forces the next get() to fetch.
    """

    def __init__(self, source: str, fetch: Callable[[], Credential], margin: float = REFRESH_MARGIN,
                 clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._current: Optional[Credential] = None
        self._lock = threading.Lock()

    @classmethod
    def static(cls, source: str, key_id: str, secret: str, token: Optional[str] = None) -> "CredentialProvider":
        cred = _credential(key_id, secret, token)
        provider = cls(source, lambda: cred)
        provider.refreshable = False
        return provider

    refreshable = True

    def get(self) -> Credential:
        with self._lock:
            cur = self._current
            if cur is None or (cur.expiration is not None and cur.expiration - self._clock() < self._margin):
                self._current = cur = self._fetch()
            return cur

    def invalidate(self, stale: Credential) -> bool:
        """The cloud called `stale` expired: fetch anew on the next get(). False when nothing
        new can come (a fixed key, or a newer credential is already in place)."""
        with self._lock:
            if not self.refreshable:
                return False
            if self._current is stale:
                self._current = None
            return True

    def __repr__(self):
        return "CredentialProvider(%s)" % self.source


def parse_expiration(text: Optional[str]) -> Optional[float]:
    """Epoch seconds of an Expiration such as 2026-01-01T00:00:00Z (None when absent)."""
    if not text:
        return None
    try:
        dt = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise ToolError("temporary credentials carry an unreadable Expiration %r" % text[:40]) from None
    return dt.timestamp()
