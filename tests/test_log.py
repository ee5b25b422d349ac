"""The redactor: secrets masked in every handler's output, tracebacks included."""

import io
import logging

from acme_aliyun import log as logsetup

SECRET = "canary-log-secret-Zr8Qw2Lm5Tx9"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"


def test_a_host_handler_sees_masked_records_and_tracebacks():
    """Function Compute installs its own handler on the root logger before calling us."""
    root = logging.getLogger()
    host_stream = io.StringIO()
    host = logging.StreamHandler(host_stream)
    host.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(host)
    ours = io.StringIO()
    try:
        logsetup.register_secret(SECRET)
        logsetup.setup(verbose=True, stream=ours)
        try:
            raise RuntimeError("upload failed: %r" % {"AccessKeySecret": SECRET, "SSLPri": KEY})
        except RuntimeError:
            logging.getLogger("acme_aliyun.test").exception("deploy of %s crashed", SECRET)
        logging.getLogger("acme_aliyun.test").warning("url /?AccessKeyId=LTAI1&Signature=abc%3D&SSLPri=x")
    finally:
        root.removeHandler(host)
        logsetup.setup()
    for text in (host_stream.getvalue(), ours.getvalue()):
        assert "Traceback" in text and "RuntimeError" in text
        assert SECRET not in text and "BEGIN PRIVATE KEY" not in text and "MIGHAgEAMBMG" not in text
        assert "Signature=abc" not in text and "[signed query redacted]" in text


def test_redact_covers_urlencoded_keys_and_short_values():
    logsetup.register_secret("abc")                        # too short to mask safely: ignored
    text = logsetup.redact("key=-----BEGIN%20EC%20PRIVATE%20KEY-----%0AMHcCAQEE&x=1 abc")
    assert "MHcCAQEE" not in text and text.endswith("abc")
