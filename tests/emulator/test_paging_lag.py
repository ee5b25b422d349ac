"""Switches for testing production's reads: a server-side page-size cap, and bulk listings that trail
writes (listing lag) while per-domain reads are current."""

import pytest
from aliyunsdkcdn.request.v20180510.DescribeCdnHttpsDomainListRequest import DescribeCdnHttpsDomainListRequest
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.DescribeUserDomainsRequest import DescribeUserDomainsRequest
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcloudapi.request.v20160714.DescribeApiGroupRequest import DescribeApiGroupRequest
from aliyunsdkcloudapi.request.v20160714.DescribeDomainRequest import DescribeDomainRequest
from aliyunsdkcloudapi.request.v20160714.SetDomainCertificateRequest import SetDomainCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkdcdn.request.v20180115.DescribeDcdnHttpsDomainListRequest import DescribeDcdnHttpsDomainListRequest
from aliyunsdkdcdn.request.v20180115.SetDcdnDomainSSLCertificateRequest import SetDcdnDomainSSLCertificateRequest

from tests.aliyun_emulator import EmulatorConfig
from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator.sdk import GROUP, call, cas, form, req

DOMAINS = ["c%02d.example.test" % i for i in range(25)]


def code_of(fn, *args):
    with pytest.raises(ServerException) as info:
        fn(*args)
    return info.value.get_error_code()


def _https_names(client, emu, request_class, **params):
    answer = call(client, emu, req(request_class, **params))
    return answer["TotalCount"], [i["DomainName"] for i in answer["CertInfos"]["CertInfo"]]


def test_page_size_cap_shrinks_every_listing(make_emu, client):
    emu = make_emu(page_size_cap=20)
    pem, key = make_cert(["*.example.test"])
    for name in DOMAINS:
        emu.add_cdn_domain(name, cert_pem=pem, key_pem=key, cert_name="seeded")
    total, first = _https_names(client, emu, DescribeCdnHttpsDomainListRequest, PageSize=500)
    assert total == 25 and first == DOMAINS[:20]
    total, second = _https_names(client, emu, DescribeCdnHttpsDomainListRequest, PageSize=500, PageNumber=2)
    assert second == DOMAINS[20:]
    users = call(client, emu, req(DescribeUserDomainsRequest, PageSize=500))
    assert (users["PageSize"], len(users["Domains"]["PageData"]), users["TotalCount"]) == (20, 20, 25)
    small = call(client, emu, req(DescribeUserDomainsRequest, PageSize=5))
    assert len(small["Domains"]["PageData"]) == 5


def test_page_size_cap_applies_to_cas(make_emu, client):
    emu = make_emu(page_size_cap=2)
    for i in range(3):
        pem, key = make_cert(["p%d.example.test" % i])
        call(client, emu, cas("UploadUserCertificate", {"Cert": pem, "Key": key}, Name="p%d" % i))
    page = call(client, emu, cas("ListUserCertificateOrder", OrderType="UPLOAD", ShowSize=50))
    assert (page["ShowSize"], len(page["CertificateOrderList"]), page["TotalCount"]) == (2, 2, 3)


def test_page_size_cap_must_be_positive():
    with pytest.raises(ValueError):
        EmulatorConfig(page_size_cap=0)


def _set_cdn(client, emu, domain, name):
    pem, key = make_cert([domain])
    call(client, emu, form(SetCdnDomainSSLCertificateRequest, {"SSLPub": pem, "SSLPri": key},
                           DomainName=domain, SSLProtocol="on", CertName=name))


def test_cdn_listing_trails_a_write_for_n_calls(make_emu, client):
    emu = make_emu(listing_lag=2)
    emu.add_cdn_domain(DOMAINS[0])
    emu.add_cdn_domain(DOMAINS[1])
    _set_cdn(client, emu, DOMAINS[0], "first")
    info = req(DescribeDomainCertificateInfoRequest, DomainName=DOMAINS[0])
    assert call(client, emu, info)["CertInfos"]["CertInfo"][0]["CertName"] == "first"     # per-domain: current
    for _ in range(2):                                      # the account had no HTTPS domain before the write
        assert code_of(call, client, emu, req(DescribeCdnHttpsDomainListRequest)) == "NoHttpsDomain"
    assert _https_names(client, emu, DescribeCdnHttpsDomainListRequest) == (1, [DOMAINS[0]])
    _set_cdn(client, emu, DOMAINS[1], "second")
    assert _https_names(client, emu, DescribeCdnHttpsDomainListRequest) == (1, [DOMAINS[0]])
    _set_cdn(client, emu, DOMAINS[0], "third")              # another write restarts the count, keeps the old copy
    listed = call(client, emu, req(DescribeCdnHttpsDomainListRequest))["CertInfos"]["CertInfo"]
    assert [(i["DomainName"], i["CertName"]) for i in listed] == [(DOMAINS[0], "first")]
    listed = call(client, emu, req(DescribeCdnHttpsDomainListRequest))["CertInfos"]["CertInfo"]
    assert [(i["DomainName"], i["CertName"]) for i in listed] == [(DOMAINS[0], "first")]
    listed = call(client, emu, req(DescribeCdnHttpsDomainListRequest))["CertInfos"]["CertInfo"]
    assert [(i["DomainName"], i["CertName"]) for i in listed] == [(DOMAINS[0], "third"), (DOMAINS[1], "second")]


def test_a_refused_write_starts_no_lag(make_emu, client):
    emu = make_emu(listing_lag=3)
    emu.add_dcdn_domain("d1.example.test")
    pem, key = make_cert(["d1.example.test"])
    call(client, emu, form(SetDcdnDomainSSLCertificateRequest, {"SSLPub": pem, "SSLPri": key},
                           DomainName="d1.example.test", SSLProtocol="on", CertName="ok"))
    for _ in range(3):
        assert code_of(call, client, emu, req(DescribeDcdnHttpsDomainListRequest)) == "NoHttpsDomain"
    assert _https_names(client, emu, DescribeDcdnHttpsDomainListRequest) == (1, ["d1.example.test"])
    pem2, key2 = make_cert(["d1.example.test"])
    taken = form(SetDcdnDomainSSLCertificateRequest, {"SSLPub": pem2, "SSLPri": key2},
                 DomainName="d1.example.test", SSLProtocol="on", CertName="ok")
    assert code_of(call, client, emu, taken) == "Certificate.Duplicated"
    assert _https_names(client, emu, DescribeDcdnHttpsDomainListRequest) == (1, ["d1.example.test"])


def test_api_group_listing_trails_while_describe_domain_is_current(make_emu, client):
    emu = make_emu(listing_lag=1)
    emu.add_api_group(GROUP, ["api.example.test"])
    pem, key = make_cert(["api.example.test"])
    call(client, emu, form(SetDomainCertificateRequest, {"CertificateBody": pem, "CertificatePrivateKey": key},
                           GroupId=GROUP, DomainName="api.example.test", CertificateName="new"))
    one = req(DescribeDomainRequest, GroupId=GROUP, DomainName="api.example.test")
    assert call(client, emu, one)["CertificateName"] == "new"
    group = req(DescribeApiGroupRequest, GroupId=GROUP)
    items = lambda: call(client, emu, group)["CustomDomains"]["DomainItem"]      # noqa: E731
    assert items()[0]["CertificateName"] == ""
    assert items()[0]["CertificateName"] == "new"
