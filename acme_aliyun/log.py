"""Logging set-up and the secret redactor.

Every secret the tool learns (cloud AccessKeySecret, STS token, PEM private keys)
is registered here; a filter on the root handler replaces it wherever it would
appear in a log line, and redact() does the same for text we print or send.
"""

import logging
import re
import sys
import threading
from typing import Optional, Set, TextIO, Union
from urllib.parse import quote, unquote

_secrets: Set[str] = set()
_key_windows: Set[str] = set()        # every KEY_WINDOW-character piece of every registered key body
_lock = threading.Lock()
KEY_WINDOW = 20
_KEY_HEAD = 36              # the ASN.1 header a key body starts with: the same for every key of a type
_PEM_KEY = re.compile(
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.*?-----END (?:[A-Z]+ )?PRIVATE KEY-----", re.S
)
# A key whose END line was cut off (an error message that echoes the first characters of a
# parameter): everything from BEGIN to the end of the text goes.
_PEM_KEY_TO_END = re.compile(r"-----BEGIN[ +](?:[A-Z]+[ +])?PRIVATE[ +]KEY-----.*", re.S)
# Runs of base64 text, raw, URL-encoded or JSON-escaped, that may hold a piece of a key body.
_B64_RUN = re.compile(r"(?:[A-Za-z0-9+/=]|%2[BbFf]|%3[Dd]|%0[AaDd]|\\n)+")
# A signed Alibaba Cloud RPC URL carries the key id, and for certificate uploads
# the private key, in its query string: never let one through.
_SIGNED_QUERY = re.compile(r"(/?\?[^\s'\"]*(?:Signature|AccessKeyId|SSLPri|CertificatePrivateKey)=[^\s'\"]*)")
_URLENC_KEY = re.compile(r"-*BEGIN(?:%20|\+)[A-Z%20+]*PRIVATE(?:%20|\+)KEY-*[^\s&'\"]*")


def register_secret(value: Optional[str]) -> None:
    """Remember a secret so that it is masked in every log line and printed message."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def register_key(pem: Union[str, bytes, None]) -> None:
    """Remember a PEM private key: each base64 body line, the joined body, their URL-encoded forms,
    and every piece of the body long enough to identify it, so that even a fragment is masked."""
    if isinstance(pem, (bytes, bytearray)):
        pem = pem.decode("ascii", "replace")
    if not pem or "PRIVATE KEY" not in pem:
        return
    lines = [ln.strip() for ln in pem.strip().splitlines() if ln.strip() and not ln.startswith("-----")]
    body = "".join(lines)
    for value in lines + [body]:
        if len(value) >= 16:
            register_secret(value)
            register_secret(quote(value, safe=""))
    windows = {body[i:i + KEY_WINDOW] for i in range(_KEY_HEAD, len(body) - KEY_WINDOW + 1)}
    with _lock:
        _key_windows.update(windows)


def _mask_key_run(match):
    run = match.group(0)
    if len(run) < KEY_WINDOW:
        return run
    flat = unquote(run).replace("\\n", "")
    flat = "".join(flat.split())
    with _lock:
        windows = _key_windows
        hit = any(flat[i:i + KEY_WINDOW] in windows for i in range(len(flat) - KEY_WINDOW + 1))
    return "[private key redacted]" if hit else run


def redact(text: str) -> str:
    """text with every registered secret, private key (whole, cut or a fragment) and signed query masked."""
    if not text:
        return text
    text = str(text)
    text = _PEM_KEY.sub("[private key redacted]", text)
    text = _PEM_KEY_TO_END.sub("[private key redacted]", text)
    text = _URLENC_KEY.sub("[private key redacted]", text)
    text = _SIGNED_QUERY.sub("?[signed query redacted]", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
        any_keys = bool(_key_windows)
    for s in secrets:
        if s in text:
            text = text.replace(s, "[redacted]")
    if any_keys:
        text = _B64_RUN.sub(_mask_key_run, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in the record itself (message, arguments, traceback), so every handler that
    sees it afterwards — ours, Function Compute's, a test's — gets the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not leak its arguments either
            msg = str(record.msg)
        record.msg, record.args = redact(msg), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


class RedactingFormatter(logging.Formatter):
    """Formats a record, traceback and exception text included, then masks every secret in it."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            return redact(super().format(record))
        except Exception:  # a bad format string must not leak its arguments either
            return redact(str(record.msg))


def setup(verbose: bool = False, quiet: bool = False, stream: Optional[TextIO] = None) -> logging.Logger:
    """Plain one-line logs on stderr; level from --verbose / --quiet."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_acme_aliyun", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, "_acme_aliyun", True)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s" if verbose else "%(message)s"))
    root.addHandler(handler)
    for h in root.handlers:          # also the handlers a host installed (Function Compute's runtime)
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
    root.setLevel(level)
    silence_sdk()
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return root


def silence_sdk() -> None:
    """The Alibaba Cloud core SDK logs signed URLs (key id, private keys) at ERROR and adds its
    own handlers: silence it entirely, we report its errors ourselves."""
    for name in ("aliyunsdkcore", "aliyunsdkcore.client", "aliyunsdkcore.http.http_response"):
        sdk_logger = logging.getLogger(name)
        sdk_logger.handlers[:] = []
        sdk_logger.propagate = False
        sdk_logger.disabled = True


def mask_key_id(key_id: Optional[str]) -> str:
    """Enough of an AccessKeyId to recognise it in a message, never the whole of it."""
    key_id = key_id or ""
    if len(key_id) >= 12:
        return "%s…%s(masked)" % (key_id[:4], key_id[-3:])
    return "%s…(masked)" % key_id[:2]
