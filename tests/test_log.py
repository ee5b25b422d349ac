"""The redactor: secrets masked in every handler's output, tracebacks included."""

import io
import logging
import random
import string
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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


# --- what the redactor masks, and what it leaves alone ------------------------------------------

MASK = "[private key redacted]"


def _fresh_pem():
    """A P-256 key in PKCS#8 PEM that nothing has registered yet (pki.key_to_pem would register it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _lines(pem):
    return pem.strip().splitlines()[1:-1]


def _fresh(n):
    """n letters no earlier test (nor an earlier run in this process) registered: the redactor's
    registry is process-wide."""
    return "".join(random.choice(string.ascii_letters) for _ in range(n))


def test_secrets_of_six_characters_are_masked_shorter_ones_are_not():
    six, five = _fresh(6), _fresh(5)
    logsetup.register_secret(six)
    logsetup.register_secret(five)
    assert logsetup.redact("a %s b %s" % (six, five)) == "a [redacted] b %s" % five


def test_the_longer_of_two_overlapping_secrets_is_masked_whole():
    """'azzzzzzzq' holds 'zzzzzzzq': masking the shorter one first would leave an 'a' of the longer."""
    logsetup.register_secret("zzzzzzzq")
    logsetup.register_secret("azzzzzzzq")
    assert logsetup.redact("[azzzzzzzq]") == "[[redacted]]"


def test_a_key_given_as_bytes_with_a_stray_byte_is_registered():
    pem = _fresh_pem()
    logsetup.register_key(pem.encode("ascii") + b"\xff\n")     # not ASCII: must not raise
    line = _lines(pem)[1]
    assert logsetup.redact("echo %s end" % line) == "echo [redacted] end"


def test_only_private_keys_are_registered_and_the_armour_is_no_secret():
    body = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2"
    logsetup.register_key("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % body)
    assert logsetup.redact("cert " + body) == "cert " + body
    pem = _fresh_pem()
    logsetup.register_key(pem)
    assert logsetup.redact("x -----END PRIVATE KEY----- y") == "x -----END PRIVATE KEY----- y"
    assert logsetup.redact("line " + _lines(pem)[0]) == "line [redacted]"


def test_a_short_last_body_line_is_masked_raw_and_url_encoded():
    """A body line of 16 characters is a secret of its own, raw and fully percent-encoded."""
    tail = _fresh(4) + "/" + _fresh(4) + "+" + _fresh(6)
    logsetup.register_key("-----BEGIN RSA PRIVATE KEY-----\n%s\n%s\n-----END RSA PRIVATE KEY-----\n"
                          % ("Qk" * 32, tail))
    assert logsetup.redact("[%s]" % tail) == "[[redacted]]"
    assert logsetup.redact("[%s]" % quote(tail, safe="")) == "[[redacted]]"


@pytest.fixture()
def key_body():
    pem = _fresh_pem()
    logsetup.register_key(pem)
    return _lines(pem)


def test_fragments_across_a_line_break_are_masked_in_every_encoding(key_body):
    """15 characters either side of a line break: no 20-character piece of one line is in it."""
    left, right = key_body[0][-15:], key_body[1][:15]
    for text in (left + right, left + "\\n" + right, left + "%0A" + right):
        assert logsetup.redact("SSLPri: " + text + " rest") == "SSLPri: %s rest" % MASK, text


def test_twenty_characters_of_the_key_are_enough_anywhere_in_the_body(key_body):
    body = "".join(key_body)
    for piece in (body[-20:], body[60:80]):
        assert logsetup.redact("x %s y" % piece) == "x %s y" % MASK
    assert logsetup.redact("x %s y" % body[-19:]) == "x %s y" % body[-19:]


def test_the_header_every_key_of_a_type_shares_is_not_masked(key_body):
    other_head = "".join(_lines(_fresh_pem()))[:36]       # the ASN.1 header, the same for every P-256 key
    assert logsetup.redact("public %s" % other_head) == "public %s" % other_head


def test_each_kind_of_key_text_gets_the_exact_mark():
    pem = _fresh_pem()
    assert logsetup.redact("a " + pem + " b") == "a %s\n b" % MASK
    assert logsetup.redact("cut " + pem[:90]) == "cut " + MASK
    assert logsetup.redact("k=-----BEGIN%20PRIVATE%20KEY-----%0AMIGH&x=1") == "k=%s&x=1" % MASK
    assert logsetup.redact("GET /?AccessKeyId=LTAI5&Signature=x done") == "GET ?[signed query redacted] done"


def _capture(**kwargs):
    stream = io.StringIO()
    logsetup.setup(stream=stream, **kwargs)
    return stream


def test_levels_and_line_format_follow_verbose_and_quiet():
    lg = logging.getLogger("acme_aliyun.test.levels")
    try:
        out = _capture()
        lg.debug("d1")
        lg.info("i1")
        assert out.getvalue() == "i1\n"
        logging.getLogger("urllib3").setLevel(logging.NOTSET)      # as in a fresh process
        out = _capture(verbose=True)
        lg.debug("d2")
        logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection")
        assert out.getvalue() == "DEBUG d2\n"
        out = _capture(quiet=True)
        lg.info("i3")
        lg.warning("w3")
        assert out.getvalue() == "w3\n"
    finally:
        logsetup.setup()


def test_a_record_whose_arguments_do_not_fit_is_still_masked_and_traceback_kept():
    logsetup.register_secret(SECRET)
    lg = logging.getLogger("acme_aliyun.test.badfmt")
    try:
        out = _capture()
        lg.warning("bad %d format " + SECRET, "not-a-number")
        try:
            raise ValueError("boom")
        except ValueError:
            lg.exception("failed")
        assert out.getvalue().startswith("bad %d format [redacted]\nfailed\nTraceback")
        assert "ValueError: boom" in out.getvalue()
    finally:
        logsetup.setup()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "oops %d " + SECRET, ("nan",), None)
    assert logsetup.RedactingFormatter("%(message)s").format(record) == "oops %d [redacted]"


def test_stack_info_is_kept_and_masked():
    logsetup.register_secret(SECRET)
    lg = logging.getLogger("acme_aliyun.test.stack")
    try:
        out = _capture()
        lg.warning("here", stack_info=True)  # canary-log-secret-Zr8Qw2Lm5Tx9
    finally:
        logsetup.setup()
    text = out.getvalue()
    assert "Stack (most recent call last)" in text and "# [redacted]" in text and SECRET not in text


def test_the_cloud_sdk_loggers_stay_silent_even_with_handlers_of_their_own():
    """The SDK adds a stderr handler when http_response is imported, possibly after our setup()."""
    sink = io.StringIO()
    names = ("aliyunsdkcore", "aliyunsdkcore.client", "aliyunsdkcore.http.http_response")
    added = []
    logging.disable(logging.NOTSET)
    # As in a fresh process, whatever ran before. That includes the handlers on these loggers: pytest
    # attaches its capture handlers to every logger that does not propagate when a test starts (the
    # SDK loggers, if acme_aliyun.cloud.sdk silenced them on import before the session began, as in
    # mutmut's fork server); setup() then puts the redacting filter on those same handler objects
    # (they are root handlers too), and they would mask the record before our sink sees it.
    held = {name: list(logging.getLogger(name).handlers) for name in names}
    for name in names:
        sdk_logger = logging.getLogger(name)
        sdk_logger.handlers[:] = []
        sdk_logger.disabled, sdk_logger.propagate = False, True
        sdk_logger.setLevel(logging.NOTSET)
    try:
        out = _capture(verbose=True)
        for name in names:
            handler = logging.StreamHandler(sink)
            logging.getLogger(name).addHandler(handler)
            added.append((name, handler))
            logging.getLogger(name).error("GET /?Signature=zz from %s", name)
        logging.getLogger("aliyunsdkcore.endpoint").error("from a child logger")
    finally:
        for name, handler in added:
            logging.getLogger(name).removeHandler(handler)
        logsetup.setup()
        for name in names:
            logging.getLogger(name).handlers[:] = held[name]
    assert "Signature" not in sink.getvalue() and out.getvalue() == ""


def test_key_ids_are_shortened():
    assert logsetup.mask_key_id("LTAI5tAbCdEf") == "LTAI…dEf(masked)"
    assert logsetup.mask_key_id("LTAI5tAbCdE") == "LT…(masked)"
    assert logsetup.mask_key_id(None) == "…(masked)"
