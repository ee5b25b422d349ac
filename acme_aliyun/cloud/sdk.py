"""The one place that talks to Alibaba Cloud: builds SDK clients and sends requests.

CloudClient.call(product, action, params, write) picks the endpoint (HTTPS unless
it is loopback), signs with the credentials the provider hands out (always passed
explicitly, so the legacy core's ALIYUN_ACCESS_KEY_* env override never applies),
paces each action under its documented QPS, retries what is worth retrying with
jittered exponential backoff, and turns every failure into a CloudError whose text
is one sanitised line (no signed URL, key id or private key). Writes are POSTs with
every parameter in the signed form body, so no certificate or key travels in a URL.

The transport knows no deploy target: each product's facts (code, version, endpoint per
region and site, QPS per action, RAM prefix) arrive through register(), which the
targets package calls on import. Dependencies run targets -> cloud, never back.
"""

import importlib
import json
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar, Union
from urllib.parse import urlsplit

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest

from acme_aliyun import killpoint, netmsg
from acme_aliyun.cloud.listcache import ListingCache
from acme_aliyun.cloud.settings import CloudSettings, is_loopback
from acme_aliyun.errors import ToolError, UsageError
from acme_aliyun.log import mask_key_id, redact, silence_sdk

logger = logging.getLogger(__name__)
T = TypeVar("T")

silence_sdk()          # the core logs signed URLs (key id, private keys) and adds its own handlers


@dataclass(frozen=True)
class Product:
    """What the transport needs to know about one API: who it is and where it lives.

    The cloud layer defines only the products it uses itself (dns, sts); the deploy
    targets hand theirs in through register() (the targets package does so on import),
    so the dependency runs targets -> cloud and never back.
    """

    key: str           # our name for it: "cdn", "cas", "dns"
    code: str          # the SDK's product code
    version: str
    package: str       # generated request classes, or "" for a bare RpcRequest (POST)
    endpoint: Callable[[str, bool], str]          # (region, international) -> host
    qps: Mapping[str, float] = field(default_factory=dict)   # per action: documented or ASSUMED limits
    regional: bool = False                        # calls carry RegionId (the request's own region)
    ram: str = ""                                 # RAM service prefix of its actions ("cdn", "yundun-cert")
    # RAM actions the service checks on the caller's behalf when we call it (a service that reads a
    # CAS certificate we point it at): granted by the policy, never called by us
    ram_extra: Tuple[str, ...] = ()


def ram_actions() -> "set[str]":
    """'prefix:Action' for every action of every registered product (what a policy must grant)."""
    return ({"%s:%s" % (p.ram, a) for p in PRODUCTS.values() if p.ram for a in p.qps}
            | {a for p in PRODUCTS.values() for a in p.ram_extra})


PRODUCTS: Dict[str, Product] = {}


def register(product: Product) -> Product:
    """Make a product known to every CloudClient (idempotent)."""
    PRODUCTS[product.key] = product
    return product


register(Product("dns", "Alidns", "2015-01-09", "aliyunsdkalidns.request.v20150109",
                 lambda region, intl: "alidns.aliyuncs.com",
                 {a: 10 for a in ("AddDomainRecord", "DeleteDomainRecord", "DescribeSubDomainRecords",
                                  "DescribeDomains")}, ram="alidns"))
register(Product("sts", "Sts", "2015-04-01", "", lambda region, intl: "sts.aliyuncs.com"))

DEFAULT_QPS = 10


def qps_limits() -> Dict[str, float]:
    """Every registered action's limit (an action not listed gets DEFAULT_QPS)."""
    return {action: limit for p in PRODUCTS.values() for action, limit in p.qps.items()}


RETRY_CODES = {"ServiceUnavailable", "InternalError", "UnknownError", "ServiceBusy", "SDK.HttpError"}
DNS_RETRY_CODES = {"LastOperationNotFinished"}


# --- endpoints ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    scheme: str        # "https", or "http" for loopback only
    host: str          # host[:port]

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def default_endpoint(settings: CloudSettings, product: str, region: Optional[str] = None) -> str:
    return PRODUCTS[product].endpoint(region or settings.region, settings.international)


def endpoint_for(settings: CloudSettings, product: str, extra: Optional[Mapping[str, str]] = None,
                 env: Optional[Mapping[str, str]] = None, region: Optional[str] = None) -> Endpoint:
    """Where requests for product go: ACME_ALIYUN_ENDPOINT > product override > endpoint > default.

    A bare host[:port] means HTTPS, except on loopback (the emulator) where it means
    HTTP. An explicit http:// is refused for anything but loopback.
    """
    env = os.environ if env is None else env
    product_override = (settings.endpoints or {}).get(product) or (extra or {}).get(product)
    value = (env.get("ACME_ALIYUN_ENDPOINT") or product_override or settings.endpoint
             or default_endpoint(settings, product, region)).strip()
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


def sanitise(text: Any, limit: int = 300) -> str:
    """One line, no signed query, no string-to-sign, no registered secret, no private key."""
    text = re.split(r"string to sign", str(text or ""), flags=re.I)[0]
    text = _QUERY.sub("?[query redacted]", text)
    text = redact(_SIGN_STRING.sub("[signed string redacted]", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def carries_key(params: dict) -> bool:
    """Does a request carry a private key? Then the server's message may echo part of it."""
    return any("PRIVATE KEY" in str(v) for v in params.values() if v is not None)


class CloudError(ToolError):
    """An Alibaba Cloud request failed; str() is one sanitised line."""

    def __init__(self, code: str, message: Any, http_status: Optional[int] = None, request_id: Optional[str] = None,
                 action: Optional[str] = None, key_id: Optional[str] = None, withhold: bool = False,
                 network: Optional[str] = None) -> None:
        self.code, self.http_status, self.request_id, self.action = code, http_status, request_id, action
        self.withhold = withhold       # the request carried a private key: never echo the server's text
        self.network = network         # "host: connection refused" when the request never got an answer
        self.message = sanitise(message)
        self.brief = self._brief(key_id)
        super().__init__(self._line())

    def _brief(self, key_id):
        """The line without code, HTTP status and request id (a report shows those once, beside it)."""
        if self.network:
            return self.network
        if self.code in ("InvalidAccessKeySecret", "SignatureDoesNotMatch"):
            return "Alibaba Cloud rejected the AccessKeySecret for key id %s" % mask_key_id(key_id)
        if self.code in ("InvalidAccessKeyId.NotFound", "InvalidAccessKeyId"):
            return "Alibaba Cloud does not know the AccessKeyId %s" % mask_key_id(key_id)
        if self.withhold:
            self.message = "(message withheld: the request carried a private key)"
            return sanitise(self.action or "request", 600)
        return sanitise("%s: %s" % (self.action or "request", self.message), 600)

    def _line(self):
        if self.network:
            return self.network
        if self.code in KEY_CODES:
            return "%s (%s)" % (self.brief, self.code)
        about = ["HTTP %s" % self.http_status] if self.http_status else []
        about += ["RequestId %s" % self.request_id] if self.request_id else []
        tail = " (%s)" % ", ".join(about) if about else ""
        if self.withhold:
            return sanitise("%s: %s%s" % (self.brief, self.code, tail), 600)
        return sanitise("%s: %s: %s%s" % (self.action or "request", self.code, self.message, tail), 600)


KEY_CODES = ("InvalidAccessKeySecret", "SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId")


def retryable(product: str, err: CloudError) -> bool:
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

    def __init__(self, limits: Optional[Mapping[str, float]] = None, default: float = DEFAULT_QPS) -> None:
        self.limits = limits          # None: the registered products' limits, read when used
        self.default = default
        self._buckets: Dict[str, tuple] = {}  # action -> (tokens, monotonic time)
        self._lock = threading.Lock()

    def wait(self, action: str) -> None:
        limits = qps_limits() if self.limits is None else self.limits
        limit = limits.get(action, self.default)
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

    def __init__(self, settings: CloudSettings, credentials: Any, pacer: Optional[Pacer] = None,
                 extra_endpoints: Optional[Mapping[str, str]] = None, retry_base: float = 0.5,
                 retry_cap: float = 10.0, retry_deadline: float = 120.0) -> None:
        self.settings = settings
        self.credentials = credentials
        self.pacer = pacer or Pacer()
        self.extra_endpoints = dict(extra_endpoints or {})
        self.retry_base, self.retry_cap, self.retry_deadline = retry_base, retry_cap, retry_deadline
        self.form_body = True          # writes carry their parameters (certificate, key) in the form body
        self._local = threading.local()
        self._stats_lock = threading.Lock()
        self.stats = {"calls": 0, "writes": 0, "throttled": 0, "retries": 0, "errors": 0}
        self.listings = ListingCache()  # bulk listings shared by every certificate of this run

    @property
    def source(self) -> str:
        return self.credentials.source

    def _count(self, **inc):
        with self._stats_lock:
            for k, v in inc.items():
                self.stats[k] += v

    def endpoint(self, product: str, region: Optional[str] = None) -> Endpoint:
        return endpoint_for(self.settings, product, self.extra_endpoints, region=region)

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

    def _request(self, product, action, params, cred, ep, write, region):
        spec = PRODUCTS[product]
        req = None
        if spec.package:
            try:
                mod = importlib.import_module("%s.%sRequest" % (spec.package, action))
                req = getattr(mod, action + "Request")()
            except (ImportError, AttributeError):
                req = None
        if req is None or write:   # writes: POST, every parameter (certificate, key) in the signed body
            req = req or RpcRequest(spec.code, spec.version, action)
            req.set_method("POST")
        add = req.add_body_params if write and self.form_body else req.add_query_param
        if region:
            req.add_query_param("RegionId", region)
        for k, v in params.items():
            if v is None:
                continue
            add(k, ("true" if v else "false") if isinstance(v, bool) else str(v))
        if cred.security_token:
            req.add_query_param("SecurityToken", cred.security_token)
        req.set_endpoint(ep.host)
        req.set_protocol_type(ep.scheme)
        req.set_accept_format("JSON")
        return req

    def _once(self, product, action, params, ep, write=False, region=None, cred=None):
        cred = cred or self.credentials.get()
        req = self._request(product, action, params, cred, ep, write, region)
        withhold = carries_key(params)
        try:
            body = self._acs(cred, ep).do_action_with_exception(req)
        except ServerException as e:
            raise CloudError(e.get_error_code(), e.get_error_msg(), e.get_http_status(),
                             e.get_request_id(), action, cred.access_key_id, withhold=withhold) from None
        except ClientException as e:
            network = None
            if e.get_error_code() == "SDK.HttpError":     # no answer at all: name the cause, not the SDK's repr
                network = "%s: %s" % (ep.host, netmsg.reason(e.get_error_msg()) or "no answer")
            raise CloudError(e.get_error_code(), e.get_error_msg(), action=action,
                             key_id=cred.access_key_id, withhold=withhold, network=network) from None
        except Exception as e:  # the SDK raises bare errors on malformed answers
            raise CloudError("SDK.Error", "%s: %s" % (type(e).__name__, e), action=action,
                             key_id=cred.access_key_id) from None
        try:
            return json.loads(body)
        except ValueError:
            raise CloudError("SDK.InvalidResponse", "answer is not JSON", action=action) from None

    def call(self, product: str, action: str, params: dict, write: bool, region: Optional[str] = None,
             cached: Union[bool, str] = False) -> dict:
        """Send one RPC request (retrying transient failures); the parsed JSON answer or CloudError.

        region: for a regional product, the region whose endpoint and RegionId the call uses.
        cached: a bulk listing the run may answer from self.listings (True: forgotten on any
        write to the product; a string: the group whose writes forget it).
        """
        if write:               # forgotten before (listings in flight are not kept) and after
            self.listings.forget(product)
            try:
                return self._call_fresh(product, action, params, write, region)
            finally:
                self.listings.forget(product)
        if cached:
            group = product if cached is True else str(cached)
            return self.listings.get(group, action, region or "", params,
                                     lambda: self._call_fresh(product, action, params, False, region),
                                     keep_error=lambda e: isinstance(e, CloudError) and not retryable(product, e)
                                     and (e.http_status or 400) < 500)
        return self._call_fresh(product, action, params, write, region)

    def _call_fresh(self, product: str, action: str, params: dict, write: bool, region: Optional[str]) -> dict:
        killpoint.reached("cloud-call")        # test-only, inert unless ACME_ALIYUN_TEST_KILL_AT is set
        ep = self.endpoint(product, region)
        return self.run(product, action, write, lambda cred: self._once(product, action, params, ep, write, region, cred))

    def _attempt(self, action: str, send: Callable[[Any], T]) -> T:
        """send() with the credential handed out now; when the cloud's clock says the STS token
        expired before ours did, fetch a new one and send once more."""
        cred = self.credentials.get()
        try:
            return send(cred)
        except CloudError as err:
            invalidate = getattr(self.credentials, "invalidate", None)
            if err.code != "InvalidSecurityToken.Expired" or invalidate is None or not invalidate(cred):
                raise
            logger.debug("%s: the STS token expired early; fetching new credentials", action)
            return send(self.credentials.get())

    def run(self, product: str, action: str, write: bool, send: Callable[[Any], T]) -> T:
        """Pacing, counting and retries around one request of any shape (RPC, ROA, a product's own).

        send(credential) makes one attempt with the credential handed out for it and raises
        CloudError on failure; transports that are not RPC (cloud.roa and the others) use this so
        every product shares the same pacing, backoff and statistics.
        """
        deadline = time.monotonic() + self.retry_deadline
        attempts = max(1, self.settings.max_attempts)
        attempt = 0
        while True:
            attempt += 1
            self.pacer.wait(action)
            self._count(calls=1, writes=int(write))
            try:
                result = self._attempt(action, send)
                logger.debug("%s %s ok", product, action)
                return result
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
