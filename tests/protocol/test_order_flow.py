"""protocol/order.obtain against the scriptable fake CA, for the two paths Pebble never takes.

Pebble finalizes synchronously and our solvers rarely fail to clean up, so these
paths had no test: an order the CA hands back already in `processing` (it must
be polled to `valid`, not finalized again nor given up on), and a solver whose
cleanup raises (the warning must not hide the order's own result, good or bad).
"""

import logging

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from acme_aliyun import pki
from acme_aliyun.challenges.base import SolverError
from acme_aliyun.protocol import account, order
from acme_aliyun.protocol.client import AcmeClient
from acme_aliyun.protocol.errors import AcmeError, AcmeResponseError, AuthorizationFailed, OrderFailed
from tests.fakeca import ACME_ERROR, FakeCA, Reply, Scenario

NAMES = ["flow.example.test", "www.flow.example.test"]


class Solver:
    """Answers nothing itself (the fake CA validates without looking); records what it was asked."""

    challenge_type = "http-01"

    def __init__(self, cleanup_error=None):
        self.cleanup_error = cleanup_error
        self.calls = []

    def present(self, challenges):
        self.calls.append(("present", len(challenges)))

    def wait_until_visible(self, challenges, timeout=None):
        self.calls.append(("wait", len(challenges)))

    def cleanup(self, challenges):
        self.calls.append(("cleanup", len(challenges)))
        if self.cleanup_error:
            raise self.cleanup_error

    def close(self):
        self.calls.append(("close", 0))


@pytest.fixture
def ca(tmp_path):
    with FakeCA(tmp_path / "ca") as ca:
        yield ca


def _client(ca):
    client = AcmeClient(ca.directory_url, key=pki.generate_key("ec-256"), sleep=lambda s: None)
    account.register(client, ["mailto:flow@example.com"])
    return client


def _obtain(ca, solver, cleaned, cert_key=None):
    client = _client(ca)
    cert_key = cert_key or pki.generate_key("ec-256")
    csr = pki.csr_der(pki.make_csr(cert_key, NAMES))
    opts = order.OrderOptions("http-01", timeout=10, sleep=lambda s: None,
                              on_cleaned=lambda: cleaned.append(True))
    try:
        return order.obtain(client, NAMES, csr, solver, opts), cert_key
    finally:
        client.close()


def _processing_once(ca, csr):
    """The first order poll after validation finds the order already being finalized by the CA
    (with this CSR); the fake CA finishes it on the following poll."""
    def reply(seen):
        oid = seen.path.rsplit("/", 1)[1]
        o = ca._orders[oid]
        if o["status"] != "ready":
            return None
        o["csr"], o["status"] = csr, "processing"
        return Reply(200, ca._order_json(oid))
    return reply


def test_order_handed_back_processing_is_polled_to_valid(ca):
    """The CA moves the order to processing on its own: poll it to valid, never POST finalize."""
    cert_key = pki.generate_key("ec-256")
    ca.scenario = Scenario(replies={"order": _processing_once(ca, pki.make_csr(cert_key, NAMES))})
    cleaned = []
    issued, _ = _obtain(ca, Solver(), cleaned, cert_key)
    assert ca.count("finalize") == 0, "the order was already being finalized; finalize must not be sent"
    assert ca.count("order") >= 2, "the order must have been polled on after 'processing'"
    leaf = pki.load_cert_pem(issued.certificate_pem)
    assert pki.public_der(leaf.public_key()) == pki.public_der(cert_key)
    assert sorted(pki.cert_names(leaf)) == sorted(NAMES)
    assert ca.violations == [] and cleaned == [True]


def test_cleanup_failure_does_not_hide_a_good_certificate(ca, caplog):
    solver = Solver(cleanup_error=SolverError("TXT record delete refused"))
    cleaned = []
    with caplog.at_level(logging.WARNING, logger="acme_aliyun.protocol.order"):
        issued, cert_key = _obtain(ca, solver, cleaned)
    leaf = pki.load_cert_pem(issued.certificate_pem)
    assert pki.public_der(leaf.public_key()) == pki.public_der(cert_key)
    assert cleaned == [], "on_cleaned must not run when cleanup failed (the journal keeps the challenges)"
    assert ("cleanup", 2) in solver.calls and solver.calls[-1] == ("close", 0)
    assert [r.getMessage() for r in caplog.records if r.name == "acme_aliyun.protocol.order"] == [
        "cleaning up 2 challenge(s) failed (TXT record delete refused); the next run tries again"]


def test_cleanup_failure_does_not_hide_the_ca_refusal(ca):
    ca.scenario = Scenario(failing_names={NAMES[1]: {"type": ACME_ERROR + "unauthorized", "status": 403,
                                                     "detail": "wrong key authorization"}})
    solver = Solver(cleanup_error=SolverError("TXT record delete refused"))
    cleaned = []
    with pytest.raises(AuthorizationFailed) as err:
        _obtain(ca, solver, cleaned)
    assert NAMES[1] in str(err.value) and "wrong key authorization" in str(err.value)
    assert cleaned == [] and solver.calls[-1] == ("close", 0)


# --- the other ways an order ends (fake CA, no Pebble) -------------------------------------------

def _expect(ca, exc_type, solver=None, names=NAMES, challenge_type="http-01", **opts):
    client = _client(ca)
    csr = pki.csr_der(pki.make_csr(pki.generate_key("ec-256"), names))
    try:
        with pytest.raises(exc_type) as err:
            order.obtain(client, names, csr, solver or Solver(), order.OrderOptions(
                challenge_type, timeout=10, sleep=lambda s: None, **opts))
    finally:
        client.close()
    return err.value


def test_failed_authorization_is_reported_per_name_with_type_and_detail(ca):
    ca.scenario = Scenario(failing_names={NAMES[1]: {"type": ACME_ERROR + "unauthorized", "status": 403,
                                                     "detail": "wrong key authorization"}})
    err = _expect(ca, AuthorizationFailed)
    assert err.failures == [(NAMES[1], "unauthorized: wrong key authorization")]
    assert str(err) == "validation failed: %s: unauthorized: wrong key authorization" % NAMES[1]


def test_order_invalid_after_finalize_gives_the_ca_detail(ca):
    ca.scenario = Scenario(after_finalize="invalid", order_error={"type": ACME_ERROR + "serverInternal",
                                                                  "detail": "issuance backend down"})
    err = _expect(ca, OrderFailed)
    assert str(err) == "the order became invalid: issuance backend down"


def test_unknown_profile_and_missing_challenge_type_are_refused_before_presenting(ca):
    err = _expect(ca, AcmeError, profile="shortlived")
    assert str(err) == "the CA does not offer profile 'shortlived' (offered: none)"
    assert ca.count("newOrder") == 0
    solver = Solver()
    err = _expect(ca, AcmeError, solver=solver, names=["*.flow.example.test"])
    assert str(err) == "flow.example.test: the CA offers no http-01 challenge (offered: dns-01)"
    assert solver.calls == []


def test_unusable_token_is_refused(ca):
    def bad_token(seen):
        aid = seen.path.rsplit("/", 1)[1]
        doc = {"status": "pending", "identifier": {"type": "dns", "value": ca._authzs[aid]["identifier"]},
               "challenges": [dict(ca._challenge_json(c), token="../../etc/passwd")
                              for c in ca._authzs[aid]["challenges"]]}
        return Reply(200, doc)
    ca.scenario = Scenario(replies={"authz": bad_token})
    err = _expect(ca, AcmeResponseError)
    assert str(err) == "%s: the CA sent an unusable challenge token" % NAMES[0]


def test_preferred_chain_keeps_the_default_when_nothing_matches(ca, caplog):
    root_cn = x509.load_pem_x509_certificate(ca.root_pem.encode()).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value
    for preferred, logged in ((root_cn, False), ("Some Other Root", True)):
        caplog.clear()
        client = _client(ca)
        key = pki.generate_key("ec-256")
        try:
            with caplog.at_level(logging.INFO, logger="acme_aliyun.protocol.order"):
                issued = order.obtain(client, NAMES, pki.csr_der(pki.make_csr(key, NAMES)), Solver(),
                                      order.OrderOptions("http-01", timeout=10, sleep=lambda s: None,
                                                         preferred_chain=preferred))
        finally:
            client.close()
        assert issued.chains_offered == 1 and issued.certificate_pem.endswith(ca.root_pem)
        assert ("no chain matches PreferredChain %r" % preferred in caplog.text) == logged
