"""Bulk listings answered once per run and account (acme_aliyun/cloud/listcache.py), against the emulator."""

import threading

from acme_aliyun import deployer
from acme_aliyun.cloud.listcache import ListingCache
from acme_aliyun.pki import CertBundle
from acme_aliyun.targets import specs
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client


def _bundle(names):
    cert_pem, key_pem = make_cert(names)
    return CertBundle.from_pems(cert_pem, key_pem)


def _actions(emu):
    return [c.action for c in emu.calls]


def test_many_certificates_planned_side_by_side_cost_one_listing(emu):
    """Eight certificates of one account planned at once: one CDN listing for all of them."""
    for i in range(8):
        emu.add_cdn_domain("s%d.cache.test" % i)
    client = make_client(emu)
    bundles = [_bundle(["s%d.cache.test" % i]) for i in range(8)]
    threads = [threading.Thread(target=deployer.plan,
                                args=(b, "s%d" % i, specs(cdn=["s%d.cache.test" % i]), client))
               for i, b in enumerate(bundles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _actions(emu).count("DescribeCdnHttpsDomainList") == 1


def test_a_write_makes_the_next_listing_fresh(emu):
    emu.add_cdn_domain("w.cache.test")
    client = make_client(emu)
    bundle = _bundle(["w.cache.test"])
    targets = specs(cdn=["w.cache.test"])
    before = deployer.plan(bundle, "w", targets, client)
    assert [r.status for r in before.results] == ["planned"]
    done = deployer.apply(before, client)
    assert [r.status for r in done] == ["deployed"]
    after = deployer.plan(bundle, "w", targets, client)           # the same client: the same run
    assert [r.status for r in after.results] == ["unchanged"]      # not the listing from before the write


def test_single_flight_and_errors_are_not_kept():
    cache = ListingCache()
    calls = []
    gate = threading.Event()

    def fetch():
        calls.append(1)
        gate.wait(2)
        return {"n": len(calls)}

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get("cdn", "List", "", {"p": 1}, fetch)))
               for _ in range(5)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and out == [{"n": 1}] * 5

    def failing():
        raise RuntimeError("boom")

    try:
        cache.get("cdn", "Other", "", {}, failing)
    except RuntimeError:
        pass
    assert cache.get("cdn", "Other", "", {}, lambda: {"ok": True}) == {"ok": True}


def test_an_answer_in_flight_during_a_write_is_not_kept():
    cache = ListingCache()

    def fetch_while_written():
        cache.forget("cdn")                # a write to the product lands while the listing is in flight
        return {"old": True}

    assert cache.get("cdn", "List", "", {}, fetch_while_written) == {"old": True}
    assert cache.get("cdn", "List", "", {}, lambda: {"new": True}) == {"new": True}
    cache.forget("dns-zones")              # another group's write leaves it alone
    assert cache.get("cdn", "List", "", {}, lambda: {"newer": True}) == {"new": True}
