"""Loopback fakes for the credential tests: the ECS metadata server, an STS AssumeRole endpoint and
an ALIBABA_CLOUD_CREDENTIALS_URI service."""

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 answering through handle(method, path, headers, query)."""

    def __init__(self):
        self.requests = []          # (method, path, headers dict)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                outer.requests.append((self.command, parts.path, dict(self.headers), query))
                try:
                    status, body = outer.handle(self.command, parts.path, self.headers, query)
                except ConnectionAbortedError:          # drop the connection without an answer
                    self.close_connection = True
                    return
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    @property
    def hostport(self):
        return "127.0.0.1:%d" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class FakeMetadata(FakeServer):
    """The metadata server. token_mode "v2": a token is required on every GET; "refuse": the token
    request is answered 403 and plain GETs are served; "reset": the token request's connection is
    dropped without an answer and plain GETs are served. Hands out numbered credentials."""

    TOKEN = "imds-session-token-123"

    def __init__(self, role="AcmeRole", lifetime=3600, token_mode="v2"):
        self.role, self.lifetime, self.issued, self.token_mode = role, lifetime, 0, token_mode
        super().__init__()

    def handle(self, method, path, headers, query):
        if method == "PUT" and path == "/latest/api/token":
            if self.token_mode == "reset":
                raise ConnectionAbortedError("dropped")
            if self.token_mode == "refuse":
                return 403, "token mode disabled"
            if not headers.get("X-aliyun-ecs-metadata-token-ttl-seconds"):
                return 400, "ttl header missing"
            return 200, self.TOKEN
        if self.token_mode == "v2" and headers.get("X-aliyun-ecs-metadata-token") != self.TOKEN:
            return 401, "token required"
        base = "/latest/meta-data/ram/security-credentials/"
        if path == base:
            return 200, self.role + "\n"
        if path == base + self.role:
            self.issued += 1
            return 200, {"Code": "Success", "AccessKeyId": "STS.ecs%d" % self.issued,
                         "AccessKeySecret": "ecs-secret-%d" % self.issued,
                         "SecurityToken": "ecs-token-%d" % self.issued,
                         "Expiration": iso(time.time() + self.lifetime), "LastUpdated": iso(time.time())}
        return 404, "not found"


def _pct(s):
    return quote(s, safe="-_.~")


class FakeSts(FakeServer):
    """STS AssumeRole: checks the V1 signature made with the long-term key, returns given credentials."""

    def __init__(self, base_id, base_secret, creds, lifetime=3600):
        self.base_id, self.base_secret, self.creds, self.lifetime = base_id, base_secret, creds, lifetime
        super().__init__()

    def handle(self, method, path, headers, query):
        params = dict(query)
        sig = params.pop("Signature", "")
        canon = "&".join(_pct(k) + "=" + _pct(v) for k, v in sorted(params.items()))
        sts = method + "&" + _pct("/") + "&" + _pct(canon)
        calc = base64.b64encode(hmac.new((self.base_secret + "&").encode(), sts.encode(),
                                         hashlib.sha1).digest()).decode()
        if params.get("AccessKeyId") != self.base_id or calc != sig:
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "bad signature:x", "RequestId": "R1"}
        if params.get("Action") != "AssumeRole" or not params.get("RoleArn"):
            return 400, {"Code": "InvalidParameter", "Message": "bad", "RequestId": "R2"}
        key_id, secret, token = self.creds
        return 200, {"RequestId": "R3", "AssumedRoleUser": {"Arn": params["RoleArn"]},
                     "Credentials": {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token,
                                     "Expiration": iso(time.time() + self.lifetime)}}


class FakeCredentialsUri(FakeServer):
    """ALIBABA_CLOUD_CREDENTIALS_URI: numbered temporary credentials lasting `lifetime` seconds."""

    def __init__(self, lifetime=3600, code="Success"):
        self.lifetime, self.code, self.issued = lifetime, code, 0
        super().__init__()

    def handle(self, method, path, headers, query):
        if path != "/creds":
            return 404, "not found"
        self.issued += 1
        return 200, {"Code": self.code, "AccessKeyId": "STS.uri%d" % self.issued,
                     "AccessKeySecret": "uri-secret-%d-Xq" % self.issued,
                     "SecurityToken": "uri-token-%d-Vb" % self.issued,
                     "Expiration": iso(time.time() + self.lifetime)}
