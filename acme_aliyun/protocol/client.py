"""The ACME transport: directory, nonces, signed POST and POST-as-GET, problem documents.

One requests session (keep-alive) for the whole run. Every response's
Replay-Nonce is kept for the next request; newNonce is only asked when none is
held. badNonce is retried with the nonce the error carried; connection errors
and 5xx get a bounded, jittered backoff; rateLimited is raised at once with its
Retry-After. Bodies are read with a size bound and redirects are never followed.
"""

import email.utils
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import requests

from acme_aliyun import __version__
from acme_aliyun.protocol import jose
from acme_aliyun.protocol.errors import (
    AcmeProblem,
    AcmeResponseError,
    AcmeTransportError,
    BadNonce,
)

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20            # 1 MiB: no ACME JSON or PEM chain comes near it
NONCE_POOL = 8                # nonces kept from answers, for the requests of concurrent orders
BAD_NONCE_RETRIES = 25        # at 50 % nonce rejection, 25 tries fail once in 30 million
TRANSPORT_RETRIES = 3
JOSE = "application/jose+json"


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0, int(when.timestamp() - (now if now is not None else time.time())))


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    url: str
    json: Optional[dict] = None

    @property
    def location(self):
        return self.headers.get("Location")

    @property
    def retry_after(self):
        return parse_retry_after(self.headers.get("Retry-After"))

    def links(self, rel):
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
    urls: dict
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name):
        try:
            return self.urls[name]
        except KeyError:
            raise AcmeResponseError("the ACME directory at %s has no %r endpoint" % (self.url, name)) from None

    @property
    def terms_of_service(self):
        return self.meta.get("termsOfService")

    @property
    def external_account_required(self):
        return bool(self.meta.get("externalAccountRequired"))

    @property
    def profiles(self):
        p = self.meta.get("profiles")
        return p if isinstance(p, dict) else {}

    @property
    def renewal_info(self):
        return self.urls.get("renewalInfo")


class AcmeClient:
    """Talks to one ACME server with one account key."""

    def __init__(self, directory_url, key=None, kid=None, user_agent=None, language=None,
                 ca_bundle=None, timeout=(10, 45), sleep=time.sleep):
        self.directory_url = directory_url
        self.key = key
        self.kid = kid
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.sleep = sleep
        self._nonces = []              # fresh nonces from the server's answers, newest last
        self._nonce_lock = threading.Lock()   # orders run side by side share one client
        self._directory = None
        self.request_count = 0
        self.session = requests.Session()
        ua = "acme-aliyun/%s" % __version__
        if user_agent and user_agent != ua:
            ua = "%s %s" % (user_agent, ua)
        self.session.headers["User-Agent"] = ua + " python-requests/%s" % requests.__version__
        if language:
            self.session.headers["Accept-Language"] = language

    # --- plumbing --------------------------------------------------------------------

    def _verify(self):
        # Passed per request: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        if self.ca_bundle:
            return self.ca_bundle
        return True

    def _exchange(self, method, url, **kw):
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
            raise AcmeTransportError("TLS error talking to %s: %s (set CABundle in [acme] if the server "
                                     "uses a private CA)" % (url, _short(e))) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as e:
            raise _Retryable("cannot reach %s: %s" % (url, _short(e))) from None
        except requests.exceptions.RequestException as e:
            raise AcmeTransportError("request to %s failed: %s" % (url, _short(e))) from None
        headers = dict(r.headers)
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

    def _send(self, method, url, sign=None, **kw):
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
    def _read_bounded(r):
        chunks, size = [], 0
        for chunk in r.iter_content(65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise AcmeResponseError("%s sent more than %d bytes; refusing to read on" % (r.url, MAX_BODY))
            chunks.append(chunk)
        return b"".join(chunks)

    def _backoff(self, attempt, what):
        delay = min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random())
        log.debug("retrying after %.1fs: %s", delay, what)
        self.sleep(delay)

    def _decode(self, resp, want_json=True):
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
                                            url=resp.url, help_url=(resp.links("help") or [None])[0])
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
        return resp

    # --- directory and nonces ------------------------------------------------------------

    @property
    def directory(self):
        if self._directory is None:
            resp = self._decode(self._send("GET", self.directory_url))
            doc = resp.json
            urls = {k: v for k, v in doc.items() if isinstance(v, str)}
            for required in ("newNonce", "newAccount", "newOrder"):
                if required not in urls:
                    raise AcmeResponseError("%s is not an ACME directory (no %s)" % (self.directory_url, required))
            meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
            self._directory = Directory(self.directory_url, urls, meta)
        return self._directory

    def _take_nonce(self):
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

    def post(self, url, payload, key=None, use_jwk=False, want_json=True):
        """Signed POST. payload=None is POST-as-GET. use_jwk embeds the key instead of kid."""
        key = key or self.key

        def sign():
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

    def post_as_get(self, url, want_json=True):
        return self.post(url, None, want_json=want_json)

    def close(self):
        self.session.close()


class _Retryable(Exception):
    """A transient fault: worth another attempt after a pause (response kept for the last one)."""

    def __init__(self, message, response=None):
        super().__init__(message)
        self.response = response


def _is_problem(resp):
    return resp.headers.get("Content-Type", "").startswith("application/problem+json")


def _short(exc):
    """requests' messages nest the whole urllib3 story; keep the last, informative part."""
    text = str(exc)
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker)[-1]
    return text.strip("()'\" ")[:200]
