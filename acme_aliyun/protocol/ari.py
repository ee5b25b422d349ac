"""ACME Renewal Information, RFC 9773: certificate ids, renewal windows, when to renew.

Pure protocol: it knows the CA's renewalInfo URL and nothing of Alibaba Cloud.
"""

import datetime
import json
import random
import re
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

import requests
from cryptography import x509

from acme_aliyun import deadline
from acme_aliyun.errors import ToolError
from acme_aliyun.protocol.jose import b64u
from acme_aliyun.protocol.messages import parse_retry_after

MAX_BODY = 64 * 1024
EXCHANGE_DEADLINE = 90.0        # seconds of wall-clock time for the whole request
MIN_RETRY_AFTER = 60                 # RFC 9773 §4.3.2: "values under one minute ... as one minute"
MAX_RETRY_AFTER = 24 * 3600          # "... values over one day ... as one day"
DEFAULT_RETRY_AFTER = 6 * 3600       # §4.3.3: after a long-term error, or without Retry-After

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))\Z"
)


class AriError(ToolError):
    """No usable renewal information. temporary: worth a quick retry (timeout, 5xx, RFC 9773 §4.3.3);
    otherwise a long-term error: ask again after DEFAULT_RETRY_AFTER, use the fallback schedule meanwhile."""

    def __init__(self, message: str, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass
class RenewalInfo:
    """A suggested renewal window [start, end) (aware UTC datetimes) and when to ask again."""

    start: datetime.datetime
    end: datetime.datetime
    explanation_url: Optional[str]
    retry_after_seconds: int         # already clamped to [MIN_RETRY_AFTER, MAX_RETRY_AFTER]


def cert_id(cert: x509.Certificate) -> str:
    """base64url(AKI keyIdentifier) '.' base64url(DER serial content octets), RFC 9773 §4.1."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        aki = None
    if aki is None or aki.key_identifier is None:
        raise AriError("the certificate has no Authority Key Identifier; ARI cannot name it")
    serial = cert.serial_number
    # DER INTEGER content: minimal two's complement, so a 0x00 in front when the top bit is set
    serial_der = serial.to_bytes(serial.bit_length() // 8 + 1, "big", signed=True)
    return b64u(aki.key_identifier) + "." + b64u(serial_der)


def parse_timestamp(text: Any) -> datetime.datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (fractions beyond microseconds dropped)."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError("not an RFC 3339 timestamp: %r" % (text,))
    y, mo, d, h, mi, s, frac, _z, sign, oh, om = m.groups()
    offset = datetime.timedelta(hours=int(oh or 0), minutes=int(om or 0)) * (-1 if sign == "-" else 1)
    dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0")[:6].ljust(6, "0")),
                           tzinfo=datetime.timezone(offset))
    return dt.astimezone(datetime.timezone.utc)


def renewal_retry_after(header: Optional[str], now: datetime.datetime) -> int:
    """Seconds to wait before the next renewalInfo request, clamped to [1 min, 1 day] (RFC 9773
    §4.3.2); absent or unreadable gives 6 hours. The header is read by messages.parse_retry_after."""
    seconds = parse_retry_after(header, now.timestamp())
    if seconds is None:
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def parse_renewal_info(json_body: Any, retry_after_header: Optional[str], now: datetime.datetime) -> RenewalInfo:
    """A RenewalInfo from the response body (bytes, str or parsed dict); AriError if it is invalid."""
    try:
        body = json.loads(json_body) if isinstance(json_body, (bytes, str)) else json_body
        start_text, end_text = body["suggestedWindow"]["start"], body["suggestedWindow"]["end"]
    except (ValueError, KeyError, TypeError):
        raise AriError("invalid renewalInfo response: no suggestedWindow with start and end") from None
    try:
        start, end = parse_timestamp(start_text), parse_timestamp(end_text)
    except ValueError as e:
        raise AriError("invalid renewalInfo response: %s" % e) from None
    if end <= start:
        raise AriError("invalid renewalInfo response: window end %s is not after start %s" % (end_text, start_text))
    explanation = body.get("explanationURL")
    return RenewalInfo(start=start, end=end, explanation_url=explanation if isinstance(explanation, str) else None,
                       retry_after_seconds=renewal_retry_after(retry_after_header, now))


def fetch_renewal_info(session: requests.Session, renewal_info_url: str, cert_id: str, timeout: Any,
                       verify: Union[bool, str]) -> RenewalInfo:
    """GET {renewalInfo}/{certID} (unauthenticated, not POST-as-GET) and parse the answer."""
    url = renewal_info_url + ("" if renewal_info_url.endswith("/") else "/") + cert_id
    def exchange() -> Tuple[int, Optional[str], Optional[str], bytes]:
        with session.get(url, timeout=timeout, verify=verify, stream=True, allow_redirects=False,
                         headers={"Accept": "application/json"}) as resp:
            return resp.status_code, resp.headers.get("Retry-After"), resp.headers.get("Location"), \
                _read_bounded(resp, url)
    try:
        status, retry_after, location, body = deadline.run(exchange, EXCHANGE_DEADLINE, "renewalInfo %s" % url)
    except deadline.DeadlineExceeded as e:
        raise AriError(str(e), temporary=True) from None
    except requests.Timeout as e:
        raise AriError("renewalInfo %s: timed out (%s)" % (url, e), temporary=True) from None
    except requests.RequestException as e:
        raise AriError("renewalInfo %s: %s" % (url, e)) from None
    if 300 <= status < 400:
        raise AriError("renewalInfo %s: HTTP %d redirect to %s; ACME servers do not redirect, refusing to follow"
                       % (url, status, location))
    if status != 200:
        raise AriError("renewalInfo %s: HTTP %d%s" % (url, status, _problem_detail(body)), temporary=status >= 500)
    return parse_renewal_info(body, retry_after, datetime.datetime.now(datetime.timezone.utc))


def _read_bounded(resp: requests.Response, url: str) -> bytes:
    body = b""
    for chunk in resp.iter_content(16384):
        body += chunk
        if len(body) > MAX_BODY:
            raise AriError("renewalInfo %s: response larger than %d bytes" % (url, MAX_BODY))
    return body


def _problem_detail(body: bytes) -> str:
    """': <detail>' from an RFC 7807 problem document, or ''."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return ""
    return ": %s" % detail[:300] if isinstance(detail, str) else ""


def choose_renewal_time(info: RenewalInfo, rng: Optional[random.Random] = None,
                        now: Optional[datetime.datetime] = None) -> datetime.datetime:
    """A uniformly random moment in the window, or now if that moment has passed (RFC 9773 §4.2)."""
    rng = rng or random.SystemRandom()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    span = (info.end - info.start).total_seconds()
    return max(info.start + datetime.timedelta(seconds=rng.uniform(0, span)), now)


def fallback_renewal_time(not_before: datetime.datetime, not_after: datetime.datetime,
                          renew_before_days: Optional[float] = None) -> datetime.datetime:
    """When to renew without ARI: with a third of the lifetime left (half below 10 days),
    or renew_before_days before expiry when configured."""
    if renew_before_days is not None:
        return not_after - datetime.timedelta(days=renew_before_days)
    lifetime = not_after - not_before
    return not_after - (lifetime / 2 if lifetime < datetime.timedelta(days=10) else lifetime / 3)
