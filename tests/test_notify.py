"""acme_aliyun.notify against a loopback webhook receiver: formats, signing, redaction, failures."""

import base64
import hashlib
import hmac
import http.server
import json
import logging
import queue
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from acme_aliyun import log as logsetup
from acme_aliyun import notify
from acme_aliyun.config import NotifySettings
from tests.netutil import free_port

CANARY = "CanarySecret-7f3c9e1d2b"
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDcanary"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\n%s\nAbCdEf0123456789\n-----END PRIVATE KEY-----\n" % KEY_BODY
EC_BODY = "MHcCAQEEIBcanaryEcKeyMaterialOnly4Tests"
EC_KEY = "-----BEGIN EC PRIVATE KEY-----\n%s\n-----END EC PRIVATE KEY-----" % EC_BODY
CUT_BODY = "MIIEpAIBAAKCAQEAcutOffKeyWithoutItsEndLine"
TOKEN = "robotTokenAbc123456789"


def summary(ok=False, n=1, error=None):
    error = error if error is not None else (
        "upload refused: SSLPri=%s key=%s token %s" % (PEM_KEY, EC_KEY, CANARY))
    certs = []
    for i in range(n):
        certs.append({
            "name": "site%d" % i if n > 1 else "site", "action": "unchanged" if ok else "failed",
            "reason": "renewal due", "error": None if ok else {"message": error, "code": None, "request_id": None},
            "renew_at": "2031-02-03T04:05:06Z",
            "targets": [
                {"kind": "cdn", "target": "cdn.example.com", "status": "deployed" if ok else "failed",
                 "reason": "" if ok else "Throttling.User with %s" % CANARY,
                 "error": None if ok else {"message": "Throttling.User with %s" % CANARY, "code": "Throttling.User",
                                           "request_id": "5F0C-REQ-ID"}},
                {"kind": "apigateway", "target": "0123456789abcdef0123456789abcdef:api.example.com",
                 "status": "unchanged", "reason": "", "error": None},
            ]})
    return {"schema": 1, "command": "run", "ok": ok, "dry_run": False, "host": "ecs-web-1", "certificates": certs}


class Receiver:
    """A webhook on 127.0.0.1: records each request, answers with a canned response."""

    def __init__(self):
        self.requests = queue.Queue()
        self.status, self.answer, self.delay = 200, b'{"errcode":0,"errmsg":"ok"}', 0.0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.put({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def one(self):
        got = self.requests.get(timeout=5)
        assert self.requests.empty(), "more than one request"
        return got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _canary():
    logsetup.register_secret(CANARY)


def settings(url, fmt="generic", on_success=False, timeout=5.0):
    return NotifySettings(webhook=url, format=fmt, on_success=on_success, timeout=timeout)


def assert_clean(raw):
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    for leak in (CANARY, KEY_BODY, EC_BODY, CUT_BODY, "BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY"):
        assert leak not in text, leak


# --- formats ---------------------------------------------------------------------------------

def test_generic_posts_summary_and_text(receiver):
    notify.send(settings(receiver.url("/hook?x=1")), summary(), failed=True)
    got = receiver.one()
    assert got["path"] == "/hook?x=1"
    assert got["headers"]["Content-Type"].startswith("application/json")
    doc = json.loads(got["body"])
    assert doc["ok"] is False and doc["host"] == "ecs-web-1"
    assert doc["certificates"][0]["name"] == "site"
    assert doc["schema"] == 1 and doc["certificates"][0]["targets"][0]["error"]["request_id"] == "5F0C-REQ-ID"
    assert "acme-aliyun" in doc["text"] and "FAILED" in doc["text"]
    assert "site: failed" in doc["text"] and "Throttling.User" in doc["text"] and "5F0C-REQ-ID" in doc["text"]
    assert "[private key redacted]" in doc["certificates"][0]["error"]["message"]
    assert_clean(got["body"])


def test_dingtalk_markdown_signed(receiver, monkeypatch):
    secret = "SECdingtalkSigningSecret0123456789"
    monkeypatch.setenv(notify.DINGTALK_SECRET_ENV, secret)
    before = int(time.time() * 1000)
    notify.send(settings(receiver.url("/robot/send?access_token=%s" % TOKEN), "dingtalk"), summary(), failed=True)
    got = receiver.one()
    assert got["headers"]["Content-Type"].startswith("application/json")
    query = parse_qs(urlsplit(got["path"]).query)
    assert query["access_token"] == [TOKEN]
    ts = query["timestamp"][0]
    assert before - 1000 <= int(ts) <= int(time.time() * 1000) + 1000          # milliseconds
    expected = base64.b64encode(hmac.new(secret.encode(), ("%s\n%s" % (ts, secret)).encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]                                      # parse_qs undid the urlencoding
    assert "%2B" in got["path"] or "%2F" in got["path"] or "%3D" in got["path"]  # base64 was urlencoded
    doc = json.loads(got["body"])
    assert doc["msgtype"] == "markdown"
    assert "FAILED" in doc["markdown"]["title"] and "acme-aliyun" in doc["markdown"]["title"]
    assert doc["markdown"]["text"].startswith("### acme-aliyun")
    assert "**site**" in doc["markdown"]["text"]
    assert_clean(got["body"])
    assert secret not in got["body"].decode()


def test_dingtalk_url_already_signed_or_no_secret(receiver, monkeypatch):
    monkeypatch.setenv(notify.DINGTALK_SECRET_ENV, "SECanotherSecret")
    url = receiver.url("/robot/send?access_token=%s&timestamp=1&sign=abc" % TOKEN)
    notify.send(settings(url, "dingtalk"), summary(), failed=True)
    assert parse_qs(urlsplit(receiver.one()["path"]).query) == {"access_token": [TOKEN], "timestamp": ["1"],
                                                                 "sign": ["abc"]}
    monkeypatch.delenv(notify.DINGTALK_SECRET_ENV)
    notify.send(settings(receiver.url("/robot/send?access_token=%s" % TOKEN), "dingtalk"), summary(), failed=True)
    assert parse_qs(urlsplit(receiver.one()["path"]).query) == {"access_token": [TOKEN]}


def test_feishu_text_signed(receiver, monkeypatch):
    secret = "feishuSigningSecret42"
    monkeypatch.setenv(notify.FEISHU_SECRET_ENV, secret)
    receiver.answer = b'{"code":0,"msg":"success","data":{}}'
    before = int(time.time())
    notify.send(settings(receiver.url("/open-apis/bot/v2/hook/%s" % TOKEN), "feishu"), summary(), failed=True)
    got = receiver.one()
    assert got["headers"]["Content-Type"].startswith("application/json")
    doc = json.loads(got["body"])
    assert doc["msg_type"] == "text"
    assert "acme-aliyun: run FAILED on ecs-web-1" in doc["content"]["text"]
    ts = doc["timestamp"]
    assert isinstance(ts, str) and before - 1 <= int(ts) <= int(time.time()) + 1     # seconds
    expected = base64.b64encode(hmac.new(("%s\n%s" % (ts, secret)).encode(), b"", hashlib.sha256).digest()).decode()
    assert doc["sign"] == expected
    assert_clean(got["body"])


def test_feishu_unsigned_has_no_sign(receiver):
    receiver.answer = b'{"code":0,"msg":"success"}'
    notify.send(settings(receiver.url("/open-apis/bot/v2/hook/%s" % TOKEN), "feishu"), summary(), failed=True)
    doc = json.loads(receiver.one()["body"])
    assert "sign" not in doc and "timestamp" not in doc


@pytest.mark.parametrize("fmt", notify.FORMATS)
def test_secrets_and_keys_never_sent(receiver, fmt):
    receiver.answer = b'{"errcode":0,"code":0}'
    cut = "deploy said: -----BEGIN RSA PRIVATE KEY-----\n%s" % CUT_BODY    # END line cut off
    s = summary(error=cut + " " + CANARY)
    s["note"] = {"nested": [PEM_KEY, CANARY]}
    notify.send(settings(receiver.url(), fmt), s, failed=True)
    body = receiver.one()["body"]
    assert_clean(body)
    text = body.decode()
    # the redactions stand where the secrets were, in every format's text
    assert "deploy said: [private key redacted]" in text
    assert "Throttling.User with [redacted]" in text
    if fmt == "generic":        # only the generic format sends the summary's other fields
        assert json.loads(body)["note"] == {"nested": ["[private key redacted]\n", "[redacted]"]}


# --- when to send -------------------------------------------------------------------------------

def test_success_sent_only_when_on_success(receiver):
    notify.send(settings(receiver.url(), "generic", on_success=False), summary(ok=True), failed=False)
    assert receiver.requests.empty()
    notify.send(None, summary(), failed=True)
    assert receiver.requests.empty()
    notify.send(settings(receiver.url(), "generic", on_success=True), summary(ok=True), failed=False)
    doc = json.loads(receiver.one()["body"])
    assert doc["ok"] is True and "run OK" in doc["text"] and "targets: 1 deployed, 1 unchanged" in doc["text"]


def test_failure_sent_even_without_on_success(receiver):
    notify.send(settings(receiver.url(), "generic", on_success=False), summary(), failed=True)
    assert json.loads(receiver.one()["body"])["ok"] is False


# --- bounds --------------------------------------------------------------------------------------

@pytest.fixture
def own_redactor(monkeypatch):
    """log.redact() with only this test's secrets (the canary's and what it registers). The registry is
    process-wide and every key the suite makes in-process lands in it (thousands by the time this runs);
    redact() is linear in it, so the 2.8 MB summary below took 30 s in the full suite instead of 0.2 s."""
    monkeypatch.setattr(logsetup, "_secrets", set())
    monkeypatch.setattr(logsetup, "_key_windows", set())
    logsetup.register_secret(CANARY)


@pytest.mark.parametrize("fmt", notify.FORMATS)
def test_text_is_bounded(receiver, fmt, own_redactor):
    receiver.answer = b'{"errcode":0,"code":0}'
    s = summary(n=300, error="failed: " + "é" * 9000)
    notify.send(settings(receiver.url(), fmt), s, failed=True)
    body = receiver.one()["body"]
    doc = json.loads(body)
    text = {"generic": lambda d: d["text"], "dingtalk": lambda d: d["markdown"]["text"],
            "feishu": lambda d: d["content"]["text"], "wecom": lambda d: d["markdown"]["content"]}[fmt](doc)
    assert len(text.encode("utf-8")) <= (notify.MAX_WECOM_BYTES if fmt == "wecom" else notify.MAX_TEXT_BYTES)
    assert "truncated" in text
    if fmt != "generic":
        assert len(body) < 20000
    else:
        assert all(len(c["error"]["message"]) <= notify.MAX_FIELD_CHARS for c in doc["certificates"])


# --- failures are warnings, never exceptions, never the token ------------------------------------

def _warnings(caplog):
    return [r for r in caplog.records if r.name == "acme_aliyun.notify" and r.levelno == logging.WARNING]


def _assert_no_token(caplog):
    for r in caplog.records:
        msg = r.getMessage()
        assert TOKEN not in msg and "access_token" not in msg and "/hook/" not in msg, msg


def test_dead_webhook_is_a_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="acme_aliyun.notify")
    port = free_port()                                   # nothing listens there
    for fmt, path in (("dingtalk", "/robot/send?access_token=%s" % TOKEN),
                      ("feishu", "/open-apis/bot/v2/hook/%s" % TOKEN),
                      ("generic", "/hook/%s?token=%s" % (TOKEN, TOKEN))):
        started = time.monotonic()
        notify.send(settings("http://127.0.0.1:%d%s" % (port, path), fmt), summary(), failed=True)
        assert time.monotonic() - started < 5
    warnings = _warnings(caplog)
    assert len(warnings) == 3
    assert all("http://127.0.0.1:%d failed" % port in w.getMessage() for w in warnings)
    assert all("refused" in w.getMessage().lower() for w in warnings)
    _assert_no_token(caplog)


def test_http_error_and_robot_error_are_warnings(receiver, caplog):
    caplog.set_level(logging.DEBUG, logger="acme_aliyun.notify")
    receiver.status, receiver.answer = 500, b'{"error":"boom %s"}' % TOKEN.encode()
    notify.send(settings(receiver.url("/robot/send?access_token=%s" % TOKEN), "generic"), summary(), failed=True)
    receiver.status, receiver.answer = 200, b'{"errcode":310000,"errmsg":"sign not match"}'
    notify.send(settings(receiver.url("/robot/send?access_token=%s" % TOKEN), "dingtalk"), summary(), failed=True)
    receiver.answer = b'{"code":19021,"msg":"sign match fail or timestamp is not within one hour"}'
    notify.send(settings(receiver.url("/open-apis/bot/v2/hook/%s" % TOKEN), "feishu"), summary(), failed=True)
    receiver.status, receiver.answer = 302, b""
    notify.send(settings(receiver.url("/hook/%s" % TOKEN), "generic"), summary(), failed=True)
    messages = [w.getMessage() for w in _warnings(caplog)]
    assert len(messages) == 4, messages
    assert "HTTP 500" in messages[0]
    assert "310000" in messages[1] and "sign not match" in messages[1]
    assert "19021" in messages[2]
    assert "redirect" in messages[3]
    _assert_no_token(caplog)


def test_slow_webhook_times_out(receiver, caplog):
    caplog.set_level(logging.WARNING, logger="acme_aliyun.notify")
    receiver.delay = 2.0
    started = time.monotonic()
    notify.send(settings(receiver.url(), "generic", timeout=0.3), summary(), failed=True)
    assert time.monotonic() - started < 1.8
    assert len(_warnings(caplog)) == 1 and "timed out" in _warnings(caplog)[0].getMessage().lower()


def test_bad_input_never_raises(receiver, caplog):
    caplog.set_level(logging.WARNING, logger="acme_aliyun.notify")
    notify.send(settings(receiver.url(), "carrier-pigeon"), summary(), failed=True)
    assert receiver.requests.empty() and "carrier-pigeon" in _warnings(caplog)[0].getMessage()
    notify.send(settings(receiver.url(), "generic"), {"certificates": [None, 3, {"targets": "x"}],
                                                      "when": object()}, failed=True)
    assert "acme-aliyun: run FAILED" in json.loads(receiver.one()["body"])["text"]
    notify.send(settings(receiver.url(), "dingtalk"), None, failed=True)
    assert json.loads(receiver.one()["body"])["msgtype"] == "markdown"
    notify.send(settings("not a url at all", "generic"), summary(), failed=True)
    assert len(_warnings(caplog)) == 2


def test_build_request_is_offline_and_deterministic():
    s = settings("https://oapi.dingtalk.com/robot/send?access_token=%s" % TOKEN, "dingtalk")
    req = notify.build_request(s, summary(), True, now=1700000000.0, env={notify.DINGTALK_SECRET_ENV: "SECx"})
    q = parse_qs(urlsplit(req.url).query)
    assert q["timestamp"] == ["1700000000000"]
    # DingTalk's rule, computed here: base64(HmacSHA256(key=secret, msg="<ms timestamp>\n<secret>"))
    expected = base64.b64encode(hmac.new(b"SECx", b"1700000000000\nSECx", hashlib.sha256).digest()).decode()
    assert q["sign"] == [expected]
    # Feishu's rule: base64(HmacSHA256(key="<s timestamp>\n<secret>", msg=b""))
    feishu = base64.b64encode(hmac.new(b"1700000000\ns", b"", hashlib.sha256).digest()).decode()
    assert notify.feishu_sign("s", 1700000000.0) == {"timestamp": "1700000000", "sign": feishu}
