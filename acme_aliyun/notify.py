"""Webhook notifications after a run: generic JSON, DingTalk robot or Feishu robot.

send(settings, summary, failed) posts one message when the run failed, or after a
successful run when [notify] OnSuccess = yes. It never raises: a notification that
cannot be delivered is a warning in the log, and that warning names only the
webhook's scheme and host (robot tokens live in the query or the path).

Every string that leaves through a webhook goes through log.redact() first (cloud
secrets, STS tokens and PEM private keys are masked), then is cut to size: DingTalk
refuses messages over about 20 000 bytes and Feishu bodies over 20 KB.

Formats ([notify] Format):
  generic   POST the run summary as JSON, plus "text": a short human summary
  dingtalk  {"msgtype": "markdown", "markdown": {"title", "text"}}; when the URL has
            no sign= and ACME_ALIYUN_DINGTALK_SECRET is set ("加签" secret, SEC...),
            timestamp= (ms) and sign= are added to the query:
            sign = base64(HmacSHA256(key=secret, msg=timestamp + "\\n" + secret))
  feishu    {"msg_type": "text", "content": {"text"}}; when ACME_ALIYUN_FEISHU_SECRET
            is set, "timestamp" (s) and "sign" go in the body:
            sign = base64(HmacSHA256(key=timestamp + "\\n" + secret, msg=""))
The text always contains "acme-aliyun", so a robot whose security setting is a
custom keyword can use that keyword.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Dict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from acme_aliyun import deadline
from acme_aliyun import log as logsetup

log = logging.getLogger(__name__)

DINGTALK_SECRET_ENV = "ACME_ALIYUN_DINGTALK_SECRET"
FEISHU_SECRET_ENV = "ACME_ALIYUN_FEISHU_SECRET"
FORMATS = ("generic", "dingtalk", "feishu")
MAX_TEXT_BYTES = 16000        # the robots' limit is ~20 000 bytes for the whole message
MAX_FIELD_CHARS = 4000        # any one string of the summary (an error text) in the generic body
MAX_CERT_LINES = 60           # certificates listed in the text; the rest are counted
_TRUNCATED = "\n… (truncated)"
# A private key whose END line was cut off (by a bounded error text, say) escapes
# log.redact()'s BEGIN…END pattern: mask from BEGIN to the end of the string.
_PARTIAL_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.*", re.S)
_JSON = "application/json; charset=utf-8"
MAX_ANSWER = 64 * 1024        # bytes of a webhook's answer read at most (Function Compute has 256 MB)


@dataclass
class Request:
    url: str
    headers: Dict[str, str]
    body: bytes


# --- public API ---------------------------------------------------------------------------

def send(settings, summary, failed) -> None:
    """Post the notification for a run, when one is due. Never raises."""
    try:
        if settings is None or not settings.webhook:
            return
        if not failed and not settings.on_success:
            return
        _deliver(settings, summary, failed)
    except Exception as e:      # a notification must never turn a good run into a crash
        log.warning("notification not sent: %s: %s", type(e).__name__,
                    _scrub(str(e), getattr(settings, "webhook", "") or ""))


def build_request(settings, summary, failed, now=None, env=None) -> Request:
    """The URL, headers and body that send() would post (no network)."""
    env = os.environ if env is None else env
    now = time.time() if now is None else now
    fmt = (settings.format or "generic").lower()
    if fmt not in FORMATS:
        raise ValueError("unknown notification format %r (use %s)" % (fmt, ", ".join(FORMATS)))
    clean = _clean(summary if isinstance(summary, dict) else {"summary": summary})
    url = settings.webhook
    headers = {"Content-Type": _JSON, "User-Agent": "acme-aliyun-notify"}
    if fmt == "generic":
        doc = dict(clean)
        doc.setdefault("ok", not failed)
        doc["text"] = _bound(render_text(clean, failed), MAX_TEXT_BYTES)
    elif fmt == "dingtalk":
        title = _bound(_title(clean, failed), 200)
        text = _bound(render_text(clean, failed, markdown=True), MAX_TEXT_BYTES)
        doc = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        secret = env.get(DINGTALK_SECRET_ENV)
        if secret and not _has_query_param(url, "sign"):
            logsetup.register_secret(secret)
            url = _add_query(url, dingtalk_sign(secret, now))
    else:
        doc = {"msg_type": "text", "content": {"text": _bound(render_text(clean, failed), MAX_TEXT_BYTES)}}
        secret = env.get(FEISHU_SECRET_ENV)
        if secret:
            logsetup.register_secret(secret)
            doc.update(feishu_sign(secret, now))
    body = json.dumps(doc, ensure_ascii=False, sort_keys=fmt == "generic").encode("utf-8")
    return Request(url, headers, body)


def dingtalk_sign(secret, now=None):
    """{"timestamp": ms, "sign": base64 HmacSHA256(secret, "ts\\nsecret")} (urlencode() quotes it)."""
    ts = str(int((time.time() if now is None else now) * 1000))
    digest = hmac.new(secret.encode("utf-8"), ("%s\n%s" % (ts, secret)).encode("utf-8"), hashlib.sha256).digest()
    return {"timestamp": ts, "sign": base64.b64encode(digest).decode("ascii")}


def feishu_sign(secret, now=None):
    """{"timestamp": s, "sign": base64 HmacSHA256(key="ts\\nsecret", msg=b"")}."""
    ts = str(int(time.time() if now is None else now))
    digest = hmac.new(("%s\n%s" % (ts, secret)).encode("utf-8"), b"", hashlib.sha256).digest()
    return {"timestamp": ts, "sign": base64.b64encode(digest).decode("ascii")}


def render_text(summary, failed, markdown=False):
    """A short human summary of a run report; every piece of it is redacted."""
    summary = _clean(summary) if isinstance(summary, dict) else {}
    certs = [c for c in (summary.get("certificates") or []) if isinstance(c, dict)]
    lines = [("### " if markdown else "") + _title(summary, failed)]
    if markdown:
        lines.append("")
    bullet, sub = ("- ", "    - ") if markdown else ("- ", "    ")
    for c in certs[:MAX_CERT_LINES]:
        name = str(c.get("name") or "?")
        action = str(c.get("action") or "?")
        line = "%s%s: %s" % (bullet, "**%s**" % name if markdown else name, action)
        if c.get("reason"):
            line += " (%s)" % _one_line(c["reason"])
        if c.get("next_renewal"):
            line += "; next renewal %s" % str(c["next_renewal"])[:16].replace("T", " ")
        lines.append(line)
        if c.get("error"):
            lines.append("%serror: %s" % (sub, _one_line(c["error"])))
        if c.get("copy_error"):
            lines.append("%scopy failed: %s" % (sub, _one_line(c["copy_error"])))
        targets = [t for t in (c.get("targets") or []) if isinstance(t, dict)]
        good = [t for t in targets if t.get("status") in ("deployed", "unchanged", "planned")]
        for t in targets:
            if t.get("status") in ("deployed", "unchanged", "planned"):
                continue
            extra = []
            if t.get("error_code"):
                extra.append(str(t["error_code"]))
            if t.get("request_id"):
                extra.append("request %s" % t["request_id"])
            lines.append("%s%s %s: %s%s%s" % (sub, t.get("kind") or "?", t.get("target") or "?",
                                              t.get("status") or "?",
                                              " - %s" % _one_line(t["reason"]) if t.get("reason") else "",
                                              " [%s]" % ", ".join(extra) if extra else ""))
        if good:
            counts = {}
            for t in good:
                counts[t["status"]] = counts.get(t["status"], 0) + 1
            lines.append("%stargets: %s" % (sub, ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items()))))
    if len(certs) > MAX_CERT_LINES:
        lines.append("%s… and %d more certificates" % (bullet, len(certs) - MAX_CERT_LINES))
    if not certs and summary.get("error"):
        lines.append("%serror: %s" % (bullet, _one_line(summary["error"])))
    return _redact("\n".join(lines))


# --- delivery ------------------------------------------------------------------------------

def _post(req, timeout):
    """(HTTP status, at most MAX_ANSWER bytes of the answer): the answer is streamed, never read whole."""
    import requests
    with requests.post(req.url, data=req.body, headers=req.headers, timeout=(min(timeout, 10.0), timeout),
                       allow_redirects=False, stream=True) as resp:
        body = b""
        for chunk in resp.iter_content(8192):
            body += chunk
            if len(body) >= MAX_ANSWER:
                body = body[:MAX_ANSWER]
                break
        return resp.status_code, body


def _deliver(settings, summary, failed):
    import requests
    req = build_request(settings, summary, failed)
    where = _label(settings.webhook)
    timeout = float(settings.timeout or 10.0)
    try:     # the whole exchange within twice the timeout: a trickling answer cannot hold the run
        status, body = deadline.run(lambda: _post(req, timeout), 2 * timeout, "the notification to %s" % where)
    except (requests.RequestException, deadline.DeadlineExceeded) as e:
        log.warning("notification to %s failed: %s", where, _scrub(_error_text(e), req.url, settings.webhook))
        return
    problem = _response_problem(settings.format, status, body)
    if problem:
        log.warning("notification to %s failed: %s", where, _scrub(problem, req.url, settings.webhook))
    else:
        log.debug("notification sent to %s (%s)", where, settings.format)


def _response_problem(fmt, status, body):
    """None when the webhook took the message (status, the first bytes of its answer); else a short description."""
    if 300 <= status < 400:
        return "HTTP %d redirect (not followed; set Webhook to the final address)" % status
    text = _short(body.decode("utf-8", "replace"))
    if status >= 400:
        return "HTTP %d %s" % (status, text)
    if fmt in ("dingtalk", "feishu"):
        try:
            doc = json.loads(body)
        except ValueError:
            return None if not body else "HTTP %d, not a JSON answer: %s" % (status, text)
        if not isinstance(doc, dict):
            return None
        if fmt == "dingtalk":
            code, msg = doc.get("errcode", 0), doc.get("errmsg")
        else:   # current API: code/msg; older robots: StatusCode/StatusMessage
            code = doc.get("code", doc.get("StatusCode", 0))
            msg = doc.get("msg", doc.get("StatusMessage"))
        if code not in (0, "0", None):
            return "robot answered code %s: %s" % (code, _short(str(msg)))
    return None


def _error_text(e):
    # requests wraps urllib3 wraps socket errors; the innermost reason is the useful part
    reason = e
    for _ in range(4):
        inner = getattr(reason, "reason", None) or (reason.args[0] if getattr(reason, "args", None) else None)
        if inner is None or inner is reason or isinstance(inner, str):
            break
        reason = inner
    return "%s: %s" % (type(e).__name__, reason)


# --- redaction and bounds -----------------------------------------------------------------

def _redact(text):
    text = logsetup.redact(text) if text else text
    if text and "PRIVATE KEY-----" in text:
        text = _PARTIAL_KEY.sub("[private key redacted]", text)
    return text


def _clean(obj, depth=0):
    """A JSON-able copy of obj with every string redacted and bounded."""
    if depth > 20:
        return "…"
    if isinstance(obj, str):
        return _bound_chars(_redact(obj), MAX_FIELD_CHARS)
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if isinstance(obj, dict):
        return {_bound_chars(_redact(str(k)), 200): _clean(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_clean(v, depth + 1) for v in obj]
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return _bound_chars(_redact(str(obj)), MAX_FIELD_CHARS)


def _bound_chars(text, limit):
    return text if len(text) <= limit else text[:limit - len(_TRUNCATED)] + _TRUNCATED


def _bound(text, max_bytes):
    """text cut to at most max_bytes of UTF-8, on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    keep = max_bytes - len(_TRUNCATED.encode("utf-8"))
    return data[:keep].decode("utf-8", errors="ignore") + _TRUNCATED


def _one_line(value, limit=500):
    return _bound_chars(" ".join(str(value).split()), limit)


def _short(text, limit=300):
    return _one_line(_redact(text or ""), limit)


def _title(summary, failed):
    host = summary.get("host") or socket.gethostname()
    state = "FAILED" if failed else "OK"
    dry = " (dry run)" if summary.get("dry_run") else ""
    return "acme-aliyun: run %s on %s%s" % (state, host, dry)


# --- webhook URLs ---------------------------------------------------------------------------

def is_loopback_host(host) -> bool:
    """localhost or a loopback address: a plain http webhook there never crosses the network."""
    if (host or "").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def masked_url(url: str) -> str:
    """A webhook URL as a message may show it: scheme, host, port and path; the query masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the webhook"
    query = "?[redacted]" if parts.query else ""
    return "%s://%s%s%s" % (parts.scheme, (parts.netloc.rsplit("@", 1)[-1]), parts.path, query)


def register_url_secrets(url: str) -> None:
    """Register the query of a webhook URL (robot tokens), its values and its password as secrets,
    so that no message anywhere shows them."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.query:
        logsetup.register_secret(parts.query)
        logsetup.register_secret(urlencode(parse_qsl(parts.query, keep_blank_values=True)))
        for _, value in parse_qsl(parts.query, keep_blank_values=True):
            logsetup.register_secret(value)
    if parts.password:
        logsetup.register_secret(parts.password)


def _has_query_param(url, name):
    return any(k == name for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _add_query(url, params):
    parts = urlsplit(url)
    extra = urlencode(params)
    query = "%s&%s" % (parts.query, extra) if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _label(url):
    """What a log line may say about a webhook: scheme://host[:port], nothing else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        if ":" in host:
            host = "[%s]" % host
        port = ":%d" % parts.port if parts.port else ""
        return "%s://%s%s" % (parts.scheme or "http", host, port)
    except ValueError:
        return "the webhook"


def _scrub(text, *urls):
    """text with the webhook's path, query, credentials and tokens masked."""
    text = _redact(text or "")
    pieces = set()
    for url in urls:
        if not url:
            continue
        pieces.add(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.query:
            pieces.add(parts.query)
            pieces.add("%s?%s" % (parts.path, parts.query))
            pieces.update(v for _, v in parse_qsl(parts.query, keep_blank_values=True) if len(v) >= 4)
        if parts.password:
            pieces.add(parts.password)
        if len(parts.path) > 1:
            pieces.add(parts.path)
            pieces.update(seg for seg in parts.path.split("/") if len(seg) >= 16)
    for piece in sorted(pieces, key=len, reverse=True):
        if piece and piece in text:
            text = text.replace(piece, "[redacted]")
    return text
