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


# --- the rest of served.py: direct names, candidates, fingerprints, the worker pools ---------------

def test_direct_names_carry_the_evidence_and_never_repeat(monkeypatch):
    import itertools
    import re

    from acme_aliyun.targets import served
    b = _bundle()
    first, second = served.direct_name("cdn", b), served.direct_name("cdn", b)
    suffix = "-%s-%s" % (b.not_after.strftime("%Y%m%d"), b.serial.lower()[:8])
    for name in (first, second):
        assert re.fullmatch(r"cdn-[0-9a-f]+" + re.escape(suffix), name), name
        assert served.name_evidence(name, b) and Served(name, b.not_after).is_ours("site", b)
    assert first != second
    # two runs (each starting its counter at 1) two milliseconds apart still name their uploads apart
    from types import SimpleNamespace
    names = []
    for now in (1700000000.000, 1700000000.002):
        monkeypatch.setattr(served, "time", SimpleNamespace(time=lambda now=now: now))   # served's clock only
        monkeypatch.setattr(served, "_counter", itertools.count(1))
        names.append(served.direct_name("cdn", b))
    assert names[0] != names[1]


def test_every_lists_the_reading_and_its_candidates():
    a, c = Served("a"), Served("c")
    both = Served(candidates=(a, c))
    assert both.every() == (both, a, c)
    assert a.every() == (a,)


def test_candidates_show_our_upload_and_outlive_only_for_names_the_bundle_covers():
    b = _bundle()                                          # covers own.example.test
    name, later = unique_cert_name("site", b), b.not_after + 30 * 24 * HOUR
    other = Served("someone-else", b.not_after)
    assert Served(candidates=(other, Served(name, b.not_after))).shows_upload(name, b)
    assert not Served(candidates=(other,)).shows_upload(name, b)
    covered_later = Served("x", later, names=("own.example.test",))
    assert Served(candidates=(other, covered_later)).outlives(b)
    assert not Served(candidates=(Served("x", later, names=("elsewhere.example.test",)),)).outlives(b)
    assert not Served(candidates=(Served("x", later),)).outlives(b)                 # names unknown
    assert not Served(candidates=(Served("x", b.not_after, names=("own.example.test",)),)).outlives(b)


def test_a_fingerprint_reading_is_ours_by_either_digest():
    import hashlib

    from cryptography.hazmat.primitives import serialization
    b, other = _bundle(), _bundle()
    der = b.cert.public_bytes(serialization.Encoding.DER)
    for digest in (hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()):  # noqa: S324
        assert Served("anything", fingerprint=digest).is_ours("site", b)
        assert not Served("anything", fingerprint=digest).is_ours("site", other)


def test_a_duplicate_answer_is_judged_by_our_cert_name_when_the_read_gives_only_a_name():
    b = _bundle()

    def send(target):
        raise CloudError("CertNameAlreadyExists", "exists")
    out = write_each(["t"], send, lambda t: Served("site-cert", b.not_after), "site-cert", b, workers=1)
    assert out == {"t": None}


def _pool_probe():
    """An fn/send that records the peak number running at once and how many met a partner
    (a barrier of two that gives up after a second alone)."""
    import threading
    import time
    state = {"now": 0, "peak": 0, "paired": 0}
    lock, barrier = threading.Lock(), threading.Barrier(2, timeout=1.0)

    def fn(item):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            barrier.wait()
            state["paired"] += 1
        except threading.BrokenBarrierError:
            barrier.reset()
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return item * 10
    return fn, state


def test_worker_pools_run_up_to_workers_at_once_and_keep_the_order():
    from acme_aliyun.targets.served import in_parallel
    fn, state = _pool_probe()
    assert in_parallel(fn, [1, 2], workers=2) == [10, 20] and state["paired"] == 2 and state["peak"] == 2
    fn, state = _pool_probe()
    assert in_parallel(fn, [1, 2, 3, 4], workers=2) == [10, 20, 30, 40] and state["peak"] == 2
    assert in_parallel(lambda i: i * 10, [1, 2, 3], workers=1) == [10, 20, 30]
    assert in_parallel(lambda i: i * 10, [7], workers=4) == [70] and in_parallel(fn, [], workers=4) == []
    b = _bundle()
    sent, state = _pool_probe()
    out = write_each([1, 2], lambda t: sent(t) and None, lambda t: None, "n", b, workers=2)
    assert out == {1: None, 2: None} and state["paired"] == 2 and state["peak"] == 2
    sent, state = _pool_probe()
    out = write_each([1, 2, 3, 4], lambda t: sent(t) and None, lambda t: None, "n", b, workers=2)
    assert out == {t: None for t in (1, 2, 3, 4)} and state["peak"] == 2
    assert write_each([], sent, lambda t: None, "n", b) == {}                    # nothing to write


def test_candidates_are_ours_when_one_of_them_is():
    b, other = _bundle(), _bundle()
    theirs = Served.from_pem(other.fullchain_pem, cert_name="x")
    assert Served(candidates=(theirs, Served("site-cert", b.not_after))).is_ours("site-cert", b)
    assert Served(candidates=(theirs, Served.from_pem(b.fullchain_pem))).is_ours("site-cert", b)
    assert not Served(candidates=(theirs,)).is_ours("site-cert", b)


def test_from_pem_keeps_what_the_read_said_and_none_where_it_said_nothing():
    b = _bundle()
    s = Served.from_pem(b.fullchain_pem, cert_name="site", cert_id=7, cert_region="ap-southeast-1")
    assert (s.cert_name, s.serial, s.not_after, s.cert_id, s.cert_region) == (
        "site", b.serial, b.not_after, 7, "ap-southeast-1")
    bare = Served.from_pem(None, cert_name="")
    assert (bare.cert_name, bare.serial, bare.not_after, bare.cert_id, bare.cert_region) == (None,) * 5


def test_name_stem_trims_only_separators():
    b = _bundle()
    suffix = "-%s-%s" % (b.not_after.strftime("%Y%m%d"), b.serial.lower()[:8])
    assert unique_cert_name("Xylophone.X", b) == "Xylophone.X" + suffix


def test_our_exact_cert_name_on_a_certificate_with_another_expiry_is_not_ours():
    """Someone uploaded another certificate under our CertName first: the name alone proves nothing."""
    b = _bundle()
    for ours in ("site-cert", unique_cert_name("site", b)):
        assert Served(ours, b.not_after + 23 * HOUR).is_ours(ours, b)
        assert Served(ours, None).is_ours(ours, b)               # a read without dates: the name decides
        assert not Served(ours, b.not_after - 30 * 24 * HOUR).is_ours(ours, b)
        assert not Served(ours, b.not_after + 25 * HOUR).is_ours(ours, b)
