"""protocol/order.revoke against the fake CA's revokeCert (RFC 8555 §7.6).

A certificate is issued through the fake CA first, then revoked: by the account
that ordered it (kid) or by the certificate's own key (jwk, signature checked
by the fake CA). The outcome is read back from the CA: the serial and reason it
recorded, and the CA's refusal when someone else asks or it is asked twice.
"""

import pytest
from cryptography.hazmat.primitives import serialization

from acme_aliyun import pki
from acme_aliyun.protocol import jose, order
from acme_aliyun.protocol.client import AcmeClient
from acme_aliyun.protocol.errors import AcmeProblem
from tests.fakeca import FakeCA
from tests.protocol.test_order_flow import NAMES, Solver, _client


@pytest.fixture
def ca(tmp_path):
    with FakeCA(tmp_path / "ca") as ca:
        yield ca


def _issue(ca, client, key_type="ec-256"):
    """A certificate from the fake CA for client's account: (leaf DER, its serial, its key)."""
    cert_key = pki.generate_key(key_type)
    issued = order.obtain(client, NAMES, pki.csr_der(pki.make_csr(cert_key, NAMES)), Solver(),
                          order.OrderOptions("http-01", timeout=10, sleep=lambda s: None))
    leaf = pki.load_cert_pem(issued.certificate_pem)
    return leaf.public_bytes(serialization.Encoding.DER), leaf.serial_number, cert_key


def _issue_and_revoke(ca, *reason):
    """Issue with the ordering account, revoke with it (reason as given, or none): (DER, serial, kid)."""
    client = _client(ca)
    try:
        der, serial, _ = _issue(ca, client)
        order.revoke(client, der, *reason)
        return der, serial, client.kid
    finally:
        client.close()


def test_the_ordering_account_revokes_with_a_reason(ca):
    der, serial, kid = _issue_and_revoke(ca, 4)
    assert ca.revoked == {serial: 4}
    seen = ca.seen("revokeCert")[-1]
    assert seen.payload == {"certificate": jose.b64u(der), "reason": 4}
    assert seen.protected["kid"] == kid and "jwk" not in seen.protected
    assert ca.violations == []


@pytest.mark.parametrize("reason, sent", [((), {}), ((0,), {"reason": 0})], ids=["none", "zero"])
def test_without_a_reason_none_is_sent_and_zero_is_sent_as_zero(ca, reason, sent):
    der, serial, _ = _issue_and_revoke(ca, *reason)
    assert ca.seen("revokeCert")[-1].payload == {"certificate": jose.b64u(der), **sent}
    assert ca.revoked == {serial: 0}


@pytest.mark.parametrize("key_type, revoker, reason", [
    ("ec-256", "stranger", 1), ("rsa-2048", "stranger", 1), ("ec-256", "other account", 3)])
def test_the_certificate_key_revokes_and_signs_alone(ca, key_type, revoker, reason):
    """A client whose key has no account at this CA, or one with an account (a kid) of its own that must
    not sign this request: only the certificate's key signs (jwk, no kid)."""
    owner = _client(ca)
    try:
        der, serial, cert_key = _issue(ca, owner, key_type)
    finally:
        owner.close()
    other = _client(ca) if revoker == "other account" else \
        AcmeClient(ca.directory_url, key=pki.generate_key("ec-256"), sleep=lambda s: None)
    try:
        order.revoke(other, der, reason, cert_key=cert_key)
    finally:
        other.close()
    assert ca.revoked == {serial: reason}
    seen = ca.seen("revokeCert")[-1]
    assert seen.protected["jwk"] == jose.jwk(cert_key) and "kid" not in seen.protected
    assert ca.violations == []


def test_another_account_or_key_is_refused_and_nothing_is_revoked(ca):
    owner = _client(ca)
    try:
        der, _, _ = _issue(ca, owner)
    finally:
        owner.close()
    other = _client(ca)
    try:
        with pytest.raises(AcmeProblem) as err:
            order.revoke(other, der, 1)
        assert err.value.code == "unauthorized"
        with pytest.raises(AcmeProblem) as err:
            order.revoke(other, der, 1, cert_key=pki.generate_key("ec-256"))
        assert err.value.code == "unauthorized"
    finally:
        other.close()
    assert ca.revoked == {}


def test_a_second_revocation_and_a_bad_reason_are_the_cas_refusals(ca):
    client = _client(ca)
    try:
        der, serial, _ = _issue(ca, client)
        with pytest.raises(AcmeProblem) as err:
            order.revoke(client, der, 7)            # RFC 5280: reason code 7 is not used
        assert err.value.code == "badRevocationReason" and ca.revoked == {}
        order.revoke(client, der, 5)
        with pytest.raises(AcmeProblem) as err:
            order.revoke(client, der, 4)
        assert err.value.code == "alreadyRevoked"
    finally:
        client.close()
    assert ca.revoked == {serial: 5}
