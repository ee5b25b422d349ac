"""Alidns TXT records mirrored into a real pebble-challtestsrv, checked with DNS queries."""

import dns.message
import dns.query
import pytest
from aliyunsdkalidns.request.v20150109.AddDomainRecordRequest import AddDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DeleteDomainRecordRequest import DeleteDomainRecordRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.aliyun_emulator import Emulator, EmulatorConfig
from tests.emulator.sdk import call, req
from tests.netutil import free_port
from tests.pebble import ChallTestSrv

ZONE = "example.test"


@pytest.fixture
def challtestsrv(tmp_path):
    server = ChallTestSrv(str(tmp_path)).start()
    yield server
    server.stop()


@pytest.fixture
def mirrored(make_emu, challtestsrv):
    emu = make_emu(challtestsrv_url=challtestsrv.url)
    emu.add_dns_zone(ZONE)
    return emu


def txt(server, name):
    answer = dns.query.udp(dns.message.make_query(name, "TXT"), "127.0.0.1", port=server.dns_port, timeout=2)
    return sorted(b"".join(rdata.strings).decode() for rrset in answer.answer for rdata in rrset)


def add(client, emu, rr, value, rtype="TXT"):
    return call(client, emu, req(AddDomainRecordRequest, DomainName=ZONE, RR=rr, Type=rtype, Value=value))["RecordId"]


def test_two_values_for_one_name_are_both_served_and_removed_one_by_one(mirrored, challtestsrv, client):
    name = "_acme-challenge.example.test."
    base = add(client, mirrored, "_acme-challenge", "base-token")
    wildcard = add(client, mirrored, "_acme-challenge", "wildcard-token")
    add(client, mirrored, "_acme-challenge.www", "www-token")
    assert txt(challtestsrv, name) == ["base-token", "wildcard-token"]
    call(client, mirrored, req(DeleteDomainRecordRequest, RecordId=base))
    assert txt(challtestsrv, name) == ["wildcard-token"]
    call(client, mirrored, req(DeleteDomainRecordRequest, RecordId=wildcard))
    assert txt(challtestsrv, name) == []
    assert txt(challtestsrv, "_acme-challenge.www.example.test.") == ["www-token"]


def test_names_are_mirrored_lower_case_and_apex_is_the_zone(mirrored, challtestsrv, client):
    add(client, mirrored, "_ACME-Challenge.WWW", "mixed")
    add(client, mirrored, "@", "apex")
    add(client, mirrored, "www", "127.0.0.1", rtype="A")           # not a TXT record: not mirrored
    assert txt(challtestsrv, "_acme-challenge.www.example.test.") == ["mixed"]
    assert txt(challtestsrv, "example.test.") == ["apex"]


def test_failed_mirror_stores_nothing(make_emu, client):
    emu = make_emu(challtestsrv_url="http://127.0.0.1:%d" % free_port())   # nothing listens
    emu.add_dns_zone(ZONE)
    with pytest.raises(ServerException) as info:
        add(client, emu, "_acme-challenge", "token")
    assert (info.value.get_http_status(), info.value.get_error_code()) == (500, "InternalError")
    assert emu.dns_records(ZONE) == []


def test_mirror_must_be_on_loopback():
    with pytest.raises(ValueError):
        Emulator(EmulatorConfig(challtestsrv_url="http://192.0.2.1:8055"))
