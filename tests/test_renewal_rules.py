"""renewal.decide: when a stored certificate is due, from its names, its lifetime and the CA's ARI window.

A certificate stands in for the stored one (decide() reads only its bundle, name
and meta); ARI answers come from a loopback renewalInfo server, so the rule is
tested through the same fetch the tool does.
"""

import datetime
import logging
import re
from types import SimpleNamespace

import pytest
import requests
from cryptography import x509

from acme_aliyun import renewal
from acme_aliyun.config import CertSettings
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.protocol.test_ari import RFC_CERT, RFC_CERT_ID, _AriServer

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
NAMES = ["due.example.test", "www.due.example.test"]


def _stored(names=NAMES, days=90):
    full, key = make_cert(names, days)
    return SimpleNamespace(name="due", bundle=CertBundle.from_pems(full, key), meta={"ari_cert_id": "aYhb.AIdlQyE"})


def _settings(domains=NAMES, renew_before_days=None):
    return CertSettings("due", list(domains), "http-01", renew_before_days=renew_before_days)


def _window(start, end):
    z = "%Y-%m-%dT%H:%M:%SZ"
    return {"suggestedWindow": {"start": start.strftime(z), "end": end.strftime(z)}}


def _ari_client(session, url):
    """The part of AcmeClient that renewal uses: renewal_info(cert, cert_id), here against `url`."""
    from acme_aliyun.protocol import ari

    def renewal_info(cert, cert_id=None):
        return ari.fetch_renewal_info(session, url, cert_id or ari.cert_id(cert), timeout=5, verify=True)
    return SimpleNamespace(renewal_info=renewal_info)


def _decide_with_ari(stored, start, end, now):
    with _AriServer(body=_window(start, end)) as srv:
        session = requests.Session()
        session.trust_env = False
        client = _ari_client(session, srv.url)
        try:
            return renewal.decide(stored, _settings(), SimpleNamespace(renewal_info=srv.url), client, now=now)
        finally:
            session.close()


def test_changed_domains_make_a_fresh_certificate_due():
    stored = _stored()
    d = renewal.decide(stored, _settings(NAMES + ["new.due.example.test"]))
    assert (d.due, d.source) == (True, "names")
    d = renewal.decide(stored, _settings(NAMES[:1]))
    assert (d.due, d.source) == (True, "names")
    d = renewal.decide(stored, _settings(list(reversed(NAMES))))        # same names, other order: not due
    assert d.due is False and d.source == "lifetime"


def test_lifetime_backstop_without_ari():
    stored = _stored()
    b = stored.bundle
    backstop = b.not_after - (b.not_after - b.not_before) / 3
    assert renewal.decide(stored, _settings(), now=backstop - DAY).due is False
    d = renewal.decide(stored, _settings(), now=backstop + DAY)
    assert (d.due, d.source, d.renew_at) == (True, "lifetime", backstop)


def test_ari_window_before_the_backstop_is_followed():
    stored = _stored()
    nb = stored.bundle.not_before
    d = _decide_with_ari(stored, nb + 30 * DAY, nb + 35 * DAY, now=nb + 29 * DAY)
    assert (d.due, d.source) == (False, "ari")
    assert nb + 30 * DAY <= d.renew_at <= nb + 35 * DAY
    d = _decide_with_ari(stored, nb + 30 * DAY, nb + 35 * DAY, now=nb + 40 * DAY)    # window passed: now
    assert (d.due, d.source, d.renew_at) == (True, "ari", nb + 40 * DAY)


def test_ari_window_after_the_backstop_is_followed():
    """RFC 9773 §4.2 / issue 17: a window that ends before expiry is followed even after the
    lifetime backstop (60 days into a 90-day certificate)."""
    stored = _stored()
    nb = stored.bundle.not_before
    start, end = nb + 70 * DAY, nb + 75 * DAY
    d = _decide_with_ari(stored, start, end, now=nb + 65 * DAY)
    assert (d.due, d.source) == (False, "ari")
    assert start <= d.renew_at <= end


def test_ari_window_ending_after_expiry_falls_back_to_the_lifetime_rule():
    stored = _stored()
    b = stored.bundle
    backstop = b.not_after - (b.not_after - b.not_before) / 3
    d = _decide_with_ari(stored, b.not_after - 5 * DAY, b.not_after + 5 * DAY, now=backstop + DAY)
    assert (d.due, d.source, d.renew_at) == (True, "lifetime", backstop)


# --- every outcome, whole (reason and source included), and the ARI cache kept in meta.json --------

class MetaStore:
    """Records update_meta() calls the way Store does (name, fields)."""

    def __init__(self):
        self.updates = []

    def update_meta(self, name, **fields):
        self.updates.append((name, fields))


def test_each_decision_whole():
    stored = _stored()
    b = stored.bundle
    backstop = b.not_after - (b.not_after - b.not_before) / 3
    valid = "valid until %s" % b.not_after.strftime("%Y-%m-%d %H:%M UTC")
    assert renewal.decide(None, _settings()) == renewal.Decision(True, "no certificate yet", None, "missing")
    assert renewal.decide(stored, _settings(NAMES[:1])) == renewal.Decision(
        True, "the configured names changed", None, "names")
    assert renewal.decide(stored, _settings(), force=True) == renewal.Decision(True, "forced", None, "forced")
    assert renewal.decide(stored, _settings(), now=b.not_after) == renewal.Decision(
        True, "expired on %s" % b.not_after.date(), None, "expired")
    now = b.not_before + DAY
    assert renewal.decide(stored, _settings(), now=now) == renewal.Decision(False, valid, backstop, "lifetime")
    assert renewal.decide(stored, _settings(), now=backstop) == renewal.Decision(
        True, "renewal window reached (lifetime)", backstop, "lifetime")
    d = renewal.decide(stored, _settings(renew_before_days=10), now=now)
    assert d == renewal.Decision(False, valid, b.not_after - 10 * DAY, "RenewBeforeDays")


def test_ari_answer_is_kept_in_meta_and_reused_until_the_next_fetch():
    stored, store = _stored(), MetaStore()
    nb = stored.bundle.not_before
    start, end, now = nb + 30 * DAY, nb + 35 * DAY, nb + 29 * DAY
    with _AriServer(body=dict(_window(start, end), explanationURL="https://ca.example/ari")) as srv:
        session = requests.Session()
        session.trust_env = False
        client = _ari_client(session, srv.url)
        directory = SimpleNamespace(renewal_info=srv.url)
        first = renewal.decide(stored, _settings(), directory, client, store, now=now)
        [(name, fields)] = store.updates
        assert name == "due" and fields["ari"] == {
            "cert_id": "aYhb.AIdlQyE", "start": start.replace(microsecond=0).isoformat(),
            "end": end.replace(microsecond=0).isoformat(), "chosen": first.renew_at.isoformat(),
            "explanation_url": "https://ca.example/ari",
            "next_fetch": (now + datetime.timedelta(seconds=21600)).isoformat()}
        assert srv.requests == [("GET", "/renewal-info/aYhb.AIdlQyE")]
        stored.meta["ari"] = fields["ari"]
        again = renewal.decide(stored, _settings(), directory, client, store, now=now + HOUR)
        assert again == first and len(srv.requests) == 1          # cached: no second fetch
        later = renewal.decide(stored, _settings(), directory, client, store, now=now + 7 * HOUR)
        assert len(srv.requests) == 2 and later.source == "ari"   # the next fetch is due
        assert later.renew_at == first.renew_at                   # the same window: the moment does not move
        stored.meta["ari_cert_id"] = "other.cert"                 # another certificate: the cache is not its
        renewal.decide(stored, _settings(), directory, client, store, now=now + HOUR)
        assert srv.requests[-1] == ("GET", "/renewal-info/other.cert") and store.updates[-1][0] == "due"
        session.close()


def test_ari_failure_falls_back_to_the_cached_choice_or_the_lifetime_rule(caplog):
    stored = _stored()
    b = stored.bundle
    nb, backstop = b.not_before, b.not_after - (b.not_after - b.not_before) / 3
    chosen = nb + 20 * DAY
    stored.meta["ari"] = {"cert_id": "aYhb.AIdlQyE", "start": (nb + 15 * DAY).isoformat(),
                          "end": (nb + 25 * DAY).isoformat(), "chosen": chosen.isoformat(),
                          "next_fetch": (nb + DAY).isoformat()}
    with _AriServer(status=500, body={"type": "urn:ietf:params:acme:error:serverInternal"}) as srv:
        session = requests.Session()
        session.trust_env = False
        client = _ari_client(session, srv.url)
        directory = SimpleNamespace(renewal_info=srv.url)
        with caplog.at_level(logging.WARNING, logger="acme_aliyun.renewal"):
            d = renewal.decide(stored, _settings(), directory, client, now=nb + 10 * DAY)
        assert (d.due, d.renew_at, d.source) == (False, chosen, "ari")
        [warning] = [r.getMessage() for r in caplog.records if r.name == "acme_aliyun.renewal"]
        assert re.fullmatch(r"due: renewal info unavailable \(renewalInfo \S+: HTTP 500\); using what is known",
                            warning), warning
        stored.meta["ari"]["cert_id"] = "another.one"
        d = renewal.decide(stored, _settings(), directory, client, now=nb + 10 * DAY)
        assert (d.due, d.renew_at, d.source) == (False, backstop, "lifetime")
        session.close()


def test_ari_needs_both_a_renewal_info_url_and_a_client():
    stored = _stored()
    b = stored.bundle
    backstop = b.not_after - (b.not_after - b.not_before) / 3
    no_client = renewal.decide(stored, _settings(), SimpleNamespace(renewal_info="http://127.0.0.1:9/x"), None,
                               now=b.not_before + DAY)
    no_directory = renewal.decide(stored, _settings(), None, SimpleNamespace(), now=b.not_before + DAY)
    assert (no_client.renew_at, no_client.source) == (no_directory.renew_at, no_directory.source) == (
        backstop, "lifetime")


def test_cached_choice_expires_at_next_fetch_and_the_cert_id_comes_from_the_certificate():
    """No ari_cert_id in meta: the certID is the certificate's own (RFC 9773 §4.1); the cache is stale
    from next_fetch on."""
    cert = x509.load_pem_x509_certificate(RFC_CERT)
    nb = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    bundle = SimpleNamespace(names=["example.com"], cert=cert, not_before=nb, not_after=nb + 90 * DAY)
    now = nb + 10 * DAY
    stored = SimpleNamespace(name="rfc", bundle=bundle, meta={"ari": {
        "cert_id": RFC_CERT_ID, "start": (nb + 15 * DAY).isoformat(), "end": (nb + 25 * DAY).isoformat(),
        "chosen": (nb + 20 * DAY).isoformat(), "next_fetch": now.isoformat()}})
    with _AriServer(body=_window(nb + 30 * DAY, nb + 31 * DAY)) as srv:
        session = requests.Session()
        session.trust_env = False
        client = _ari_client(session, srv.url)
        d = renewal.decide(stored, CertSettings("rfc", ["example.com"], "http-01"),
                           SimpleNamespace(renewal_info=srv.url), client, now=now)
        session.close()
    assert srv.requests == [("GET", "/renewal-info/" + RFC_CERT_ID)]
    assert d.source == "ari" and nb + 30 * DAY <= d.renew_at <= nb + 31 * DAY


# --- provenance first, the ARI cache's edges -------------------------------------------------------

def test_a_revoked_certificate_is_due_at_once_before_anything_else():
    stored = _stored()
    b = stored.bundle
    stored.meta.update(revoked="2026-01-01T00:00:00+00:00", revoked_reason="keyCompromise",
                       directory="https://old-ca.example/dir")
    expected = renewal.Decision(True, "revoked (keyCompromise)", None, "revoked")
    assert renewal.decide(stored, _settings(), now=b.not_before + DAY) == expected
    assert renewal.decide(stored, _settings(), directory_url="https://new-ca.example/dir",
                          now=b.not_before + DAY) == expected          # revoked outranks the CA change
    del stored.meta["revoked_reason"]
    assert renewal.decide(stored, _settings(), now=b.not_before + DAY).reason == "revoked (unspecified)"


def test_a_certificate_from_another_directory_is_due_at_once():
    stored = _stored()
    b = stored.bundle
    stored.meta["directory"] = "https://old-ca.example/dir"
    now = b.not_before + DAY
    expected = renewal.Decision(True, "CA changed (issued by https://old-ca.example/dir)", None, "ca")
    assert renewal.decide(stored, _settings(), directory_url="https://new-ca.example/dir", now=now) == expected
    directory = SimpleNamespace(url="https://new-ca.example/dir", renewal_info=None)
    assert renewal.decide(stored, _settings(), directory, now=now) == expected
    # the explicit directory_url is the configured one, whatever the directory object says
    assert renewal.decide(stored, _settings(), directory, directory_url="https://old-ca.example/dir/",
                          now=now).source == "lifetime"
    same = SimpleNamespace(url="https://old-ca.example/dir", renewal_info=None)
    assert renewal.decide(stored, _settings(), same, now=now).source == "lifetime"


def test_a_window_ending_exactly_at_expiry_is_followed():
    stored = _stored()
    b = stored.bundle
    backstop = b.not_after - (b.not_after - b.not_before) / 3
    d = _decide_with_ari(stored, b.not_after - 5 * DAY, b.not_after, now=backstop + DAY)
    assert (d.due, d.source) == (False, "ari") and b.not_after - 5 * DAY <= d.renew_at <= b.not_after


def _cached(stored, start, end, chosen):
    stored.meta["ari"] = {"cert_id": stored.meta["ari_cert_id"], "start": start.isoformat(),
                          "end": end.isoformat(), "chosen": chosen.isoformat()}


def test_a_window_past_expiry_is_still_followed_when_it_chooses_before_the_backstop():
    stored = _stored()
    b = stored.bundle
    backstop = b.not_after - (b.not_after - b.not_before) / 3
    valid = "valid until %s" % b.not_after.strftime("%Y-%m-%d %H:%M UTC")
    chosen = b.not_before + 20 * DAY
    _cached(stored, b.not_before + 10 * DAY, b.not_after + 5 * DAY, chosen)
    assert renewal.decide(stored, _settings(), now=b.not_before + DAY) == renewal.Decision(
        False, valid, chosen, "ari")
    _cached(stored, b.not_before + 10 * DAY, b.not_after + 5 * DAY, backstop)     # a tie: the backstop's
    assert renewal.decide(stored, _settings(), now=b.not_before + DAY) == renewal.Decision(
        False, valid, backstop, "lifetime")


def test_a_stored_answer_needs_chosen_start_and_end_and_this_certificates_id():
    cert = x509.load_pem_x509_certificate(RFC_CERT)
    nb = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    full = {"cert_id": RFC_CERT_ID, "start": (nb + DAY).isoformat(), "end": (nb + 2 * DAY).isoformat(),
            "chosen": (nb + DAY).isoformat()}
    stored = SimpleNamespace(name="rfc", bundle=SimpleNamespace(cert=cert), meta={"ari": dict(full)})
    assert renewal.ari_window(stored) == full        # no ari_cert_id: the certificate's own certID matches
    for missing in ("chosen", "start", "end"):
        stored.meta["ari"] = {k: v for k, v in full.items() if k != missing}
        assert renewal.ari_window(stored) is None, missing
    stored.meta["ari"] = dict(full, cert_id="another.cert")
    assert renewal.ari_window(stored) is None
