"""Wildcard accelerated domains: CDN and DCDN name them ``.example.test``; ``*.example.test`` is not a
domain of the account; a ``*.example.test`` certificate covers ``.example.test``."""

import pytest
from aliyunsdkcdn.request.v20180510.DescribeCdnHttpsDomainListRequest import DescribeCdnHttpsDomainListRequest
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.DescribeUserDomainsRequest import DescribeUserDomainsRequest
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkdcdn.request.v20180115.DescribeDcdnDomainCertificateInfoRequest import (
    DescribeDcdnDomainCertificateInfoRequest,
)
from aliyunsdkdcdn.request.v20180115.SetDcdnDomainSSLCertificateRequest import SetDcdnDomainSSLCertificateRequest

from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator.sdk import call, cas, form, req

WILD = ".example.test"


@pytest.fixture
def wild(emu):
    emu.add_cdn_domain(WILD)
    emu.add_dcdn_domain("*.dyn.test")           # the seed helper stores it as .dyn.test
    return emu


def set_cdn(client, emu, domain, pem, key, name):
    return call(client, emu, form(SetCdnDomainSSLCertificateRequest, {"SSLPub": pem, "SSLPri": key},
                                  DomainName=domain, SSLProtocol="on", CertName=name))


def error_of(fn, *args, **kwargs):
    with pytest.raises(ServerException) as info:
        fn(*args, **kwargs)
    return info.value.get_http_status(), info.value.get_error_code()


def test_wildcard_domain_is_listed_with_a_leading_dot(wild, client):
    listed = call(client, wild, req(DescribeUserDomainsRequest))["Domains"]["PageData"]
    assert [d["DomainName"] for d in listed] == [WILD]
    assert wild.dcdn_state(".dyn.test")["domain"] == ".dyn.test"


def test_star_form_is_not_a_domain_of_the_account(wild, client):
    pem, key = make_cert(["*.example.test"])
    assert error_of(set_cdn, client, wild, "*.example.test", pem, key, "w") == (404, "InvalidDomain.NotFound")
    info = req(DescribeDomainCertificateInfoRequest, DomainName="*.example.test")
    assert error_of(call, client, wild, info) == (404, "InvalidDomain.NotFound")
    assert wild.cdn_state(WILD)["cert_name"] is None


def test_a_wildcard_certificate_covers_the_dot_domain(wild, client):
    pem, key = make_cert(["example.test", "*.example.test"])
    set_cdn(client, wild, WILD, pem, key, "wild-1")
    info = call(client, wild, req(DescribeDomainCertificateInfoRequest, DomainName=WILD))["CertInfos"]["CertInfo"][0]
    assert (info["DomainName"], info["CertName"], info["ServerCertificateStatus"]) == (WILD, "wild-1", "on")
    listing = call(client, wild, req(DescribeCdnHttpsDomainListRequest))["CertInfos"]["CertInfo"]
    assert [(i["DomainName"], i["CertStatus"]) for i in listing] == [(WILD, "ok")]


@pytest.mark.parametrize("names", [["example.test"], ["www.example.test"], ["*.other.test"]])
def test_other_certificates_do_not_cover_it(wild, client, names):
    pem, key = make_cert(names)
    assert error_of(set_cdn, client, wild, WILD, pem, key, "no") == (400, "SetDomainCertificate.ParameterError")


def test_dcdn_wildcard_by_cas_reference(wild, client):
    pem, key = make_cert(["*.dyn.test"])
    cert_id = call(client, wild, cas("UploadUserCertificate", {"Cert": pem, "Key": key}, Name="dyn"))["CertId"]
    call(client, wild, req(SetDcdnDomainSSLCertificateRequest, DomainName=".dyn.test", SSLProtocol="on",
                           CertType="cas", CertId=cert_id))
    info = call(client, wild, req(DescribeDcdnDomainCertificateInfoRequest, DomainName=".dyn.test"))
    assert info["CertInfos"]["CertInfo"][0]["CertName"] == "dyn"
    star = req(SetDcdnDomainSSLCertificateRequest, DomainName="*.dyn.test", SSLProtocol="on", CertType="cas",
               CertId=cert_id)
    assert error_of(call, client, wild, star) == (404, "InvalidDomain.NotFound")
