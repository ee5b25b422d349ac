"""Mirror Alidns TXT records into a loopback pebble-challtestsrv, so the ACME server sees them.

Verified against pebble-challtestsrv 2.4.0: ``/set-txt`` APPENDS a value to the host's list (both
values of a wildcard and its base name are served), ``/clear-txt`` removes every value of the host,
and hosts match case-sensitively and only as lower-case FQDNs with the trailing dot. Removing one
value therefore means clear-txt, then set-txt for each value that remains.
"""

import json
import urllib.request
from urllib.parse import urlsplit

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class TxtMirror:
    def __init__(self, url, timeout=5.0):
        if urlsplit(url).hostname not in _LOOPBACK:
            raise ValueError("challtestsrv_url must be a loopback address, got %r" % url)
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # never via a proxy

    def add(self, host, value):
        self._post("set-txt", {"host": _fqdn(host), "value": value})

    def replace(self, host, values):
        """Make ``values`` the complete TXT set served for ``host``."""
        self._post("clear-txt", {"host": _fqdn(host)})
        for value in values:
            self.add(host, value)

    def _post(self, path, body):
        req = urllib.request.Request(self._url + "/" + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with self._opener.open(req, timeout=self._timeout) as resp:
            resp.read()


def _fqdn(host):
    return host.lower().rstrip(".") + "."
