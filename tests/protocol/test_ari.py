"""RFC 9773: certID, renewalInfo fetch and parse, renewal time choice, fallback schedule."""

import datetime
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acme_aliyun.protocol import ari

UTC = datetime.timezone.utc

# RFC 9773 Appendix A
RFC_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
"""
RFC_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
RFC_BODY = {
    "suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
    "explanationURL": "https://acme.example.com/docs/ari",
}
START = datetime.datetime(2025, 1, 2, 4, tzinfo=UTC)
END = datetime.datetime(2025, 1, 3, 4, tzinfo=UTC)
BEFORE = datetime.datetime(2025, 1, 1, tzinfo=UTC)


def make_cert(serial, aki=None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(datetime.datetime(2025, 1, 1)).not_valid_after(datetime.datetime(2025, 4, 1))
    )
    if aki is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_cert_id_of_the_rfc_example():
    assert ari.cert_id(x509.load_pem_x509_certificate(RFC_CERT)) == RFC_CERT_ID


def test_cert_id_built_from_aki_and_serial():
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert ari.cert_id(make_cert(0x87654321, aki)) == RFC_CERT_ID
    assert ari.cert_id(make_cert(0x7F6543, aki)).endswith(".f2VD")      # no 0x00 when the top bit is clear
    with pytest.raises(ari.AriError, match="Authority Key Identifier"):
        ari.cert_id(make_cert(1))


class _AriServer:
    """http.server on 127.0.0.1 answering GET /renewal-info/<certID> like RFC 9773's example."""

    def __init__(self, body=RFC_BODY, status=200, retry_after="21600"):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(("GET", self.path))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                outer.requests.append(("POST", self.path))
                self.send_error(405)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/renewal-info" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False
    yield s
    s.close()


def test_fetch_and_choose_inside_the_window(session):
    with _AriServer() as srv:
        info = ari.fetch_renewal_info(session, srv.url, RFC_CERT_ID, timeout=5, verify=True)
    assert srv.requests == [("GET", "/renewal-info/" + RFC_CERT_ID)]
    assert (info.start, info.end) == (START, END)
    assert info.explanation_url == "https://acme.example.com/docs/ari"
    assert info.retry_after_seconds == 21600
    rng = random.Random(7)
    draws = [ari.choose_renewal_time(info, rng, now=BEFORE) for _ in range(200)]
    assert all(START <= t <= END for t in draws)
    middle = START + (END - START) / 2
    assert any(t < middle for t in draws) and any(t > middle for t in draws)


def test_fetch_errors(session):
    with _AriServer(status=404, body={"type": "urn:ietf:params:acme:error:malformed", "detail": "no such cert"}) as srv:
        with pytest.raises(ari.AriError, match="HTTP 404: no such cert") as e:
            ari.fetch_renewal_info(session, srv.url + "/", RFC_CERT_ID, timeout=5, verify=True)
        assert e.value.temporary is False
        assert srv.requests == [("GET", "/renewal-info/" + RFC_CERT_ID)]      # no '//' for a trailing slash
    with _AriServer(status=503, body=b"busy") as srv:
        with pytest.raises(ari.AriError, match="HTTP 503") as e:
            ari.fetch_renewal_info(session, srv.url, RFC_CERT_ID, timeout=5, verify=True)
        assert e.value.temporary is True
    with _AriServer(body=b"[" * (ari.MAX_BODY + 10)) as srv:
        with pytest.raises(ari.AriError, match="larger than"):
            ari.fetch_renewal_info(session, srv.url, RFC_CERT_ID, timeout=5, verify=True)
    with _AriServer(body={"suggestedWindow": {"start": "2025-01-03T04:00:00Z", "end": "2025-01-02T04:00:00Z"}}) as srv:
        with pytest.raises(ari.AriError, match="not after start"):
            ari.fetch_renewal_info(session, srv.url, RFC_CERT_ID, timeout=5, verify=True)
    closed = _AriServer()
    closed.httpd.server_close()       # never served: nothing listens there any more
    with pytest.raises(ari.AriError, match="renewalInfo"):
        ari.fetch_renewal_info(session, closed.url, RFC_CERT_ID, timeout=5, verify=True)


@pytest.mark.parametrize("body", [
    b"not json",
    [],
    {},
    {"suggestedWindow": {"start": "2025-01-02T04:00:00Z"}},
    {"suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "tomorrow"}},
    {"suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-02T04:00:00Z"}},
    {"suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-02T05:00:00+02:00"}},
])
def test_invalid_windows_rejected(body):
    with pytest.raises(ari.AriError, match="invalid renewalInfo"):
        ari.parse_renewal_info(body, "21600", BEFORE)


def test_timestamps_with_fractions_and_offsets():
    info = ari.parse_renewal_info(
        {"suggestedWindow": {"start": "2025-01-02T06:00:00.123456789+02:00", "end": "2025-01-03T04:00:00.5z"}},
        None, BEFORE)
    assert info.start == START.replace(microsecond=123456)
    assert info.end == END.replace(microsecond=500000)
    assert info.explanation_url is None


@pytest.mark.parametrize("header,seconds", [
    (None, 6 * 3600),
    ("21600", 21600),
    ("0", 60),
    ("59", 60),
    ("86401", 86400),
    ("999999999", 86400),
    ("soon", 6 * 3600),
    ("Wed, 01 Jan 2025 02:00:00 GMT", 7200),       # an HTTP-date, two hours after BEFORE
    ("Tue, 31 Dec 2024 00:00:00 GMT", 60),
])
def test_retry_after_clamped(header, seconds):
    assert ari.parse_renewal_info(RFC_BODY, header, BEFORE).retry_after_seconds == seconds


def test_past_window_means_now():
    info = ari.parse_renewal_info(RFC_BODY, None, BEFORE)
    now = END + datetime.timedelta(hours=1)
    assert ari.choose_renewal_time(info, random.Random(1), now=now) == now
    inside = START + datetime.timedelta(hours=12)
    draws = [ari.choose_renewal_time(info, random.Random(i), now=inside) for i in range(50)]
    assert all(inside <= t <= END for t in draws) and inside in draws


def test_fallback_renewal_time():
    nb = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    day = datetime.timedelta(days=1)
    assert ari.fallback_renewal_time(nb, nb + 90 * day) == nb + 60 * day
    assert ari.fallback_renewal_time(nb, nb + 6 * day) == nb + 3 * day
    assert ari.fallback_renewal_time(nb, nb + 160 * datetime.timedelta(hours=1)) == nb + 80 * datetime.timedelta(hours=1)
    assert ari.fallback_renewal_time(nb, nb + 45 * day) == nb + 30 * day
    assert ari.fallback_renewal_time(nb, nb + 90 * day, renew_before_days=10) == nb + 80 * day
