"""The HTTP side: the request pipeline every call goes through, and the loopback ThreadingHTTPServer.

Pipeline (Dispatcher.dispatch): merge query and form body (the body wins on a name in both, as the
SDK's signer does) -> route by Action+Version (any Host) ->
authenticate (skipped for the anonymous STS AssumeRoleWithOIDC) -> QPS window -> random fault -> failing domain -> [in-flight window: latency, overlap
check (LastOperationNotFinished), handler under the state lock]. Calls rejected before the handler also
pay the latency. Every request leaves one CallRecord; the answer is JSON with RequestId, or for the
"reset" fault no answer at all (the socket is closed with RST).
"""

import json
import logging
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qsl, urlsplit

from .calllog import CallRecord
from .errors import CATALOGUE, ApiError, new_request_id
from .faults import FAULT_CODES, InflightWrites
from .products import REST, route
from .rest import RestPipeline, RestRequest
from .products.base import Context, Params

log = logging.getLogger(__name__)


@dataclass
class Reply:
    status: Optional[int]     # None: reset the connection instead of answering
    body: Optional[dict]


@dataclass
class _Call:
    params: dict
    request_id: str
    received: float
    method: str
    query: dict
    body: dict
    host: str = ""
    product: object = None
    action: object = None
    fault: Optional[str] = None
    targets: tuple = ()


class _Reset(Exception):
    """Raised by the "reset" fault: drop the connection."""


class Dispatcher:
    def __init__(self, config, state, auth, limiter, faults, calls, mirror, stopping, keys):
        self._config = config
        self._keys = keys
        self._state = state
        self._auth = auth
        self._limiter = limiter
        self._faults = faults
        self._calls = calls
        self._ctx = Context(state, config, mirror, auth)
        self._stopping = stopping
        self._inflight = InflightWrites()
        self._rest = RestPipeline(REST, self._ctx, auth, config, calls, keys, stopping, faults)

    def dispatch_rest(self, req):
        """A REST product's answer (rest.RestReply), or None when the request is an RPC call."""
        return self._rest.dispatch(req)

    def dispatch(self, method, query, body, content_type, host):
        query_params, body_params = _split_params(query, body, content_type)
        call = _Call(dict(query_params, **body_params), new_request_id(), time.time(), method.upper(),
                     query_params, body_params, host or "")
        self._keys.remember_all(call.params.values())
        try:
            reply = Reply(200, dict({"RequestId": call.request_id}, **self._process(call, method)))
        except _Reset:
            reply = Reply(None, None)
        except ApiError as err:
            reply = self._error(call, err, host)
        except Exception:   # an emulator bug: answer like the cloud would, keep the traceback
            log.exception("emulator failed on %s", call.params.get("Action"))
            reply = self._error(call, ApiError("InternalError"), host)
        self._calls.append(CallRecord(
            action=call.params.get("Action"), product=call.product.code if call.product else None,
            version=call.params.get("Version"), http_status=reply.status,
            code=reply.body.get("Code") if reply.body else None, request_id=call.request_id,
            write=bool(call.action and call.action.write), params_keys=tuple(sorted(call.params)),
            time=call.received, fault=call.fault, targets=call.targets, method=call.method,
            query_keys=tuple(sorted(call.query)), body_keys=tuple(sorted(call.body)),
            key_in_query=self._keys.leaks(call.query), access_key_id=call.params.get("AccessKeyId") or None))
        return reply

    def _process(self, call, method):
        params = call.params
        try:
            call.product, call.action = route(params.get("Action"), params.get("Version"))
            if not call.action.anonymous:
                self._auth.authenticate(method, params)
            if not self._limiter.admit(call.action.name):
                raise ApiError("Throttling.User")
            call.fault = self._faults.draw(call.action.name)
            if call.fault:
                self._inject(call.fault)
            if call.action.write:
                call.targets = call.action.targets(self._state, params)
                self._faults.check_targets(call.targets)
        except ApiError:
            self._pause(self._config.latency_ms / 1000.0)
            raise
        product = call.product
        with self._inflight.track([(product.code, t) for t in call.targets]) as overlapped:
            self._pause(self._config.latency_ms / 1000.0)
            if overlapped and product.overlap_code and self._faults.chance(self._config.dns_conflict_rate):
                raise ApiError(product.overlap_code)
            with self._state.lock:
                frozen = self._freeze_for_lag(call)
                result = call.action.handler(self._ctx, Params(params, product.dotted_missing, call.method,
                                                               frozenset(call.query), call.host))
                self._state.lag.written(product.code, frozen)
                return result

    def _freeze_for_lag(self, call):
        """Before a write: the copy the listings keep showing if it succeeds (see lag.ListingLag)."""
        resources = self._state.resources_of(call.product.code) if call.action.write else None
        return None if resources is None else self._state.lag.before_write(call.product.code, resources)

    def _inject(self, kind):
        if kind == "reset":
            raise _Reset()
        if kind == "timeout":
            self._pause(self._config.timeout_sleep_s)
            raise ApiError("ServiceUnavailable")
        raise ApiError(FAULT_CODES[kind])

    def _pause(self, seconds):
        if seconds > 0:
            self._stopping.wait(seconds)

    def _error(self, call, err, host):
        status, message = (self._config.error_overrides or {}).get(err.code) or CATALOGUE.get(err.code, (400, err.code))
        product = call.product.code if call.product else ""
        return Reply(err.http_status or status, {
            "RequestId": call.request_id,
            "HostId": call.product.host if call.product else (host or ""),
            "Code": err.code,
            "Message": err.message or message,
            "Recommend": "https://api.aliyun.com/troubleshoot?q=%s&product=%s&requestId=%s"
                         % (err.code, product, call.request_id),
        })


def _split_params(query, body, content_type):
    """(query parameters, x-www-form-urlencoded body parameters); blank values kept.

    Both are signed by the SDK (rpc_signature_composer.get_signed_url: url params updated with the body
    params), so the signature is checked over the merge. Another body type carries no RPC parameters.
    """
    query_params = dict(parse_qsl(query, keep_blank_values=True))
    body_params = {}
    if body and (content_type or "").startswith("application/x-www-form-urlencoded"):
        body_params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return query_params, body_params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # header and body go out as separate writes
    server_version = "AliyunEmulator"
    sys_version = ""

    def setup(self):
        super().setup()
        self.server.track_connection(self.connection, True)

    def finish(self):
        self.server.track_connection(self.connection, False)
        super().finish()

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rest = self.server.dispatcher.dispatch_rest(RestRequest.build(self.command, self.path, self.headers, body))
        if rest is not None:
            if rest.status is None:
                self._reset()
            else:
                self._send(rest.status, rest.body, rest.headers)
            return
        reply = self.server.dispatcher.dispatch(self.command, urlsplit(self.path).query, body,
                                                self.headers.get("Content-Type"), self.headers.get("Host"))
        if reply.body is None:
            self._reset()
            return
        self._send(reply.status, json.dumps(reply.body).encode(), {
            "Content-Type": "application/json;charset=utf-8", "x-acs-request-id": reply.body["RequestId"]})

    def _send(self, status, data, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):   # the client gave up waiting (timeout fault)
            self.close_connection = True

    def _reset(self):
        """Close the connection with RST (SO_LINGER 0, no FIN first) without answering."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.close_without_fin(self.connection)

    def log_message(self, format, *args):   # the SDK puts secrets in URLs: never log request lines
        pass


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, dispatcher):
        self.dispatcher = dispatcher
        self._connections = set()
        self._no_fin = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request, client_address):
        """A client that went away (killed, timed out) is normal here; anything else is printed."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def close_without_fin(self, conn):
        """At the end of this request, close ``conn`` without shutdown(SHUT_WR) first."""
        with self._connections_lock:
            self._no_fin.add(conn)

    def shutdown_request(self, request):
        with self._connections_lock:
            no_fin = request in self._no_fin
            self._no_fin.discard(request)
        if no_fin:
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def track_connection(self, conn, is_open):
        with self._connections_lock:
            (self._connections.add if is_open else self._connections.discard)(conn)

    def close_connections(self):
        """Unblock keep-alive handler threads (called on stop)."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
