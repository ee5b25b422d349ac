"""The edge probe: which certificate does each target domain actually serve? (issue 14, point 16)

A CDN accepts SetCdnDomainSSLCertificate in a second and then takes minutes to push the certificate
to its edge nodes; the API answer says nothing about what a visitor gets. So `status --probe` and
`deploy --verify-edge` open TLS to each target domain, with SNI, and read the serial of the leaf the
edge presents. The handshake does not verify the chain: the point is to see what is served, even
when it is the wrong or an expired certificate.

[probe] Resolve = host:address[:port], ... points names elsewhere than DNS would (a staging edge, or
in tests a loopback TLS server), like curl --resolve. Port = 443 and Timeout = 5 are the defaults.
Domains come from the targets (a CDN/DCDN domain, an API Gateway group:domain); a wildcard target
cannot be probed by name and is reported as such.
"""

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from cryptography import x509

from acme_aliyun import netmsg


@dataclass
class ProbeSettings:
    resolve: Dict[str, Tuple[str, Optional[int]]] = field(default_factory=dict)   # host -> (address, port)
    port: int = 443
    timeout: float = 5.0


@dataclass
class EdgeResult:
    kind: str
    target: str
    domain: Optional[str]
    serial: Optional[str] = None        # hex, lower case, as `status` prints serials
    not_after: Optional[str] = None
    error: Optional[str] = None


def parse_resolve(value: str) -> Dict[str, Tuple[str, Optional[int]]]:
    """'a.example:127.0.0.1:8443, b.example:[::1]' -> {host: (address, port or None)}; ValueError."""
    out = {}
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        host, sep, rest = item.partition(":")
        if not sep or not host or not rest:
            raise ValueError("%r is not host:address[:port]" % item)
        port = None
        if rest.startswith("["):
            address, _, tail = rest[1:].partition("]")
            if tail:
                port = tail.lstrip(":")
        elif rest.count(":") == 1:
            address, port = rest.split(":")
        else:
            address = rest
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError("%r: the port is not a number from 1 to 65535" % item)
        out[host.lower().rstrip(".")] = (address, int(port) if port else None)
    return out


def serial_served(domain: str, settings: ProbeSettings) -> Tuple[str, str]:
    """(serial hex, notAfter ISO) of the leaf served for domain with SNI; OSError with a plain reason."""
    address, port = settings.resolve.get(domain.lower(), (domain, None))
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE      # see what is served, valid or not
    try:
        with socket.create_connection((address, port or settings.port), timeout=settings.timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=domain) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as e:
        raise OSError(netmsg.reason(e) or " ".join(str(e).split())[:160]) from None
    if not der:
        raise OSError("no certificate in the handshake")
    cert = x509.load_der_x509_certificate(der)
    after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    return "%x" % cert.serial_number, after.strftime("%Y-%m-%dT%H:%M:%SZ")


def probe_targets(targets: Dict[str, list], settings: ProbeSettings) -> List[EdgeResult]:
    """One EdgeResult per configured target, in config order."""
    out = []
    for kind, specs in targets.items():
        for spec in specs:
            r = EdgeResult(kind, spec.target, spec.domain)
            if not spec.domain:
                r.error = "no domain to probe (give GroupId:domain)"
            elif spec.domain.startswith(("*", ".")):
                r.error = "a wildcard domain cannot be probed by name"
            else:
                try:
                    r.serial, r.not_after = serial_served(spec.domain, settings)
                except OSError as e:
                    r.error = "%s: %s" % (spec.domain, e.args[0] if e.args else e)
            out.append(r)
    return out


def wait_for_serial(targets: Dict[str, list], serial: str, settings: ProbeSettings, wait: float,
                    say: Optional[Callable[..., None]] = None, every: float = 5.0) -> List[EdgeResult]:
    """Probe until every probe-able edge serves serial or wait seconds pass; the last results."""
    start = time.monotonic()
    while True:
        results = probe_targets(targets, settings)
        behind = [r for r in results if r.serial != serial and not _unprobeable(r)]
        if not behind or time.monotonic() - start >= wait:
            return results
        if say is not None:
            say("waiting for %d edge(s) to serve serial %s" % (len(behind), serial), limit=wait)
        time.sleep(min(every, max(0.0, wait - (time.monotonic() - start))))


def _unprobeable(r: EdgeResult) -> bool:
    return bool(r.error) and r.serial is None and (r.domain is None or r.domain.startswith(("*", ".")))


def lines(results: List[EdgeResult], serial: Optional[str]) -> List[str]:
    """The probe table: KIND TARGET SERVED-SERIAL and whether it is the local certificate's."""
    out = ["%-10s %-40s %-34s %s" % ("KIND", "TARGET", "EDGE SERVES", "LOCAL")]
    for r in results:
        if r.serial:
            same = "-" if serial is None else ("yes" if r.serial == serial else "no (local %s)" % serial)
            out.append("%-10s %-40s %-34s %s" % (r.kind, r.target, r.serial, same))
        else:
            out.append("%-10s %-40s %-34s %s" % (r.kind, r.target, "-", r.error))
    return out
