"""The typed ACME messages (protocol/messages.py), the one Retry-After parser, and
AcmeClient.renewal_info(cert) against a loopback CA directory with renewalInfo."""

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509

from acme_aliyun.protocol import ari, messages
from acme_aliyun.protocol.client import AcmeClient, Response
from acme_aliyun.protocol.errors import AcmeResponseError
from acme_aliyun.protocol.messages import Authorization, Order
from tests.protocol.test_ari import RFC_BODY, RFC_CERT, RFC_CERT_ID

UTC = datetime.timezone.utc
URL = "https://ca.test/order/1"


def test_an_order_is_parsed_with_its_status_and_urls():
    order = Order.parse({"status": "ready", "authorizations": ["https://ca.test/a/1"],
                         "finalize": "https://ca.test/f/1", "identifiers": [{"type": "dns", "value": "x.test"}]}, URL)
    assert (order.url, order.status, order.authorizations, order.finalize, order.certificate) == (
        URL, "ready", ["https://ca.test/a/1"], "https://ca.test/f/1", None)


@pytest.mark.parametrize("status", ["done", None, "VALID"])
def test_an_order_status_the_rfc_does_not_define_is_refused_at_the_boundary(status):
    doc = {"authorizations": [], "finalize": "https://ca.test/f/1"}
    if status is not None:
        doc["status"] = status
    with pytest.raises(AcmeResponseError, match="order has an unknown status"):
        Order.parse(doc, URL)


def test_a_field_of_the_wrong_json_type_is_one_clear_error():
    with pytest.raises(AcmeResponseError, match="'finalize' is not a string"):
        Order.parse({"status": "ready", "finalize": 7}, URL)
    with pytest.raises(AcmeResponseError, match="'challenges' is not a list of objects"):
        Authorization.parse({"status": "pending", "identifier": {"type": "dns", "value": "x.test"},
                             "challenges": ["http-01"]}, URL)


def test_an_authorization_names_its_failed_challenge_error():
    authz = Authorization.parse({
        "status": "invalid", "identifier": {"type": "dns", "value": "www.x.test"},
        "challenges": [{"type": "dns-01", "url": "https://ca.test/c/2", "token": "t2", "status": "pending"},
                       {"type": "http-01", "url": "https://ca.test/c/1", "token": "t1", "status": "invalid",
                        "error": {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "404"}}]}, URL)
    assert authz.identifier == "www.x.test" and authz.status == "invalid"
    assert [c.type for c in authz.challenges] == ["dns-01", "http-01"]
    problem = authz.failed_challenge_error()
    assert problem is not None and problem.error().describe() == "unauthorized: 404"


def test_a_challenge_without_status_is_pending():
    assert messages.Challenge.parse({"type": "http-01", "url": "u", "token": "t"}, URL).status == "pending"


def test_an_account_keeps_what_the_server_sent():
    acct = messages.Account.parse({"status": "valid", "contact": ["mailto:a@x.test"], "orders": "o"}, "https://ca.test/acct/1")
    assert (acct.url, acct.status, acct.contact, acct.data["orders"]) == (
        "https://ca.test/acct/1", "valid", ["mailto:a@x.test"], "o")


@pytest.mark.parametrize("header,seconds", [
    (None, None), ("", None), ("soon", None), ("120", 120), ("99999999999999", 86400),
    ("Wed, 01 Jan 2025 02:00:00 GMT", 7200), ("Wed, 01 Jan 2025 02:00:00 -0000", 7200),
    ("Tue, 31 Dec 2024 00:00:00 GMT", 0),
])
def test_one_retry_after_parser_capped_at_one_day(header, seconds):
    now = datetime.datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert messages.parse_retry_after(header, now) == seconds


def test_the_client_and_ari_read_retry_after_with_the_same_parser():
    """The client's Response and ARI's clamp agree on the same header (ARI adds its 1 min floor)."""
    before = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    assert Response(429, {"Retry-After": "99999999"}, b"", URL).retry_after == 86400
    assert ari.parse_renewal_info(RFC_BODY, "99999999", before).retry_after_seconds == 86400
    assert ari.parse_renewal_info(RFC_BODY, "30", before).retry_after_seconds == 60


class _Ca:
    """A directory with renewalInfo, and renewalInfo itself, on 127.0.0.1."""

    def __init__(self, with_ari=True):
        self.paths = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                base = "http://127.0.0.1:%d" % self.server.server_address[1]
                if self.path == "/dir":
                    doc = {"newNonce": base + "/nonce", "newAccount": base + "/acct", "newOrder": base + "/order"}
                    if with_ari:
                        doc["renewalInfo"] = base + "/ari"
                    status, retry = 200, None
                else:
                    doc, status, retry = RFC_BODY, 200, "3600"
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if retry:
                    self.send_header("Retry-After", retry)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/dir" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_renewal_info_of_a_certificate_through_the_client():
    ca = _Ca()
    try:
        info = AcmeClient(ca.url).renewal_info(x509.load_pem_x509_certificate(RFC_CERT))
    finally:
        ca.close()
    assert (info.start.isoformat(), info.end.isoformat()) == ("2025-01-02T04:00:00+00:00", "2025-01-03T04:00:00+00:00")
    assert info.retry_after_seconds == 3600
    assert ca.paths == ["/dir", "/ari/" + RFC_CERT_ID]


def test_renewal_info_without_renewal_info_in_the_directory_is_an_ari_error():
    ca = _Ca(with_ari=False)
    try:
        with pytest.raises(ari.AriError, match="does not offer renewal information"):
            AcmeClient(ca.url).renewal_info(x509.load_pem_x509_certificate(RFC_CERT))
    finally:
        ca.close()
