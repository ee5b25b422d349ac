"""Listings as the API pages them (capped pages, lagging listings): nothing is skipped, and a DCDN
domain the listing does not show is read before it is written."""

from acme_aliyun import deployer, targets
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client

NAMES = ["example.test", "*.example.test"]


def bundle(days=90):
    return CertBundle.from_pems(*make_cert(NAMES, days))


def test_capped_pages_are_followed_by_the_items_received(emulator_factory):  # noqa: F811
    emu = emulator_factory(page_size_cap=2)
    cdn = ["c%d.example.test" % i for i in range(5)]
    dcdn = ["d%d.example.test" % i for i in range(5)]
    for c, d in zip(cdn, dcdn):
        emu.add_cdn_domain(c)
        emu.add_dcdn_domain(d)
    client = make_client(emu)
    specs = targets.specs(cdn=cdn, dcdn=dcdn)
    b = bundle()
    assert {r.status for r in deployer.apply(deployer.plan(b, "site", specs, client), client)} == {"deployed"}
    emu.reset_calls()
    client = make_client(emu)           # the next run: its own client (listings are cached per run)
    results = deployer.apply(deployer.plan(b, "site", specs, client), client)
    assert {r.status for r in results} == {"unchanged"} and emu.write_calls() == []
    actions = [c.action for c in emu.calls]
    assert actions.count("DescribeCdnHttpsDomainList") == 3 and actions.count("DescribeDcdnHttpsDomainList") == 3
    assert "DescribeDomainCertificateInfo" not in actions and "DescribeDcdnDomainCertificateInfo" not in actions


def test_a_dcdn_domain_the_listing_does_not_show_is_read_before_it_is_written(emulator_factory):  # noqa: F811
    emu = emulator_factory(listing_lag=5)
    emu.add_dcdn_domain("d.example.test")
    client = make_client(emu)
    long_lived = bundle(days=200)
    deployer.apply(deployer.plan(long_lived, "old", targets.specs(dcdn="d.example.test"), client), client)
    assert emu.dcdn_state("d.example.test")["serial"] == long_lived.cert.serial_number
    emu.reset_calls()
    [r] = deployer.plan(bundle(days=90), "site", targets.specs(dcdn="d.example.test"), client).results
    assert r.status == "refused" and "--force" in r.reason         # the listing lagged; the read did not
    assert [c.action for c in emu.calls].count("DescribeDcdnDomainCertificateInfo") == 1
