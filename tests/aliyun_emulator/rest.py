"""Requests that are not RPC: products addressed by method and path (object storage, ROA APIs).

Why a pipeline of its own: an RPC call names its Action and Version in the parameters and signs
them as a query string; these products name the operation by method + path (+ sub-resources),
sign headers with their own scheme and answer XML or JSON with their own error shape. A
RestProduct claims a request (``claims``), names the operation (``operation``: raises ApiError
for one it does not know), checks the signature (``authenticate``), and renders answers and
errors. The pipeline around it is the RPC one's: QPS window per operation ([assumed] limits in
each product, EmulatorConfig.qps_limits overrides them), the random faults (emu.set_faults, by
operation name: throttling, 5xx, reset, timeout, answered in the product's error shape), the
configured latency, the handler under the state lock, and one CallRecord per request (names only;
whether the URL path or query carried private-key material is decided here, as for RPC).
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple
from urllib.parse import parse_qsl, unquote

from .calllog import CallRecord
from .errors import ApiError, new_request_id
from .faults import FAULT_CODES
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)


@dataclass
class RestRequest:
    method: str
    path: str                       # as sent, still percent-encoded
    query: Dict[str, str]           # decoded, blank values kept
    headers: Dict[str, str]         # lower-case names
    body: bytes
    host: str = ""
    key_id: Optional[str] = None    # set once authenticated
    sign_region: Optional[str] = None   # the region a signature is scoped to, where the scheme has one

    @classmethod
    def build(cls, method: str, target: str, headers, body: bytes) -> "RestRequest":
        path, _, query = target.partition("?")
        low = {k.lower(): v for k, v in headers.items()}
        return cls(method.upper(), path or "/", dict(parse_qsl(query, keep_blank_values=True)), low, body,
                   low.get("host", ""))


@dataclass
class RestReply:
    status: Optional[int]           # None: reset the connection instead of answering
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    name: str                       # as the RAM action / API reference names it
    handler: Callable               # handler(ctx, request) -> RestReply
    write: bool = False


class RestPipeline:
    """Runs the claimed requests of the REST products; None from ``dispatch`` means "not ours"."""

    def __init__(self, products, ctx, auth, config, calls, keys, stopping, faults):
        self._products = products
        self._faults = faults
        self._ctx, self._auth, self._config = ctx, auth, config
        self._calls, self._keys, self._stopping = calls, keys, stopping
        limits = {}
        for p in products:
            limits.update(p.qps)
        self._limiter = RateLimiter(lambda op: (config.qps_limits or {}).get(op, limits.get(op, 10)),
                                    config.enforce_qps)

    def dispatch(self, req: RestRequest) -> Optional[RestReply]:
        product = next((p for p in self._products if p.claims(req)), None)
        if product is None:
            return None
        request_id = new_request_id()
        received = time.time()
        self._keys.remember(req.body.decode("utf-8", "replace"))
        op: Optional[Operation] = None
        fault = None
        try:
            op = product.operation(req)
            req.key_id = product.authenticate(self._auth, req)
            if not self._limiter.admit(op.name):
                raise ApiError(product.throttle_code)
            fault = self._faults.draw(op.name)
            if fault:
                self._inject(fault)
            self._pause()
            with self._ctx.state.lock:
                reply = op.handler(self._ctx, req)
        except ApiError as err:
            reply = product.error(err, request_id, req)
        except Exception:   # an emulator bug: answer like the cloud would, keep the traceback
            log.exception("emulator failed on %s %s", req.method, req.path)
            reply = product.error(ApiError("InternalError"), request_id, req)
        except _Reset:
            reply = RestReply(None)
        reply.headers.setdefault(product.request_id_header, request_id)
        self._record(product, op, req, reply, request_id, received, fault)
        return reply

    def _inject(self, kind):
        if kind == "reset":
            raise _Reset()
        if kind == "timeout":
            self._stopping.wait(self._config.timeout_sleep_s)
            raise ApiError("ServiceUnavailable")
        raise ApiError(FAULT_CODES[kind])

    def _pause(self):
        if self._config.latency_ms > 0:
            self._stopping.wait(self._config.latency_ms / 1000.0)

    def _record(self, product, op, req, reply, request_id, received, fault):
        in_url = dict(req.query, **{"(path)": unquote(req.path)})
        self._calls.append(CallRecord(
            action=op.name if op else None, product=product.code, version=product.version,
            http_status=reply.status, code=product.error_code(reply) if reply.status else None,
            request_id=request_id,
            fault=fault,
            write=bool(op and op.write), params_keys=tuple(sorted(req.query)), time=received,
            method=req.method, query_keys=tuple(sorted(req.query)), body_keys=product.body_keys(req),
            key_in_query=self._keys.leaks(in_url)))


class _Reset(Exception):
    """The "reset" fault: close the connection without answering."""


def split_authorization(value: str, scheme: str) -> Tuple[bool, Dict[str, str]]:
    """'<scheme> k=v, k=v' -> (scheme matched, {k: v})."""
    if not value.startswith(scheme + " "):
        return False, {}
    parts = {}
    for item in value[len(scheme) + 1:].split(","):
        k, _, v = item.strip().partition("=")
        if k:
            parts[k.strip()] = v.strip()
    return True, parts
