"""Served.is_ours and the rest of targets/served: what a target's read-back must show before we call
the certificate ours.

A CertName carrying our expiry date and serial prefix is strong evidence, but a
product may list a different expiry for it (another upload under a look-alike
name): the expiry it reports must agree with ours within a day.
"""

import datetime

from acme_aliyun.targets.served import Served, parse_time, unique_cert_name, write_each
from acme_aliyun.cloud.sdk import CloudError
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
    assert Served(look_alike, b.not_after).is_ours(ours, b)
    assert Served(look_alike, b.not_after + 23 * HOUR).is_ours(ours, b)
    assert Served(look_alike, b.not_after - 23 * HOUR).is_ours(ours, b)
    assert Served(look_alike, None).is_ours(ours, b)         # a read without dates: the name decides
    assert not Served(look_alike, b.not_after + 25 * HOUR).is_ours(ours, b)
    assert not Served(look_alike, b.not_after - 25 * HOUR).is_ours(ours, b)
    assert not Served(look_alike, b.not_after + 30 * 24 * HOUR).is_ours(ours, b)


def test_a_served_serial_overrides_the_name():
    b, other = _bundle(), _bundle()
    name = unique_cert_name("site", b)
    assert not Served.from_pem(other.fullchain_pem, cert_name=name).is_ours(name, b)
    assert Served.from_pem(b.fullchain_pem, cert_name="anything").is_ours(name, b)


def test_ssl_off_is_nothing_served_whatever_the_pem():
    b = _bundle()
    off = Served.from_pem(b.fullchain_pem, cert_name="site", ssl_on=False)
    assert off.empty and not off.is_ours("site", b)
    assert not Served.from_pem(b.fullchain_pem, cert_name="site").empty


def test_boundaries_of_a_day_and_a_minute():
    b = _bundle()
    look_alike, day = unique_cert_name("console-upload", b), 24 * HOUR
    assert not Served(look_alike, b.not_after + day).is_ours("site", b)          # a whole day off: not ours
    name = unique_cert_name("site", b)
    assert Served(name, b.not_after + 23 * HOUR).shows_upload(name, b)
    assert not Served(name, b.not_after + day).shows_upload(name, b)
    minute = datetime.timedelta(seconds=60)
    assert not Served(name, b.not_after + minute).outlives(b)
    assert Served(name, b.not_after + minute + datetime.timedelta(seconds=1)).outlives(b)


def test_a_listing_shows_our_upload_only_under_our_exact_name_and_serial():
    b, other = _bundle(), _bundle()
    name = unique_cert_name("site", b)
    assert Served(name, None).shows_upload(name, b)                              # a listing without dates
    assert not Served(unique_cert_name("other", b), b.not_after).shows_upload(name, b)
    assert not Served("site", b.not_after).shows_upload("site", b)               # no date/serial evidence
    assert not Served(name, b.not_after, ssl_on=False).shows_upload(name, b)
    assert Served(name, b.not_after, serial=b.serial.upper()).shows_upload(name, b)
    assert not Served(name, b.not_after, serial=other.serial).shows_upload(name, b)


def test_unique_cert_name_cleans_the_base():
    b = _bundle()
    suffix = "-%s-%s" % (b.not_after.strftime("%Y%m%d"), b.serial.lower()[:8])
    assert unique_cert_name("", b) == "cert" + suffix
    assert unique_cert_name("-.My Cert.-", b) == "My-Cert" + suffix
    assert unique_cert_name("***", b) == "cert" + suffix


def test_parse_time_every_form_the_products_use():
    utc = datetime.timezone.utc
    assert parse_time(0) is None and parse_time("") is None and parse_time(None) is None
    assert parse_time(1000) == datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=utc)
    assert parse_time("1577808000000") == datetime.datetime(2019, 12, 31, 16, 0, tzinfo=utc)
    assert parse_time("2018-11-26 14:45:09.250") == datetime.datetime(2018, 11, 26, 14, 45, 9, 250000, tzinfo=utc)
    assert parse_time("2018-11-26") == datetime.datetime(2018, 11, 26, tzinfo=utc)


def test_a_duplicate_answer_counts_only_when_the_target_reads_back_as_ours():
    b, other = _bundle(), _bundle()
    name = unique_cert_name("site", b)
    reads = []

    def send(target):
        raise CloudError("Certificate.Duplicated" if target != "plain" else "InternalError", "refused")

    def read_one(target):
        reads.append(target)
        return Served.from_pem((b if target == "ours" else other).fullchain_pem, cert_name=name)

    out = write_each(["ours", "theirs", "plain"], send, read_one, name, b, workers=1)
    assert out["ours"] is None
    assert out["theirs"].code == "Certificate.Duplicated" and out["plain"].code == "InternalError"
    assert reads == ["ours", "theirs"]                                             # no read for other errors
