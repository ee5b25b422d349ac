"""renewal.decide: when a stored certificate is due, from its names, its lifetime and the CA's ARI window.

A certificate stands in for the stored one (decide() reads only its bundle, name
and meta); ARI answers come from a loopback renewalInfo server, so the rule is
tested through the same fetch the tool does.
"""

import datetime
from types import SimpleNamespace

import pytest
import requests

from acme_aliyun import renewal
from acme_aliyun.config import CertSettings
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.protocol.test_ari import _AriServer

DAY = datetime.timedelta(days=1)
NAMES = ["due.example.test", "www.due.example.test"]


def _stored(names=NAMES, days=90):
    full, key = make_cert(names, days)
    return SimpleNamespace(name="due", bundle=CertBundle.from_pems(full, key), meta={"ari_cert_id": "aYhb.AIdlQyE"})


def _settings(domains=NAMES, renew_before_days=None):
    return CertSettings("due", list(domains), "http-01", renew_before_days=renew_before_days)


def _window(start, end):
    z = "%Y-%m-%dT%H:%M:%SZ"
    return {"suggestedWindow": {"start": start.strftime(z), "end": end.strftime(z)}}


def _decide_with_ari(stored, start, end, now):
    with _AriServer(body=_window(start, end)) as srv:
        session = requests.Session()
        session.trust_env = False
        client = SimpleNamespace(session=session, timeout=5, _verify=lambda: True)
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


@pytest.mark.xfail(strict=True, reason="issue 17: today the earlier of the ARI time and the backstop wins")
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
