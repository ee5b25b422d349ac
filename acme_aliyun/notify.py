"""Notifications after a run: generic JSON, DingTalk, Feishu or WeCom robot, and email.

send(settings, summary, failed) posts one message when the run failed, or after a
successful run when [notify] OnSuccess = yes: to the webhook when one is set, by
email (notify_email, SMTP with STARTTLS) when SMTP is set. It never raises: a
notification that cannot be delivered is a warning in the log, and that warning
names only the webhook's scheme and host. The token of every webhook URL (query
values, long path segments) is registered as a secret, so log.redact() masks it in
every message; mask_webhook_url() is the one place that says what a token is.
[notify] Language = zh-CN gives the fixed words in Chinese (notify_i18n).

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
  wecom     WeCom (企业微信) group robot, .../cgi-bin/webhook/send?key=KEY:
            {"msgtype": "markdown", "markdown": {"content"}}, content at most 4096 bytes
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
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from acme_aliyun import deadline
from acme_aliyun import log as logsetup
from acme_aliyun.notify_i18n import Translator, translator
from acme_aliyun.report import CertOutcome, ReportLike, RunReport, TargetResult

if TYPE_CHECKING:
    from acme_aliyun.config import NotifySettings

log = logging.getLogger(__name__)

DINGTALK_SECRET_ENV = "ACME_ALIYUN_DINGTALK_SECRET"
FEISHU_SECRET_ENV = "ACME_ALIYUN_FEISHU_SECRET"
FORMATS = ("generic", "dingtalk", "feishu", "wecom")
MAX_TEXT_BYTES = 16000        # the robots' limit is ~20 000 bytes for the whole message
MAX_WECOM_BYTES = 4000        # WeCom: markdown content at most 4096 bytes
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

def send(settings: Optional["NotifySettings"], summary: ReportLike, failed: bool) -> None:
    """Post the notification for a run, when one is due. Never raises."""
    if settings is None or (not failed and not settings.on_success):
        return
    if settings.webhook:
        try:
            register_webhook_secrets(settings.webhook)
            _deliver(settings, summary, failed)
        except Exception as e:      # a notification must never turn a good run into a crash
            log.warning("notification not sent: %s: %s", type(e).__name__,
                        _scrub(str(e), getattr(settings, "webhook", "") or ""))
    if getattr(settings, "smtp", None):
        _send_email(settings, summary, failed)


def _send_email(settings, summary, failed):
    from acme_aliyun import notify_email
    try:
        report = as_report(summary)
        subject = _title(report, failed, translator(settings.language))
        body = render_text(report, failed, language=settings.language)
        notify_email.send_email(settings, subject, body, os.environ)
        log.debug("notification mailed through %s", settings.smtp)
    except Exception as e:      # EmailError says what went wrong; anything else is a bug, still a warning
        log.warning("email notification not sent: %s", _redact(str(e)))


def build_request(settings: "NotifySettings", summary: ReportLike, failed: bool, now: Optional[float] = None,
                  env: Optional[Mapping[str, str]] = None) -> Request:
    """The URL, headers and body that send() would post (no network)."""
    env = os.environ if env is None else env
    now = time.time() if now is None else now
    fmt = (settings.format or "generic").lower()
    if fmt not in FORMATS:
        raise ValueError("unknown notification format %r (use %s)" % (fmt, ", ".join(FORMATS)))
    clean = _summary_doc(summary)
    report = RunReport.from_dict(clean)
    url = settings.webhook or ""
    register_webhook_secrets(url)
    language = getattr(settings, "language", "en")
    headers = {"Content-Type": _JSON, "User-Agent": "acme-aliyun-notify"}
    if fmt == "generic":
        doc = dict(clean)
        doc.setdefault("ok", not failed)
        doc["text"] = _bound(render_text(report, failed, language=language), MAX_TEXT_BYTES)
    elif fmt == "wecom":
        text = _bound(render_text(report, failed, markdown=True, language=language), MAX_WECOM_BYTES)
        doc = {"msgtype": "markdown", "markdown": {"content": text}}
    elif fmt == "dingtalk":
        title = _bound(_title(report, failed, translator(language)), 200)
        text = _bound(render_text(report, failed, markdown=True, language=language), MAX_TEXT_BYTES)
        doc = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        secret = env.get(DINGTALK_SECRET_ENV)
        if secret and not _has_query_param(url, "sign"):
            logsetup.register_secret(secret)
            url = _add_query(url, dingtalk_sign(secret, now))
    else:
        doc = {"msg_type": "text", "content": {"text": _bound(render_text(report, failed, language=language),
                                                               MAX_TEXT_BYTES)}}
        secret = env.get(FEISHU_SECRET_ENV)
        if secret:
            logsetup.register_secret(secret)
            doc.update(feishu_sign(secret, now))
    body = json.dumps(doc, ensure_ascii=False, sort_keys=fmt == "generic").encode("utf-8")
    return Request(url, headers, body)


def dingtalk_sign(secret: str, now: Optional[float] = None) -> Dict[str, str]:
    """{"timestamp": ms, "sign": base64 HmacSHA256(secret, "ts\\nsecret")} (urlencode() quotes it)."""
    ts = str(int((time.time() if now is None else now) * 1000))
    digest = hmac.new(secret.encode("utf-8"), ("%s\n%s" % (ts, secret)).encode("utf-8"), hashlib.sha256).digest()
    return {"timestamp": ts, "sign": base64.b64encode(digest).decode("ascii")}


def feishu_sign(secret: str, now: Optional[float] = None) -> Dict[str, str]:
    """{"timestamp": s, "sign": base64 HmacSHA256(key="ts\\nsecret", msg=b"")}."""
    ts = str(int(time.time() if now is None else now))
    digest = hmac.new(("%s\n%s" % (ts, secret)).encode("utf-8"), b"", hashlib.sha256).digest()
    return {"timestamp": ts, "sign": base64.b64encode(digest).decode("ascii")}


def render_text(summary: ReportLike, failed: bool, markdown: bool = False, language: str = "en") -> str:
    """A short human summary of a run report; every piece of it is redacted."""
    tr = translator(language)
    report = as_report(summary)
    bullet, sub = ("- ", "    - ") if markdown else ("- ", "    ")
    lines = [("### " if markdown else "") + _title(report, failed, tr)] + ([""] if markdown else [])
    for o in report.outcomes[:MAX_CERT_LINES]:
        lines += _cert_lines(o, bullet, sub, markdown, tr)
    if len(report.outcomes) > MAX_CERT_LINES:
        lines.append(bullet + tr("… and %d more certificates") % (len(report.outcomes) - MAX_CERT_LINES))
    if not report.outcomes and report.error:
        lines.append("%s%s: %s" % (bullet, tr("error"), _one_line(report.error)))
    return _redact("\n".join(lines))


def as_report(summary: ReportLike) -> RunReport:
    """The typed report behind what send() was given (a RunReport, or its to_dict() shape), cleaned."""
    return RunReport.from_dict(_summary_doc(summary))


def _summary_doc(summary: ReportLike) -> Dict[str, Any]:
    """The JSON document of a summary, every string redacted and bounded."""
    doc = summary.to_dict() if isinstance(summary, RunReport) else summary
    return _clean(doc if isinstance(doc, dict) else {"summary": doc})


def _cert_lines(o: CertOutcome, bullet: str, sub: str, markdown: bool, tr: Translator) -> List[str]:
    """The certificate's line (action, reason, next renewal), its error lines, then its targets."""
    line = "%s%s: %s" % (bullet, "**%s**" % o.name if markdown else o.name, tr(str(o.action)))
    line += " (%s)" % _one_line(o.reason) if o.reason else ""
    line += "; %s %s" % (tr("next renewal"), o.next_renewal.strftime("%Y-%m-%d %H:%M")) if o.next_renewal else ""
    errors = [(tr("error"), o.error), (tr("copy failed"), o.copy_error)]
    return [line] + ["%s%s: %s" % (sub, what, _one_line(text)) for what, text in errors if text] + \
        _target_lines(o.targets, sub, tr)


def _target_lines(targets: List[TargetResult], sub: str, tr: Translator) -> List[str]:
    """One line per target that did not go well, then the counts of those that did."""
    lines = []
    for t in targets:
        if t.good:
            continue
        extra = [t.error_code] if t.error_code else []
        extra += ["%s %s" % (tr("request"), t.request_id)] if t.request_id else []
        lines.append("%s%s %s: %s%s%s" % (sub, t.kind, t.target, tr(str(t.status)),
                                          " - %s" % _one_line(t.reason) if t.reason else "",
                                          " [%s]" % ", ".join(extra) if extra else ""))
    counts = Counter(str(t.status) for t in targets if t.good)
    if counts:
        lines.append("%s%s: %s" % (sub, tr("targets"), ", ".join(
            "%d %s" % (n, tr(s)) for s, n in sorted(counts.items()))))
    return lines


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
    if fmt in ("dingtalk", "feishu", "wecom"):
        try:
            doc = json.loads(body)
        except ValueError:
            return None if not body else "HTTP %d, not a JSON answer: %s" % (status, text)
        if not isinstance(doc, dict):
            return None
        if fmt in ("dingtalk", "wecom"):
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


def _title(report: RunReport, failed: bool, tr: Translator = translator("en")) -> str:
    host = report.host or socket.gethostname()
    return tr("acme-aliyun: run %(state)s on %(host)s%(dry)s") % {
        "state": tr("FAILED" if failed else "OK"), "host": host,
        "dry": tr(" (dry run)") if report.dry_run else ""}


# --- webhook URLs ---------------------------------------------------------------------------

def webhook_tokens(url: Optional[str]) -> List[str]:
    """The parts of a webhook URL that are credentials: the whole query and each of its values, the
    password, and path segments of 16+ characters (Feishu /hook/<token>); the one definition of a
    webhook token."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return []
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    tokens = [v for _, v in pairs if len(v) >= 4]
    if parts.query:
        tokens += [parts.query, urlencode(pairs)]
    if parts.password:
        tokens.append(parts.password)
    tokens += [seg for seg in parts.path.split("/") if len(seg) >= 16]
    return tokens


def mask_webhook_url(url: Optional[str]) -> str:
    """The URL with each token replaced by '***', for messages: https://host/send?key=***"""
    masked = url or ""
    for token in sorted({t for t in webhook_tokens(url) if "=" not in t}, key=len, reverse=True):
        masked = masked.replace(token, "***")
    return masked


def register_webhook_secrets(url: Optional[str]) -> None:
    """Make log.redact() mask this webhook's tokens in every log line, printed message and body."""
    for token in webhook_tokens(url):
        logsetup.register_secret(token)


def is_loopback_host(host: Optional[str]) -> bool:
    """localhost or a loopback address: a plain http webhook there never crosses the network."""
    if (host or "").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


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
