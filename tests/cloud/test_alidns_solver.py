"""The Alidns dns-01 solver against the emulator (and pebble-challtestsrv for propagation)."""

import threading

import pytest

from acme_aliyun.challenges.base import Challenge, SolverError
from acme_aliyun.cloud.alidns import AlidnsSolver
from tests.cloud.emuhelp import make_client


def ch(identifier, token):
    return Challenge(identifier, "dns-01", token, token + ".thumbprint")


WILD = ch("example.test", "tok-wildcard")      # *.example.test validates at example.test too
APEX = ch("example.test", "tok-apex")
DEEP = ch("a.b.sub.example.test", "tok-deep")


def txt(emu, zone):
    return sorted((r["rr"], r["value"]) for r in emu.dns_records(zone) if r["type"] == "TXT")


@pytest.fixture
def zones(emu):
    emu.add_dns_zone("example.test")
    emu.add_dns_zone("sub.example.test")        # the longer suffix must win for DEEP
    emu.add_dns_zone("other.test")
    return emu


def test_present_cleanup_longest_zone_and_ttl(zones):
    solver = AlidnsSolver(make_client(zones))
    assert solver.challenge_type == "dns-01"
    solver.present([WILD, APEX, DEEP])
    assert txt(zones, "example.test") == sorted([("_acme-challenge", WILD.dns_txt_value),
                                                 ("_acme-challenge", APEX.dns_txt_value)])
    assert txt(zones, "sub.example.test") == [("_acme-challenge.a.b", DEEP.dns_txt_value)]
    assert {r["ttl"] for r in zones.dns_records("example.test") if r["type"] == "TXT"} == {600}
    # an unrelated TXT at the same name is left alone
    make_client(zones).call("dns", "AddDomainRecord", {"DomainName": "example.test", "RR": "_acme-challenge",
                                                       "Type": "TXT", "Value": "someone-else"}, write=True)
    solver.cleanup([WILD, APEX, DEEP])
    assert txt(zones, "example.test") == [("_acme-challenge", "someone-else")]
    assert txt(zones, "sub.example.test") == []


def test_duplicate_is_success_and_zones_are_listed_once(zones):
    client = make_client(zones)
    solver = AlidnsSolver(client)
    solver.present([APEX])
    solver.present([APEX])                      # DomainRecordDuplicate -> fine
    assert txt(zones, "example.test") == [("_acme-challenge", APEX.dns_txt_value)]
    assert [c.action for c in zones.calls].count("DescribeDomains") == 1
    assert "DomainRecordDuplicate" in [c.code for c in zones.calls]


def test_cleanup_after_crash_with_a_new_solver(zones):
    AlidnsSolver(make_client(zones)).present([APEX, DEEP])
    fresh = AlidnsSolver(make_client(zones))   # nothing in memory from the first run
    fresh.cleanup([APEX, DEEP])
    assert txt(zones, "example.test") == [] and txt(zones, "sub.example.test") == []
    fresh.cleanup([APEX, DEEP])                 # already gone: no error
    assert [c for c in zones.calls if c.action == "DeleteDomainRecord"].__len__() == 2


def test_unhosted_name_is_a_solver_error(zones):
    with pytest.raises(SolverError, match="no Alibaba Cloud DNS zone"):
        AlidnsSolver(make_client(zones)).present([ch("www.elsewhere.test", "t")])


def test_concurrent_writes_are_serialised_and_retried(emulator_factory):
    emu = emulator_factory(dns_conflict_rate=1.0)   # any overlapping write on a zone would fail
    emu.add_dns_zone("example.test")
    solver = AlidnsSolver(make_client(emu))
    challenges = [ch("h%d.example.test" % i, "tok%d" % i) for i in range(8)]
    threads = [threading.Thread(target=solver.present, args=([c],)) for c in challenges]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(txt(emu, "example.test")) == 8
    assert "LastOperationNotFinished" not in [c.code for c in emu.calls]


def test_wait_until_visible_against_challtestsrv(emulator_factory, tmp_path):
    from tests.pebble import ChallTestSrv

    srv = ChallTestSrv(str(tmp_path)).start()
    try:
        emu = emulator_factory(challtestsrv_url=srv.url)
        emu.add_dns_zone("example.test")
        client = make_client(emu, dns_wait=True)
        solver = AlidnsSolver(client, nameservers=[srv.dns_address])
        with pytest.raises(SolverError, match="not visible"):
            solver.wait_until_visible([APEX], timeout=0.5)
        solver.present([WILD, APEX])
        solver.wait_until_visible([WILD, APEX], timeout=10)
        solver.cleanup([WILD, APEX])
        with pytest.raises(SolverError):
            solver.wait_until_visible([APEX], timeout=0.3)
        # No timeout given (what the order does): DNSWaitTimeout bounds the wait.
        limited = AlidnsSolver(make_client(emu, dns_wait=True, dns_wait_timeout=1.0), nameservers=[srv.dns_address])
        said = []
        limited.progress = lambda msg, limit=None: said.append((msg, limit))     # what the order sets (issue 14.15)
        with pytest.raises(SolverError, match=r"after 1s"):
            limited.wait_until_visible([APEX])
        assert said == [("waiting for DNS to propagate (1 TXT answer(s) to see)", 1.0)]
    finally:
        srv.stop()


def test_no_wait_unless_configured(zones):
    AlidnsSolver(make_client(zones), nameservers=["127.0.0.1:1"]).wait_until_visible([APEX], timeout=5)
    assert zones.calls == []


def test_concurrent_orders_in_one_zone_each_remove_only_their_own_records(zones):
    """Two orders side by side for the same name (two certificates covering example.test):
    distinct TXT values, each deleted by the RecordId its own order got back; the zone
    list is read once for the whole run (one client, its listing cache)."""
    client = make_client(zones)
    first, second = AlidnsSolver(client), AlidnsSolver(client)
    mine, theirs = ch("example.test", "order-one"), ch("example.test", "order-two")
    threads = [threading.Thread(target=s.present, args=([c],)) for s, c in ((first, mine), (second, theirs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert txt(zones, "example.test") == sorted([("_acme-challenge", mine.dns_txt_value),
                                                 ("_acme-challenge", theirs.dns_txt_value)])
    zones.reset_calls()
    first.cleanup([mine])
    assert txt(zones, "example.test") == [("_acme-challenge", theirs.dns_txt_value)]
    assert [c.action for c in zones.calls] == ["DeleteDomainRecord"]      # by id: no listing needed
    second.cleanup([theirs])
    assert txt(zones, "example.test") == []
    assert [c.action for c in zones.calls].count("DescribeDomains") == 0
