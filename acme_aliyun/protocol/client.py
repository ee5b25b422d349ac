"""The ACME transport: directory, nonces, signed POST and POST-as-GET, problem documents.

One requests session (keep-alive) for the whole run. Every response's
Replay-Nonce is kept for the next request; newNonce is only asked when none is
held. badNonce is retried with the nonce the error carried; connection errors
and 5xx get a bounded, jittered backoff; rateLimited is raised at once with its
Retry-After. Bodies are read with a size bound and redirects are never followed.
"""

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple, Union
from urllib.parse import urlsplit

import requests

from acme_aliyun import __version__, deadline, netmsg
from acme_aliyun.protocol import jose
from acme_aliyun.protocol.errors import (
    AcmeProblem,
    AcmeResponseError,
    AcmeTransportError,
    BadNonce,
)
from acme_aliyun.protocol.messages import MAX_RETRY_AFTER, check_shape, parse_retry_after

if TYPE_CHECKING:
    from cryptography import x509

    from acme_aliyun.protocol.ari import RenewalInfo

__all__ = ["AcmeClient", "Directory", "Response", "check_shape", "parse_retry_after", "MAX_RETRY_AFTER"]

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20            # 1 MiB: no ACME JSON or PEM chain comes near it
NONCE_POOL = 8                # nonces kept from answers, for the requests of concurrent orders
BAD_NONCE_RETRIES = 25        # at 50 % nonce rejection, 25 tries fail once in 30 million
TRANSPORT_RETRIES = 3
EXCHANGE_DEADLINE = 90.0      # seconds of wall-clock time for one HTTP exchange, headers and body
JOSE = "application/jose+json"


@dataclass
class Response:
    status: int
    headers: Dict[str, Any]
    body: bytes
    url: str
    json: Optional[Dict[str, Any]] = None

    @property
    def location(self) -> Optional[str]:
        return self.headers.get("Location")

    @property
    def retry_after(self) -> Optional[int]:
        return parse_retry_after(self.headers.get("Retry-After"))

    def links(self, rel: str) -> List[str]:
        """URLs of the Link headers with the given rel (there may be several)."""
        out = []
        for raw in self.headers.get("_links", []):
            for part in raw.split(","):
                if ";" not in part:
                    continue
                target, params = part.split(";", 1)
                if 'rel="%s"' % rel in params.replace(" ", "") or "rel=%s" % rel in params.replace(" ", ""):
                    out.append(target.strip().strip("<>"))
        return out


@dataclass
class Directory:
    url: str
    urls: Dict[str, str]
    meta: Dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        try:
            return self.urls[name]
        except KeyError:
            raise AcmeResponseError("the ACME directory at %s has no %r endpoint" % (self.url, name)) from None

    @property
    def terms_of_service(self) -> Optional[str]:
        return self.meta.get("termsOfService")

    @property
    def external_account_required(self) -> bool:
        return bool(self.meta.get("externalAccountRequired"))

    @property
    def profiles(self) -> Dict[str, Any]:
        p = self.meta.get("profiles")
        return p if isinstance(p, dict) else {}

    @property
    def renewal_info(self) -> Optional[str]:
        return self.urls.get("renewalInfo")


class AcmeClient:
    """Talks to one ACME server with one account key."""

    def __init__(self, directory_url: str, key: Any = None, kid: Optional[str] = None,
                 user_agent: Optional[str] = None, language: Optional[str] = None, ca_bundle: Optional[str] = None,
                 timeout: Tuple[float, float] = (10, 45), sleep: Callable[[float], None] = time.sleep) -> None:
        self.directory_url = directory_url
        self.key = key
        self.kid = kid
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.sleep = sleep
        self._nonces: List[str] = []   # fresh nonces from the server's answers, newest last
        self._nonce_lock = threading.Lock()   # orders run side by side share one client
        self._directory: Optional[Directory] = None
        self.request_count = 0
        self.session = requests.Session()
        ua = "acme-aliyun/%s" % __version__
        if user_agent and user_agent != ua:
            ua = "%s %s" % (user_agent, ua)
        self.session.headers["User-Agent"] = ua + " python-requests/%s" % requests.__version__
        if language:
            self.session.headers["Accept-Language"] = language

    # --- plumbing --------------------------------------------------------------------

    def _verify(self) -> Union[bool, str]:
        # Passed per request: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        if self.ca_bundle:
            return self.ca_bundle
        return True

    def _exchange(self, method: str, url: str, **kw: Any) -> Response:
        """One HTTP exchange within EXCHANGE_DEADLINE (a server trickling bytes cannot hold us)."""
        try:
            return deadline.run(lambda: self._exchange_once(method, url, **kw), EXCHANGE_DEADLINE,
                                "%s %s" % (method, url))
        except deadline.DeadlineExceeded as e:
            with self._nonce_lock:          # an abandoned exchange: start again from fresh nonces
                self._nonces.clear()
            raise AcmeTransportError(str(e)) from None

    def _exchange_once(self, method: str, url: str, **kw: Any) -> Response:
        """One HTTP exchange: bounded body read, no redirects. _Retryable for transient faults."""
        try:
            self.request_count += 1
            r = self.session.request(method, url, timeout=self.timeout, verify=self._verify(),
                                     allow_redirects=False, stream=True, **kw)
            try:
                body = self._read_bounded(r)
            finally:
                r.close()
        except requests.exceptions.SSLError as e:
            raise AcmeTransportError(netmsg.unreachable(url, e)) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as e:
            raise _Retryable(netmsg.unreachable(url, e)) from None
        except requests.exceptions.RequestException as e:
            raise AcmeTransportError("request to %s failed: %s" % (url, _short(e))) from None
        headers: Dict[str, Any] = dict(r.headers)
        headers["_links"] = r.raw.headers.getlist("Link") if hasattr(r.raw.headers, "getlist") else (
            [r.headers["Link"]] if "Link" in r.headers else [])
        resp = Response(r.status_code, headers, body, url)
        nonce = r.headers.get("Replay-Nonce")
        if nonce:
            with self._nonce_lock:
                self._nonces = (self._nonces + [nonce])[-NONCE_POOL:]
        if 300 <= r.status_code < 400:
            raise AcmeTransportError("%s answered %s with a redirect to %s; ACME servers do not redirect, "
                                     "refusing to follow" % (url, r.status_code, r.headers.get("Location")))
        if r.status_code >= 500 and not _is_problem(resp):
            raise _Retryable("%s answered HTTP %s" % (url, r.status_code), resp)
        return resp

    def _send(self, method: str, url: str, sign: Optional[Callable[[], str]] = None, **kw: Any) -> Response:
        """An exchange with bounded, jittered retries of transient faults (connection errors, bare 5xx).

        For a POST, sign() builds the body again on every attempt: a retried request
        gets a fresh nonce, never the one the failed attempt may have used up.
        """
        for attempt in range(1, TRANSPORT_RETRIES + 1):
            if sign is not None:
                kw["data"] = sign()
            try:
                return self._exchange(method, url, **kw)
            except _Retryable as e:
                if attempt == TRANSPORT_RETRIES:
                    if e.response is not None:
                        return e.response
                    raise AcmeTransportError(str(e)) from None
                self._backoff(attempt, "%s %s: %s" % (method, url, e))
        raise AssertionError("unreachable")

    @staticmethod
    def _read_bounded(r: requests.Response) -> bytes:
        chunks, size = [], 0
        for chunk in r.iter_content(65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise AcmeResponseError("%s sent more than %d bytes; refusing to read on" % (r.url, MAX_BODY))
            chunks.append(chunk)
        return b"".join(chunks)

    def _backoff(self, attempt: int, what: str) -> None:
        delay = min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random())
        log.debug("retrying after %.1fs: %s", delay, what)
        self.sleep(delay)

    def _decode(self, resp: Response, want_json: bool = True) -> Response:
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if resp.status >= 400:
            doc = None
            if ctype in ("application/problem+json", "application/json"):
                try:
                    doc = json.loads(resp.body)
                except ValueError:
                    doc = None
            if isinstance(doc, dict) and "type" in doc:
                raise AcmeProblem.from_json(doc, status=resp.status, retry_after=resp.retry_after,
                                            url=resp.url, help_url=next(iter(resp.links("help")), None))
            raise AcmeResponseError("%s answered HTTP %s without a problem document" % (resp.url, resp.status))
        if want_json:
            if ctype not in ("application/json", "application/problem+json"):
                raise AcmeResponseError("%s answered with Content-Type %r, expected application/json"
                                        % (resp.url, ctype or "none"))
            try:
                resp.json = json.loads(resp.body)
            except ValueError:
                raise AcmeResponseError("%s answered with malformed JSON" % resp.url) from None
            if not isinstance(resp.json, dict):
                raise AcmeResponseError("%s answered with JSON that is not an object" % resp.url)
            check_shape(resp.json, resp.url)
        return resp

    # --- directory and nonces ------------------------------------------------------------

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            resp = self._decode(self._send("GET", self.directory_url))
            doc = resp.json or {}
            urls = {k: v for k, v in doc.items() if isinstance(v, str)}
            for required in ("newNonce", "newAccount", "newOrder"):
                if required not in urls:
                    raise AcmeResponseError("%s is not an ACME directory (no %s)" % (self.directory_url, required))
            meta = doc["meta"] if isinstance(doc.get("meta"), dict) else {}
            self._directory = Directory(self.directory_url, urls, meta)
        return self._directory

    def _take_nonce(self) -> str:
        """A nonce no other request of this client uses (one thread each, whatever the threads)."""
        for _ in range(BAD_NONCE_RETRIES):
            with self._nonce_lock:
                if self._nonces:
                    return self._nonces.pop()
            resp = self._send("HEAD", self.directory["newNonce"])
            if resp.status >= 400:
                self._decode(resp, want_json=False)
            if not any(k.lower() == "replay-nonce" for k in resp.headers):
                raise AcmeResponseError("newNonce gave no Replay-Nonce header")
        raise AcmeTransportError("no nonce left after %d newNonce requests" % BAD_NONCE_RETRIES)

    # --- signed requests ------------------------------------------------------------------

    def allowed_origins(self) -> Set[Any]:
        """scheme://host:port of the directory and of every URL the directory names."""
        origins = {_origin(self.directory_url)}
        origins.update(_origin(u) for u in self.directory.urls.values())
        return origins

    def check_url(self, url: str) -> str:
        """AcmeResponseError unless url is on the directory's scheme and host, or one the directory names:
        a URL the CA hands back (authorization, finalize, certificate, alternate chain) must not send a
        signed request to another host."""
        if _origin(url) not in self.allowed_origins():
            raise AcmeResponseError("the CA handed back %s, on another host than its directory %s; refusing it"
                                    % (url, self.directory_url))
        return url

    def post(self, url: str, payload: Any, key: Any = None, use_jwk: bool = False, want_json: bool = True) -> Response:
        """Signed POST. payload=None is POST-as-GET. use_jwk embeds the key instead of kid."""
        self.check_url(url)
        key = key or self.key

        def sign() -> str:
            body = jose.jws(key, payload, url, nonce=self._take_nonce(), kid=None if use_jwk else self.kid)
            return json.dumps(body)

        for _ in range(BAD_NONCE_RETRIES):
            resp = self._send("POST", url, sign=sign, headers={"Content-Type": JOSE})
            try:
                return self._decode(resp, want_json=want_json)
            except BadNonce:
                log.debug("badNonce from %s, retrying with the fresh nonce", url)
                continue
        raise AcmeTransportError("%s rejected %d nonces in a row" % (url, BAD_NONCE_RETRIES))

    def post_as_get(self, url: str, want_json: bool = True) -> Response:
        return self.post(url, None, want_json=want_json)

    def renewal_info(self, cert: "x509.Certificate", cert_id: Optional[str] = None) -> "RenewalInfo":
        """The CA's ARI answer for cert (RFC 9773): an unauthenticated GET of renewalInfo/<certID>,
        bounded like every other exchange. AriError when the CA offers no renewalInfo or answers badly."""
        from acme_aliyun.protocol import ari
        url = self.directory.renewal_info
        if not url:
            raise ari.AriError("the CA does not offer renewal information (no renewalInfo in its directory)")
        return ari.fetch_renewal_info(self.session, url, cert_id or ari.cert_id(cert), timeout=self.timeout,
                                      verify=self._verify())

    def close(self) -> None:
        self.session.close()


class _Retryable(Exception):
    """A transient fault: worth another attempt after a pause (response kept for the last one)."""

    def __init__(self, message: str, response: Optional[Response] = None) -> None:
        super().__init__(message)
        self.response = response


def _origin(url: str) -> Optional[Tuple[str, str, Optional[int]]]:
    """('https', 'host', port) of a URL, the default port filled in; None when it does not parse."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        return (parts.scheme.lower(), (parts.hostname or "").lower(), port)
    except (ValueError, AttributeError, TypeError):
        return None


def _is_problem(resp: Response) -> bool:
    return resp.headers.get("Content-Type", "").startswith("application/problem+json")


def _short(exc: BaseException) -> str:
    """requests' messages nest the whole urllib3 story; keep the last, informative part."""
    text = str(exc)
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker)[-1]
    return text.strip("()'\" ")[:200]
