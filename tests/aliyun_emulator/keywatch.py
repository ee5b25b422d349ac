"""Spotting private-key material in a URL query (issue 11: keys must travel in the form body).

Why a module of its own: the call log keeps parameter NAMES only, so whether a request leaked a key
has to be decided while the values are still in hand, then kept as one boolean. A query leaks a key
when it carries

* a PEM private-key marker (``-----BEGIN ... PRIVATE KEY``) in any value, or
* a parameter whose name is a key parameter (SSLPri, CertificatePrivateKey, Key, PrivateKey), or
* at least ``WINDOW`` consecutive characters of the base64 body of a private key the emulator has
  seen before (in any request, either part, or in seeding) — a key stripped of its PEM lines.

The watch holds the known keys as sets of ``WINDOW``-character slices; it never logs them.
"""

import re
import threading
from typing import Iterable, Mapping

WINDOW = 40
KEY_PARAMS = frozenset(("SSLPri", "CertificatePrivateKey", "Key", "PrivateKey"))
_MARKER = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----(.*?)-----END \1-----", re.S)
_SPACE = re.compile(r"\s+")


class KeyWatch:
    """The private keys seen so far, and the test whether a query carries one."""

    def __init__(self):
        self._slices = set()
        self._lock = threading.Lock()

    def remember(self, text: str) -> None:
        """Record the base64 body of every PEM private key inside ``text``."""
        for _, body in _PEM_KEY.findall(text or ""):
            flat = _SPACE.sub("", body)
            slices = {flat[i:i + WINDOW] for i in range(0, max(0, len(flat) - WINDOW + 1))}
            with self._lock:
                self._slices |= slices

    def remember_all(self, values: Iterable[str]) -> None:
        for value in values:
            if "PRIVATE KEY" in value:
                self.remember(value)

    def leaks(self, query: Mapping[str, str]) -> bool:
        """True when the URL query parameters ``query`` carry private-key material."""
        if KEY_PARAMS.intersection(query):
            return True
        for value in query.values():
            if _MARKER.search(value) or self._holds_known_slice(_SPACE.sub("", value)):
                return True
        return False

    def _holds_known_slice(self, flat: str) -> bool:
        if len(flat) < WINDOW:
            return False
        with self._lock:
            known = self._slices
            return any(flat[i:i + WINDOW] in known for i in range(len(flat) - WINDOW + 1))
