"""CDN and DCDN set by SSL Certificates Service reference (CertType=cas, CertId, CertRegion), and what
their describe calls show afterwards — through the real SDK."""

import pytest
from aliyunsdkcdn.request.v20180510.BatchSetCdnDomainServerCertificateRequest import (
    BatchSetCdnDomainServerCertificateRequest,
)
from aliyunsdkcdn.request.v20180510.DescribeCdnHttpsDomainListRequest import DescribeCdnHttpsDomainListRequest
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkdcdn.request.v20180115.BatchSetDcdnDomainCertificateRequest import (
    BatchSetDcdnDomainCertificateRequest,
)
from aliyunsdkdcdn.request.v20180115.DescribeDcdnDomainCertificateInfoRequest import (
    DescribeDcdnDomainCertificateInfoRequest,
)
from aliyunsdkdcdn.request.v20180115.DescribeDcdnHttpsDomainListRequest import DescribeDcdnHttpsDomainListRequest
from aliyunsdkdcdn.request.v20180115.SetDcdnDomainSSLCertificateRequest import SetDcdnDomainSSLCertificateRequest
from cryptography import x509

from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator import sdk
from tests.emulator.sdk import call, cas, req

C1, C2, D1 = "cdn1.example.test", "cdn2.example.test", "d1.example.test"


@pytest.fixture
def acct(emu):
    for name in (C1, C2):
        emu.add_cdn_domain(name)
    emu.add_dcdn_domain(D1)
    return emu


def upload(client, emu, name, names):
    pem, key = make_cert(names)
    answer = call(client, emu, cas("UploadUserCertificate", {"Cert": pem, "Key": key}, Name=name))
    return answer["CertId"], pem


def set_cdn(client, emu, domain, **params):
    return call(client, emu, req(SetCdnDomainSSLCertificateRequest, DomainName=domain, SSLProtocol="on",
                                 CertType="cas", **params))


def set_dcdn(client, emu, domain, **params):
    return call(client, emu, req(SetDcdnDomainSSLCertificateRequest, DomainName=domain, SSLProtocol="on",
                                 CertType="cas", **params))


def error_of(fn, *args, **kwargs):
    with pytest.raises(ServerException) as info:
        fn(*args, **kwargs)
    return info.value.get_http_status(), info.value.get_error_code()


def test_one_cas_certificate_serves_cdn_and_dcdn_domains(acct, client):
    cert_id, pem = upload(client, acct, "hub-1", [C1, C2, D1])
    for domain in (C1, C2):
        set_cdn(client, acct, domain, CertId=cert_id)
    set_dcdn(client, acct, D1, CertId=cert_id, CertRegion="cn-hangzhou")
    leaf = x509.load_pem_x509_certificate(pem.encode())
    info = call(client, acct, req(DescribeDomainCertificateInfoRequest, DomainName=C1))["CertInfos"]["CertInfo"][0]
    assert (info["CertName"], info["CertId"], info["CertType"], info["CertRegion"]) == \
        ("hub-1", str(cert_id), "cas", "cn-hangzhou")
    assert x509.load_pem_x509_certificate(info["ServerCertificate"].encode()) == leaf
    assert info["CertExpireTime"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["ServerCertificateStatus"] == "on"
    dinfo = call(client, acct, req(DescribeDcdnDomainCertificateInfoRequest, DomainName=D1))["CertInfos"]["CertInfo"][0]
    assert (dinfo["CertName"], dinfo["CertId"], dinfo["CertType"], dinfo["SSLProtocol"]) == \
        ("hub-1", str(cert_id), "cas", "on")
    assert x509.load_pem_x509_certificate(dinfo["SSLPub"].encode()) == leaf
    cdn_list = call(client, acct, req(DescribeCdnHttpsDomainListRequest))["CertInfos"]["CertInfo"]
    assert {(i["DomainName"], i["CertName"], i["CertType"], i["CertStatus"]) for i in cdn_list} == \
        {(C1, "hub-1", "cas", "ok"), (C2, "hub-1", "cas", "ok")}
    dcdn_list = call(client, acct, req(DescribeDcdnHttpsDomainListRequest))["CertInfos"]["CertInfo"]
    assert [(i["DomainName"], i["CertName"], i["CertType"]) for i in dcdn_list] == [(D1, "hub-1", "cas")]
    state = acct.dcdn_state(D1)
    assert (state["cert_type"], state["cert_id"], state["serial"]) == ("cas", str(cert_id), leaf.serial_number)
    assert len(acct.cas_certificates()) == 1 and acct.calls.key_in_query() == []


def test_cert_region_selects_the_site(acct, client):
    intl = sdk.client()
    intl.set_region_id("ap-southeast-1")
    cert_id, _ = upload(intl, acct, "intl-1", [C1])
    assert error_of(set_cdn, client, acct, C1, CertId=cert_id) == (400, "Certificate.NotFind")
    assert error_of(set_cdn, client, acct, C1, CertId=cert_id, CertRegion="eu-central-1") == \
        (400, "Abs.CertRegion.ValueNotSupported")
    assert acct.cdn_state(C1)["cert_name"] is None
    set_cdn(client, acct, C1, CertId=cert_id, CertRegion="ap-southeast-1")
    state = acct.cdn_state(C1)
    assert (state["cert_name"], state["cert_region"], state["cert_type"]) == ("intl-1", "ap-southeast-1", "cas")


@pytest.mark.parametrize("what, params, code", [
    ("no CertId", {}, "CertId.MissingParameter"),
    ("global id form", {"CertId": "7-cn-hangzhou"}, "InvalidParameter"),
    ("unknown id", {"CertId": 99}, "Certificate.NotFind"),
])
def test_bad_references_change_nothing(acct, client, what, params, code):
    upload(client, acct, "hub", [C1])
    assert error_of(set_cdn, client, acct, C1, **params) == (400, code)
    assert error_of(set_dcdn, client, acct, D1, **params) == (400, code)
    assert acct.cdn_state(C1)["cert_name"] is None and acct.dcdn_state(D1)["cert_name"] is None


def test_a_reference_must_cover_the_domain(acct, client):
    cert_id, _ = upload(client, acct, "other", ["other.example.test"])
    assert error_of(set_cdn, client, acct, C1, CertId=cert_id) == (400, "SetDomainCertificate.ParameterError")
    assert acct.cdn_state(C1)["cert_name"] is None


def test_batch_calls_refuse_a_cas_reference_unless_switched(acct, make_emu, client):
    upload(client, acct, "hub", [C1, C2, D1])
    cdn_batch = req(BatchSetCdnDomainServerCertificateRequest, DomainName=C1 + "," + C2, SSLProtocol="on",
                    CertType="cas", CertName="hub")
    assert error_of(call, client, acct, cdn_batch) == (400, "InvalidParameter")
    dcdn_batch = req(BatchSetDcdnDomainCertificateRequest, DomainName=D1, SSLProtocol="on", CertType="cas",
                     CertName="hub")
    assert error_of(call, client, acct, dcdn_batch) == (400, "InvalidParameter")
    relaxed = make_emu(batch_refuses_cas=False)
    relaxed.add_cdn_domain(C1)
    upload(client, relaxed, "hub", [C1])
    call(client, relaxed, req(BatchSetCdnDomainServerCertificateRequest, DomainName=C1, SSLProtocol="on",
                              CertType="cas", CertName="hub"))
    assert (relaxed.cdn_state(C1)["cert_name"], relaxed.cdn_state(C1)["cert_type"]) == ("hub", "cas")


def test_dcdn_batch_has_no_force_set(acct, client):
    pem1, key1 = make_cert([D1])
    pem2, key2 = make_cert([D1])
    first = req(BatchSetDcdnDomainCertificateRequest, DomainName=D1, SSLProtocol="on", CertName="n", SSLPub=pem1,
                SSLPri=key1)
    call(client, acct, first)
    second = req(BatchSetDcdnDomainCertificateRequest, DomainName=D1, SSLProtocol="on", CertName="n", SSLPub=pem2,
                 SSLPri=key2)
    second.add_query_param("ForceSet", "1")
    assert error_of(call, client, acct, second) == (400, "Certificate.Duplicated")
    assert acct.dcdn_state(D1)["cert_pem"] == pem1


def test_a_referenced_certificate_cannot_be_deleted_until_no_domain_serves_it(acct, client):
    old_id, _ = upload(client, acct, "old", [C1])
    new_id, _ = upload(client, acct, "new", [C1])
    set_cdn(client, acct, C1, CertId=old_id)
    delete_old = cas("DeleteUserCertificate", CertId=old_id)
    assert error_of(call, client, acct, delete_old) == (400, "CertificateInUse")
    set_cdn(client, acct, C1, CertId=new_id)
    call(client, acct, cas("DeleteUserCertificate", CertId=old_id))
    assert [c["name"] for c in acct.cas_certificates()] == ["new"]
    assert acct.cdn_state(C1)["cert_name"] == "new"
