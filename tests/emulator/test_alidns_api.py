"""Alidns through the real SDK: records, their rules, listings and the LastOperationNotFinished option."""

import threading

import pytest
from aliyunsdkalidns.request.v20150109.AddDomainRecordRequest import AddDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DeleteDomainRecordRequest import DeleteDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainRecordsRequest import DescribeDomainRecordsRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainsRequest import DescribeDomainsRequest
from aliyunsdkalidns.request.v20150109.DescribeSubDomainRecordsRequest import DescribeSubDomainRecordsRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.emulator import sdk
from tests.emulator.sdk import call, req

ZONE = "example.test"


@pytest.fixture
def dns(emu):
    emu.add_dns_zone(ZONE)
    return emu


def add(client, emu, rr, value, rtype="TXT", zone=ZONE, **extra):
    return call(client, emu, req(AddDomainRecordRequest, DomainName=zone, RR=rr, Type=rtype, Value=value, **extra))


def error_of(fn, *args, **kwargs):
    with pytest.raises(ServerException) as info:
        fn(*args, **kwargs)
    return info.value.get_http_status(), info.value.get_error_code()


def test_add_describe_delete(dns, client):
    answer = add(client, dns, "_acme-challenge", "token-1", TTL=600)
    assert set(answer) == {"RequestId", "RecordId"} and isinstance(answer["RecordId"], str)
    listing = call(client, dns, req(DescribeDomainRecordsRequest, DomainName=ZONE))
    record = listing["DomainRecords"]["Record"][0]
    assert listing["TotalCount"] == 1 and listing["PageNumber"] == 1 and listing["PageSize"] == 20
    assert (record["RecordId"], record["RR"], record["Type"], record["Value"], record["TTL"], record["Line"],
            record["Status"]) == (answer["RecordId"], "_acme-challenge", "TXT", "token-1", 600, "default", "ENABLE")
    assert isinstance(record["CreateTimestamp"], int)
    deleted = call(client, dns, req(DeleteDomainRecordRequest, RecordId=answer["RecordId"]))
    assert deleted["RecordId"] == answer["RecordId"] and dns.dns_records(ZONE) == []


def test_record_rules(dns, client):
    add(client, dns, "_acme-challenge", "v1")
    assert error_of(add, client, dns, "_acme-challenge", "v1") == (400, "DomainRecordDuplicate")
    add(client, dns, "_acme-challenge", "v2")                       # another value, same name: fine
    assert error_of(add, client, dns, "_acme-challenge", "v3", TTL=60) == (400, "QuotaExceeded.TTL")
    assert error_of(add, client, dns, "www", "v", zone="nope.test") == (400, "InvalidDomainName.NoExist")
    add(client, dns, "www", "target.example.net", rtype="CNAME")
    assert error_of(add, client, dns, "www", "127.0.0.1", rtype="A") == (400, "DomainRecordConflict")
    assert error_of(call, client, dns, req(DeleteDomainRecordRequest, RecordId="999")) == \
        (400, "DomainRecordNotBelongToUser")
    missing = req(AddDomainRecordRequest, DomainName=ZONE, Type="TXT", Value="x")
    assert error_of(call, client, dns, missing) == (400, "MissingParameter")
    assert [r["value"] for r in dns.dns_records(ZONE)] == ["v1", "v2", "target.example.net"]


def test_minimum_ttl_is_configurable(make_emu, client):
    emu = make_emu(default_dns_ttl_min=1)
    emu.add_dns_zone(ZONE)
    add(client, emu, "_acme-challenge", "v", TTL=1)
    assert emu.dns_records(ZONE)[0]["ttl"] == 1


def test_record_filters_and_paging(dns, client):
    for i in range(3):
        add(client, dns, "_acme-challenge.host%d" % i, "value-%d" % i)
    add(client, dns, "www", "127.0.0.1", rtype="A")

    def rrs(**params):
        data = call(client, dns, req(DescribeDomainRecordsRequest, DomainName=ZONE, **params))
        return data["TotalCount"], [r["RR"] for r in data["DomainRecords"]["Record"]]

    assert rrs(TypeKeyWord="A") == (1, ["www"])
    assert rrs(RRKeyWord="host1") == (1, ["_acme-challenge.host1"])
    assert rrs(ValueKeyWord="value-2") == (1, ["_acme-challenge.host2"])
    assert rrs(PageSize=2, PageNumber=2) == (4, ["_acme-challenge.host2", "www"])
    assert error_of(rrs, PageSize=501) == (400, "InvalidParameter")


def test_sub_domain_records(dns, client):
    add(client, dns, "_acme-challenge", "base")
    add(client, dns, "_acme-challenge", "wildcard")
    add(client, dns, "_acme-challenge.www", "other")
    data = call(client, dns, req(DescribeSubDomainRecordsRequest, SubDomain="_acme-challenge.example.test"))
    assert data["TotalCount"] == 2
    assert sorted(r["Value"] for r in data["DomainRecords"]["Record"]) == ["base", "wildcard"]
    assert error_of(call, client, dns, req(DescribeSubDomainRecordsRequest, SubDomain="_acme-challenge.nope.test")) \
        == (400, "InvalidDomainName.NoExist")


def test_describe_domains_paging(dns, client):
    for i in range(4):
        dns.add_dns_zone("zone%d.test" % i)
    data = call(client, dns, req(DescribeDomainsRequest, PageSize=2, PageNumber=3))
    assert data["TotalCount"] == 5 and [d["DomainName"] for d in data["Domains"]["Domain"]] == ["zone3.test"]
    assert call(client, dns, req(DescribeDomainsRequest))["PageSize"] == 20
    assert error_of(call, client, dns, req(DescribeDomainsRequest, PageSize=101)) == (400, "InvalidParameter")


def test_overlapping_writes_on_one_zone_can_fail_with_last_operation_not_finished(make_emu):
    emu = make_emu(dns_conflict_rate=1.0, latency_ms=300)
    emu.add_dns_zone(ZONE)
    codes = []

    def write(value):
        try:
            add(sdk.client(), emu, "_acme-challenge", value)
            codes.append(None)
        except ServerException as exc:
            codes.append(exc.get_error_code())

    threads = [threading.Thread(target=write, args=("v%d" % i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes, key=str) == ["LastOperationNotFinished", None]
    assert len(emu.dns_records(ZONE)) == 1
    add(sdk.client(), emu, "_acme-challenge", "later")              # no overlap, no failure
    assert len(emu.dns_records(ZONE)) == 2
