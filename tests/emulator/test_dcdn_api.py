"""DCDN through the real SDK: certificate write and the two describe calls."""

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkdcdn.request.v20180115.DescribeDcdnDomainCertificateInfoRequest import (
    DescribeDcdnDomainCertificateInfoRequest,
)
from aliyunsdkdcdn.request.v20180115.DescribeDcdnHttpsDomainListRequest import DescribeDcdnHttpsDomainListRequest
from aliyunsdkdcdn.request.v20180115.SetDcdnDomainSSLCertificateRequest import SetDcdnDomainSSLCertificateRequest
from cryptography import x509

from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator.sdk import call, req

DOMAIN = "d1.example.test"


def test_set_and_describe(emu, client):
    emu.add_dcdn_domain(DOMAIN)
    with pytest.raises(ServerException) as info:
        call(client, emu, req(DescribeDcdnHttpsDomainListRequest))
    assert info.value.get_error_code() == "NoHttpsDomain"
    pem, key = make_cert([DOMAIN])
    answer = call(client, emu, req(SetDcdnDomainSSLCertificateRequest, DomainName=DOMAIN, SSLProtocol="on",
                                   CertName="le-d1", CertType="upload", SSLPub=pem, SSLPri=key))
    assert set(answer) == {"RequestId"}
    info = call(client, emu, req(DescribeDcdnDomainCertificateInfoRequest, DomainName=DOMAIN))
    cert = info["CertInfos"]["CertInfo"][0]
    leaf = x509.load_pem_x509_certificate(pem.encode())
    assert (cert["CertName"], cert["SSLProtocol"], cert["CertDomainName"]) == ("le-d1", "on", DOMAIN)
    assert cert["CertExpireTime"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert x509.load_pem_x509_certificate(cert["SSLPub"].encode()) == leaf
    listing = call(client, emu, req(DescribeDcdnHttpsDomainListRequest))
    assert [(i["DomainName"], i["CertName"], i["CertStatus"]) for i in listing["CertInfos"]["CertInfo"]] == \
        [(DOMAIN, "le-d1", "ok")]
    state = emu.dcdn_state(DOMAIN)
    assert (state["cert_pem"], state["key_pem"], state["cert_id"]) == (pem, key, cert["CertId"])


def test_unknown_domain(emu, client):
    with pytest.raises(ServerException) as info:
        call(client, emu, req(DescribeDcdnDomainCertificateInfoRequest, DomainName="nope.example.test"))
    assert (info.value.get_http_status(), info.value.get_error_code()) == (404, "InvalidDomain.NotFound")
