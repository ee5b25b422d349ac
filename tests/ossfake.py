"""A loopback OSS for the oss:// state tests: just the object calls oss2 makes for state_oss.py.

PUT / GET / DELETE object and GET bucket (ListObjects v1, prefix and marker) in path style
(http://127.0.0.1:PORT/bucket/key, which oss2 uses for an IP endpoint). Every request's V1
signature (HMAC-SHA1 over verb, Content-MD5, Content-Type, Date, the x-oss-* headers and
/bucket/key) is checked against the configured secret, as OSS does, and refused with
SignatureDoesNotMatch otherwise. PUT honours x-oss-forbid-overwrite: true with 409
FileAlreadyExists, the conditional write the lock relies on. One lock serialises the object
table, as OSS's strong consistency does. Calls are recorded for the tests.
"""

import base64
import hashlib
import hmac
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

_SUBRESOURCES = {"acl", "uploads", "uploadId", "partNumber", "symlink", "tagging", "security-token"}


class OssFake:
    def __init__(self, access_key_id, secret, bucket):
        self.key_id, self.secret, self.bucket = access_key_id, secret, bucket
        self.objects = {}                     # key -> bytes
        self.calls = []                       # (method, key, status)
        self.put_delay = 0.0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_PUT(self):
                fake._handle(self, "PUT")

            def do_GET(self):
                fake._handle(self, "GET")

            def do_DELETE(self):
                fake._handle(self, "DELETE")

            def do_HEAD(self):
                fake._handle(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- the protocol ------------------------------------------------------------------------

    def _signature_ok(self, req, method, bucket, key, query):
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("OSS ") or ":" not in auth:
            return False
        key_id, sig = auth[4:].split(":", 1)
        oss_headers = sorted((k.lower(), v) for k, v in req.headers.items() if k.lower().startswith("x-oss-"))
        sub = sorted((k, v[0]) for k, v in query.items() if k in _SUBRESOURCES)
        resource = "/%s/%s" % (bucket, key) + ("?" + "&".join(k + ("=" + v if v else "") for k, v in sub)
                                               if sub else "")
        text = "\n".join([method, req.headers.get("Content-MD5", ""), req.headers.get("Content-Type", ""),
                          req.headers.get("Date", ""), "".join("%s:%s\n" % kv for kv in oss_headers) + resource])
        want = base64.b64encode(hmac.new(self.secret.encode(), text.encode(), hashlib.sha1).digest()).decode()
        return key_id == self.key_id and hmac.compare_digest(want, sig)

    def _reply(self, req, status, body=b"", ctype="application/xml", headers=None):
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.send_header("x-oss-request-id", "FAKE%08d" % len(self.calls))
        req.send_header("Date", formatdate(usegmt=True))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)

    def _error(self, req, status, code, message):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s</Message>"
                "<RequestId>FAKE</RequestId><HostId>127.0.0.1</HostId></Error>" % (code, escape(message))).encode()
        self._reply(req, status, body)

    def _handle(self, req, method):
        url = urlsplit(req.path)
        query = parse_qs(url.query, keep_blank_values=True)
        bucket, _, key = url.path.lstrip("/").partition("/")
        key = unquote(key)
        length = int(req.headers.get("Content-Length") or 0)
        data = req.rfile.read(length) if length else b""
        if bucket != self.bucket:
            return self._error(req, 404, "NoSuchBucket", "no such bucket")
        if not self._signature_ok(req, method, bucket, key, query):
            self.calls.append((method, key, 403))
            return self._error(req, 403, "SignatureDoesNotMatch", "signature mismatch")
        with self.lock:
            status = self._apply(req, method, key, query, data)
        self.calls.append((method, key, status))

    def _apply(self, req, method, key, query, data):
        if method == "GET" and not key:
            return self._list(req, query)
        if method == "PUT":
            if self.put_delay and not key.endswith("/.lock"):
                time.sleep(self.put_delay)       # a slow upload: two invocations surely overlap
            if req.headers.get("x-oss-forbid-overwrite", "").lower() == "true" and key in self.objects:
                self._error(req, 409, "FileAlreadyExists", "The object you specified already exists.")
                return 409
            self.objects[key] = data
            self._reply(req, 200, headers={"ETag": '"%s"' % hashlib.md5(data).hexdigest().upper()})
            return 200
        if method == "DELETE":                 # OSS answers 204 whether the object existed or not
            self.objects.pop(key, None)
            self._reply(req, 204)
            return 204
        if key not in self.objects:
            self._error(req, 404, "NoSuchKey", "The specified key does not exist.")
            return 404
        body = self.objects[key]
        self._reply(req, 200, body, "application/octet-stream",
                    {"ETag": '"%s"' % hashlib.md5(body).hexdigest().upper()})
        return 200

    def _list(self, req, query):
        prefix = query.get("prefix", [""])[0]
        marker = query.get("marker", [""])[0]
        limit = int(query.get("max-keys", ["100"])[0])
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > marker)
        page, more = keys[:limit], len(keys) > limit
        items = "".join("<Contents><Key>%s</Key><LastModified>2026-11-29T00:00:00.000Z</LastModified>"
                        "<ETag>\"%s\"</ETag><Type>Normal</Type><Size>%d</Size><StorageClass>Standard"
                        "</StorageClass></Contents>" % (escape(k), hashlib.md5(self.objects[k]).hexdigest().upper(),
                                                          len(self.objects[k])) for k in page)
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>%s</Name><Prefix>%s</Prefix>"
                "<Marker>%s</Marker><MaxKeys>%d</MaxKeys><Delimiter></Delimiter><IsTruncated>%s</IsTruncated>"
                "%s%s</ListBucketResult>" % (self.bucket, escape(prefix), escape(marker), limit,
                                             "true" if more else "false",
                                             "<NextMarker>%s</NextMarker>" % escape(page[-1]) if more else "",
                                             items)).encode()
        self._reply(req, 200, body)
        return 200
