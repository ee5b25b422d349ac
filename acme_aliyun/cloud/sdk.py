"""The one place that talks to Alibaba Cloud: builds SDK clients and sends requests.

CloudClient.call(product, action, params, write) picks the endpoint (HTTPS unless
it is loopback), signs with the credentials the provider hands out (always passed
explicitly, so the legacy core's ALIYUN_ACCESS_KEY_* env override never applies),
paces each action under its documented QPS, retries what is worth retrying with
jittered exponential backoff, and turns every failure into a CloudError whose text
is one sanitised line (no signed URL, key id or private key).
"""

import importlib
import ipaddress
import json
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Dict
from urllib.parse import urlsplit

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest

from acme_aliyun import killpoint
from acme_aliyun.cloud.credentials import mask_key_id
from acme_aliyun.errors import ToolError, UsageError
from acme_aliyun.log import redact, silence_sdk

logger = logging.getLogger(__name__)

silence_sdk()          # the core logs signed URLs (key id, private keys) and adds its own handlers


@dataclass(frozen=True)
class Product:
    code: str          # the SDK's product code
    version: str
    package: str       # generated request classes, or "" for a bare RpcRequest (POST)


PRODUCTS = {
    "cdn": Product("Cdn", "2018-05-10", "aliyunsdkcdn.request.v20180510"),
    "dcdn": Product("dcdn", "2018-01-15", "aliyunsdkdcdn.request.v20180115"),
    "apigateway": Product("CloudAPI", "2016-07-14", "aliyunsdkcloudapi.request.v20160714"),
    "dns": Product("Alidns", "2015-01-09", "aliyunsdkalidns.request.v20150109"),
    "sts": Product("Sts", "2015-04-01", ""),
}

# Per-account QPS limits: documented ones, then assumed ones; any other action gets DEFAULT_QPS.
QPS_LIMITS = {
    "SetCdnDomainSSLCertificate": 30,
    "BatchSetCdnDomainServerCertificate": 10,
    "SetDomainServerCertificate": 10,
    "DescribeDomainCertificateInfo": 100,
    "DescribeCdnHttpsDomainList": 100,
    "DescribeDcdnHttpsDomainList": 100,
    "DescribeDcdnDomainCertificateInfo": 100,
    # ASSUMED, not documented: conservative guesses (the comparable documented CDN actions
    # allow 30/s for a write, 100/s for a read); the Pacer's 75% margin applies on top.
    "SetDcdnDomainSSLCertificate": 20,
    "SetDomainCertificate": 20,
    "DescribeApiGroup": 20,
    "DescribeDomain": 20,
}
DEFAULT_QPS = 10

RETRY_CODES = {"ServiceUnavailable", "InternalError", "UnknownError", "ServiceBusy", "SDK.HttpError"}
DNS_RETRY_CODES = {"LastOperationNotFinished"}


# --- endpoints ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    scheme: str        # "https", or "http" for loopback only
    host: str          # host[:port]

    @property
    def loopback(self):
        return is_loopback(self.host)


def is_loopback(host):
    name = urlsplit("//" + host).hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_endpoint(settings, product):
    if product == "cdn":
        return "cdn.ap-southeast-1.aliyuncs.com" if settings.international else "cdn.aliyuncs.com"
    return {
        "dcdn": "dcdn.aliyuncs.com",
        "apigateway": "apigateway.%s.aliyuncs.com" % settings.region,
        "dns": "alidns.aliyuncs.com",
        "sts": "sts.aliyuncs.com",
    }[product]


def endpoint_for(settings, product, extra=None, env=None) -> Endpoint:
    """Where requests for product go: ACME_ALIYUN_ENDPOINT > product override > endpoint > default.

    A bare host[:port] means HTTPS, except on loopback (the emulator) where it means
    HTTP. An explicit http:// is refused for anything but loopback.
    """
    env = os.environ if env is None else env
    product_override = {
        "cdn": settings.cdn_endpoint, "dcdn": settings.dcdn_endpoint,
        "apigateway": settings.apigateway_endpoint, "dns": settings.dns_endpoint,
    }.get(product) or (extra or {}).get(product)
    value = (env.get("ACME_ALIYUN_ENDPOINT") or product_override or settings.endpoint
             or default_endpoint(settings, product)).strip()
    if "://" in value:
        parts = urlsplit(value)
        scheme, host = parts.scheme.lower(), parts.netloc
        if scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
            raise UsageError("endpoint %r for %s: give host[:port] or https://host[:port]" % (value, product))
    else:
        host = value.rstrip("/")
        scheme = "http" if is_loopback(host) else "https"
    if scheme == "http" and not is_loopback(host):
        raise UsageError("endpoint %r for %s: plain http is only allowed for loopback; use https" % (value, product))
    return Endpoint(scheme, host)


# --- errors -----------------------------------------------------------------------------------

_QUERY = re.compile(r"\?(?!\[query redacted\])[^\s'\"]*")
_SIGN_STRING = re.compile(r"[A-Za-z]+%3D[^\s'\"]*%26[^\s'\"]*")


def sanitise(text, limit=300):
    """One line, no signed query, no string-to-sign, no registered secret, no private key."""
    text = re.split(r"string to sign", str(text or ""), flags=re.I)[0]
    text = _QUERY.sub("?[query redacted]", text)
    text = redact(_SIGN_STRING.sub("[signed string redacted]", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class CloudError(ToolError):
    """An Alibaba Cloud request failed; str() is one sanitised line."""

    def __init__(self, code, message, http_status=None, request_id=None, action=None, key_id=None):
        self.code, self.http_status, self.request_id, self.action = code, http_status, request_id, action
        self.message = sanitise(message)
        super().__init__(self._line(key_id))

    def _line(self, key_id):
        if self.code in ("InvalidAccessKeySecret", "SignatureDoesNotMatch"):
            return ("Alibaba Cloud rejected the AccessKeySecret for key id %s (%s)"
                    % (mask_key_id(key_id), self.code))
        if self.code in ("InvalidAccessKeyId.NotFound", "InvalidAccessKeyId"):
            return "Alibaba Cloud does not know the AccessKeyId %s (%s)" % (mask_key_id(key_id), self.code)
        about = ["HTTP %s" % self.http_status] if self.http_status else []
        about += ["RequestId %s" % self.request_id] if self.request_id else []
        tail = " (%s)" % ", ".join(about) if about else ""
        return sanitise("%s: %s: %s%s" % (self.action or "request", self.code, self.message, tail), 600)


def retryable(product, err: CloudError):
    code = err.code or ""
    return (code.startswith("Throttling") or code in RETRY_CODES
            or (product == "dns" and code in DNS_RETRY_CODES)
            or (err.http_status or 0) >= 500)


# --- pacing ---------------------------------------------------------------------------------------

class Pacer:
    """A token bucket per action, shared by every thread using the client.

    Rate 75% of the limit with a burst of 15% keeps any one-second window at 90% of the
    limit, leaving room for the jitter between sending and the server's clock.
    """

    def __init__(self, limits=None, default=DEFAULT_QPS):
        self.limits = dict(QPS_LIMITS if limits is None else limits)
        self.default = default
        self._buckets: Dict[str, tuple] = {}  # action -> (tokens, monotonic time)
        self._lock = threading.Lock()

    def wait(self, action):
        limit = self.limits.get(action, self.default)
        rate, burst = 0.75 * limit, max(1.0, 0.15 * limit)
        with self._lock:
            now = time.monotonic()
            tokens, stamp = self._buckets.get(action, (burst, now))
            tokens = min(burst, tokens + (now - stamp) * rate) - 1.0
            self._buckets[action] = (tokens, now)
        if tokens < 0:
            time.sleep(-tokens / rate)


# --- the client -----------------------------------------------------------------------------------

class CloudClient:
    """Sends signed RPC requests; counts calls, writes, throttles and retries in .stats."""

    def __init__(self, settings, credentials, pacer=None, extra_endpoints=None,
                 retry_base=0.5, retry_cap=10.0, retry_deadline=120.0):
        self.settings = settings
        self.credentials = credentials
        self.pacer = pacer or Pacer()
        self.extra_endpoints = dict(extra_endpoints or {})
        self.retry_base, self.retry_cap, self.retry_deadline = retry_base, retry_cap, retry_deadline
        self._local = threading.local()
        self._stats_lock = threading.Lock()
        self.stats = {"calls": 0, "writes": 0, "throttled": 0, "retries": 0, "errors": 0}

    @property
    def source(self):
        return self.credentials.source

    def _count(self, **inc):
        with self._stats_lock:
            for k, v in inc.items():
                self.stats[k] += v

    def endpoint(self, product) -> Endpoint:
        return endpoint_for(self.settings, product, self.extra_endpoints)

    def _acs(self, cred, ep):
        """One AcsClient per thread and key; ak/secret explicit, no SDK retry, no proxy on loopback."""
        cache = getattr(self._local, "clients", None)
        if cache is None:
            cache = self._local.clients = {}
        key = (cred.access_key_id, cred.access_key_secret, ep.loopback)
        if key not in cache:
            cache.clear()
            cache[key] = AcsClient(
                cred.access_key_id, cred.access_key_secret, self.settings.region, auto_retry=False,
                connect_timeout=self.settings.connect_timeout, timeout=self.settings.read_timeout,
                proxy={"http": None, "https": None} if ep.loopback else None,
            )
        return cache[key]

    def _request(self, product, action, params, cred, ep):
        spec = PRODUCTS[product]
        req = None
        if spec.package:
            try:
                mod = importlib.import_module("%s.%sRequest" % (spec.package, action))
                req = getattr(mod, action + "Request")()
            except (ImportError, AttributeError):
                req = None
        if req is None:
            req = RpcRequest(spec.code, spec.version, action)
            req.set_method("POST")
        for k, v in params.items():
            if v is None:
                continue
            req.add_query_param(k, ("true" if v else "false") if isinstance(v, bool) else str(v))
        if cred.security_token:
            req.add_query_param("SecurityToken", cred.security_token)
        req.set_endpoint(ep.host)
        req.set_protocol_type(ep.scheme)
        req.set_accept_format("JSON")
        return req

    def _once(self, product, action, params, ep):
        cred = self.credentials.get()
        req = self._request(product, action, params, cred, ep)
        try:
            body = self._acs(cred, ep).do_action_with_exception(req)
        except ServerException as e:
            raise CloudError(e.get_error_code(), e.get_error_msg(), e.get_http_status(),
                             e.get_request_id(), action, cred.access_key_id) from None
        except ClientException as e:
            raise CloudError(e.get_error_code(), e.get_error_msg(), action=action,
                             key_id=cred.access_key_id) from None
        except Exception as e:  # the SDK raises bare errors on malformed answers
            raise CloudError("SDK.Error", "%s: %s" % (type(e).__name__, e), action=action,
                             key_id=cred.access_key_id) from None
        try:
            return json.loads(body)
        except ValueError:
            raise CloudError("SDK.InvalidResponse", "answer is not JSON", action=action) from None

    def call(self, product, action, params: dict, write: bool) -> dict:
        """Send one request (retrying transient failures); the parsed JSON answer or CloudError."""
        killpoint.reached("cloud-call")        # test-only, inert unless ACME_ALIYUN_TEST_KILL_AT is set
        ep = self.endpoint(product)
        deadline = time.monotonic() + self.retry_deadline
        attempts = max(1, self.settings.max_attempts)
        attempt = 0
        while True:
            attempt += 1
            self.pacer.wait(action)
            self._count(calls=1, writes=int(write))
            try:
                data = self._once(product, action, params, ep)
                logger.debug("%s %s ok (RequestId %s)", product, action, data.get("RequestId"))
                return data
            except CloudError as err:
                throttled = (err.code or "").startswith("Throttling")
                self._count(throttled=int(throttled), errors=1)
                delay = random.uniform(0, min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)))
                if throttled:
                    delay += self.retry_base
                if not retryable(product, err) or attempt >= attempts or time.monotonic() + delay > deadline:
                    raise
                logger.debug("%s: %s, retry %d/%d in %.2fs", action, err.code, attempt, attempts - 1, delay)
                self._count(retries=1)
                time.sleep(delay)
