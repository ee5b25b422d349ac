"""Network failures as one plain reason (issue 14, point 9).

requests, urllib3 and the Alibaba Cloud SDK each wrap a socket error in two or three layers of
objects whose str() is a repr of the layer below ("HTTPSConnectionPool(host=..., port=443): Max
retries exceeded ... NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f..>:
Failed to establish a new connection: [Errno 111] Connection refused')"). An operator needs the
cause: the name did not resolve, nothing listened, the certificate was not trusted, or it timed
out. reason() walks an exception's chain (and, for the SDK, which keeps only str(), the text) and
names that cause; the protocol and cloud layers call it at their boundary. Neither layer's
knowledge lives here: this module knows sockets, TLS and the text the libraries put around them.
"""

import socket
import ssl
from typing import Any, List, Optional

DNS = "DNS lookup failed (check the network or HTTPS_PROXY)"
REFUSED = "connection refused"
UNTRUSTED = "TLS certificate not trusted (set CABundle)"
TIMEOUT = "timed out"
RESET = "connection reset"
TLS = "TLS handshake failed"

# (text found in str() of some layer, reason); the first match wins, most specific first
_TEXT = (
    ("NameResolutionError", DNS), ("Name or service not known", DNS), ("nodename nor servname", DNS),
    ("Temporary failure in name resolution", DNS), ("getaddrinfo failed", DNS),
    ("No address associated with hostname", DNS), ("Failed to resolve", DNS),
    ("CERTIFICATE_VERIFY_FAILED", UNTRUSTED), ("certificate verify failed", UNTRUSTED),
    ("Connection refused", REFUSED), ("ConnectTimeout", TIMEOUT), ("ReadTimeout", TIMEOUT),
    ("timed out", TIMEOUT), ("Connection reset", RESET), ("RemoteDisconnected", RESET),
    ("SSLError", TLS), ("SSL:", TLS),
)


def _chain(exc: BaseException) -> List[BaseException]:
    """exc and every exception it wraps: __cause__, __context__, urllib3's .reason, args[0]."""
    seen: List[BaseException] = []
    todo: List[Any] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is s for s in seen) or len(seen) > 12:
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return seen


def _by_type(e: BaseException) -> Optional[str]:
    if isinstance(e, socket.gaierror):
        return DNS
    if isinstance(e, ssl.SSLCertVerificationError):
        return UNTRUSTED
    if isinstance(e, ConnectionRefusedError):
        return REFUSED
    if isinstance(e, (socket.timeout, TimeoutError)):
        return TIMEOUT
    if isinstance(e, ConnectionResetError):
        return RESET
    return None


def reason(failure: Any) -> Optional[str]:
    """The plain cause of a network failure (an exception or the text an SDK kept), or None."""
    if isinstance(failure, BaseException):
        for e in _chain(failure):
            found = _by_type(e)
            if found:
                return found
        failure = " ".join(str(e) for e in _chain(failure))
    text = str(failure or "")
    for needle, found in _TEXT:
        if needle.lower() in text.lower():
            return found
    return None


def unreachable(where: str, failure: Any) -> str:
    """'cannot reach WHERE: CAUSE', one line; a cause this module cannot name stays short."""
    why = reason(failure)
    if why is None:
        why = " ".join(str(failure).split())[:160] or type(failure).__name__
    return "cannot reach %s: %s" % (where, why)
