"""Deployed.is_ours: what a target's read-back must show before we call the certificate ours.

A CertName carrying our expiry date and serial prefix is strong evidence, but a
product may list a different expiry for it (another upload under a look-alike
name): the expiry it reports must agree with ours within a day.
"""

import datetime

from acme_aliyun.cloud.certinfo import Deployed, unique_cert_name
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert

HOUR = datetime.timedelta(hours=1)


def _bundle():
    full, key = make_cert(["own.example.test"], 90)
    return CertBundle.from_pems(full, key)


def test_name_evidence_counts_only_with_the_same_expiry_within_a_day():
    b = _bundle()
    look_alike = unique_cert_name("console-upload", b)        # our date and serial prefix, not our CertName
    ours = "site-cert"
    assert Deployed(look_alike, b.not_after).is_ours(ours, b)
    assert Deployed(look_alike, b.not_after + 23 * HOUR).is_ours(ours, b)
    assert Deployed(look_alike, b.not_after - 23 * HOUR).is_ours(ours, b)
    assert Deployed(look_alike, None).is_ours(ours, b)         # a read without dates: the name decides
    assert not Deployed(look_alike, b.not_after + 25 * HOUR).is_ours(ours, b)
    assert not Deployed(look_alike, b.not_after - 25 * HOUR).is_ours(ours, b)
    assert not Deployed(look_alike, b.not_after + 30 * 24 * HOUR).is_ours(ours, b)


def test_a_served_serial_overrides_the_name():
    b, other = _bundle(), _bundle()
    name = unique_cert_name("site", b)
    assert not Deployed.from_pem(other.fullchain_pem, cert_name=name).is_ours(name, b)
    assert Deployed.from_pem(b.fullchain_pem, cert_name="anything").is_ours(name, b)


def test_ssl_off_is_nothing_served_whatever_the_pem():
    b = _bundle()
    off = Deployed.from_pem(b.fullchain_pem, cert_name="site", ssl_on=False)
    assert off.empty and not off.is_ours("site", b)
    assert not Deployed.from_pem(b.fullchain_pem, cert_name="site").empty
