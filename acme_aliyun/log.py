"""Logging set-up and the secret redactor.

Every secret the tool learns (cloud AccessKeySecret, STS token, PEM private keys)
is registered here; a filter on the root handler replaces it wherever it would
appear in a log line, and redact() does the same for text we print or send.
"""

import logging
import re
import sys
import threading

_secrets = set()
_lock = threading.Lock()
_PEM_KEY = re.compile(
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----.*?-----END (?:[A-Z]+ )?PRIVATE KEY-----", re.S
)
# A signed Alibaba Cloud RPC URL carries the key id, and for certificate uploads
# the private key, in its query string: never let one through.
_SIGNED_QUERY = re.compile(r"(/?\?[^\s'\"]*(?:Signature|AccessKeyId|SSLPri|CertificatePrivateKey)=[^\s'\"]*)")
_URLENC_KEY = re.compile(r"-----BEGIN%20[A-Z%20]*PRIVATE%20KEY-----[^\s&'\"]*")


def register_secret(value):
    """Remember a secret so that it is masked in every log line and printed message."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text):
    if not text:
        return text
    text = str(text)
    text = _PEM_KEY.sub("[private key redacted]", text)
    text = _URLENC_KEY.sub("[private key redacted]", text)
    text = _SIGNED_QUERY.sub("?[signed query redacted]", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, "[redacted]")
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in the record itself (message, arguments, traceback), so every handler that
    sees it afterwards — ours, Function Compute's, a test's — gets the masked text."""

    def filter(self, record):
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

    def format(self, record):
        try:
            return redact(super().format(record))
        except Exception:  # a bad format string must not leak its arguments either
            return redact(str(record.msg))


def setup(verbose=False, quiet=False, stream=None):
    """Plain one-line logs on stderr; level from --verbose / --quiet."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_acme_aliyun", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._acme_aliyun = True
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s" if verbose else "%(message)s"))
    root.addHandler(handler)
    for h in root.handlers:          # also the handlers a host installed (Function Compute's runtime)
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
    root.setLevel(level)
    silence_sdk()
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return root


def silence_sdk():
    """The Alibaba Cloud core SDK logs signed URLs (key id, private keys) at ERROR and adds its
    own handlers: silence it entirely, we report its errors ourselves."""
    for name in ("aliyunsdkcore", "aliyunsdkcore.client", "aliyunsdkcore.http.http_response"):
        sdk_logger = logging.getLogger(name)
        sdk_logger.handlers[:] = []
        sdk_logger.propagate = False
        sdk_logger.disabled = True
