"""API Gateway (CloudAPI) through the real SDK. Its classes send every call as GET with all parameters in
the query; certificate writes here go as POST with the certificate and key in the form body, because
the emulator refuses a GET that carries the private key."""

import pytest
from aliyunsdkcloudapi.request.v20160714.DescribeApiGroupRequest import DescribeApiGroupRequest
from aliyunsdkcloudapi.request.v20160714.DescribeDomainRequest import DescribeDomainRequest
from aliyunsdkcloudapi.request.v20160714.SetDomainCertificateRequest import SetDomainCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from cryptography import x509

from tests.aliyun_emulator.testcerts import make_cert, make_key
from tests.emulator import sdk
from tests.emulator.sdk import GROUP, call, form, req

API, API2 = "api.example.test", "api2.example.test"


@pytest.fixture
def gw(emu):
    emu.add_api_group(GROUP, [API, API2], region="cn-hangzhou")
    return emu


def set_cert(client, emu, domain, pem, key, name="le-api", group=GROUP):
    return call(client, emu, form(SetDomainCertificateRequest, {"CertificateBody": pem, "CertificatePrivateKey": key},
                                  GroupId=group, DomainName=domain, CertificateName=name))


def error_of(fn, *args, **kwargs):
    with pytest.raises(ServerException) as info:
        fn(*args, **kwargs)
    return info.value.get_http_status(), info.value.get_error_code()


def test_set_certificate_and_read_it_back(gw, client):
    pem, key = make_cert([API])
    assert set(set_cert(client, gw, API, pem, key)) == {"RequestId"}
    leaf = x509.load_pem_x509_certificate(pem.encode())
    start_ms = int(leaf.not_valid_before_utc.timestamp() * 1000)
    end_ms = int(leaf.not_valid_after_utc.timestamp() * 1000)
    group = call(client, gw, req(DescribeApiGroupRequest, GroupId=GROUP))
    items = {i["DomainName"]: i for i in group["CustomDomains"]["DomainItem"]}
    assert set(items) == {API, API2} and group["RegionId"] == "cn-hangzhou"
    assert (items[API]["CertificateName"], items[API]["CertificateValidStart"],
            items[API]["CertificateValidEnd"]) == ("le-api", start_ms, end_ms)
    assert isinstance(items[API]["CertificateValidEnd"], int) and items[API2]["CertificateName"] == ""
    domain = call(client, gw, req(DescribeDomainRequest, GroupId=GROUP, DomainName=API))
    assert (domain["CertificateBody"], domain["CertificateValidEnd"]) == (pem, end_ms)
    assert domain["CertificateId"] == items[API]["CertificateId"] == gw.apigw_domain_state(GROUP, API)["cert_id"]
    assert gw.apigw_domain_state(GROUP, API)["key_pem"] == key
    assert gw.calls[0].write and gw.calls[0].targets == (API,)


def test_setting_again_replaces_the_certificate(gw, client):
    first_pem, first_key = make_cert([API])
    second_pem, second_key = make_cert([API])
    set_cert(client, gw, API, first_pem, first_key, "one")
    first_id = gw.apigw_domain_state(GROUP, API)["cert_id"]
    set_cert(client, gw, API, second_pem, second_key, "two")
    state = gw.apigw_domain_state(GROUP, API)
    assert (state["cert_name"], state["cert_pem"]) == ("two", second_pem) and state["cert_id"] != first_id


def test_group_and_domain_errors(gw, client):
    pem, key = make_cert([API, "unbound.example.test"])
    assert error_of(set_cert, client, gw, API, pem, key, group="0" * 32) == (404, "NotFoundApiGroup")
    assert error_of(set_cert, client, gw, "unbound.example.test", pem, key) == (404, "NotFoundDomain")
    elsewhere = sdk.client()
    elsewhere.set_region_id("cn-shanghai")      # the group lives in cn-hangzhou
    assert error_of(call, elsewhere, gw, req(DescribeApiGroupRequest, GroupId=GROUP)) == (404, "NotFoundApiGroup")
    missing = form(SetDomainCertificateRequest, {"CertificateBody": pem, "CertificatePrivateKey": key},
                   GroupId=GROUP, DomainName=API)
    assert error_of(call, client, gw, missing) == (400, "MissingParameter")


def test_certificate_checks(gw, client):
    pem, key = make_cert([API])
    old_pem, old_key = make_cert([API], expired=True)
    other_pem, other_key = make_cert(["other.test"])
    cases = [(pem, make_key(), "InvalidParameter.CertificateNotMatch"),
             (old_pem, old_key, "InvalidParameter.CertificateExpired"),
             ("junk", key, "InvalidParameter.Certificate"),
             (pem, "junk", "InvalidParameter.CertificatePrivateKey"),
             (other_pem, other_key, "InvalidParameter.CertificateDomainNotMatch")]
    for cert_pem, key_pem, code in cases:
        assert error_of(set_cert, client, gw, API, cert_pem, key_pem) == (400, code)
    assert gw.apigw_domain_state(GROUP, API)["cert_pem"] is None


def test_codes_are_configurable(make_emu, client):
    emu = make_emu(cert_codes={"cloudapi": {"mismatch": "CertificateKeyMismatch"}},
                   apigw_domain_not_bound_code="DomainNotBound")
    emu.add_api_group(GROUP, [API])
    pem, _ = make_cert([API])
    assert error_of(set_cert, client, emu, API, pem, make_key())[1] == "CertificateKeyMismatch"
    assert error_of(set_cert, client, emu, "x.example.test", pem, make_key())[1] == "DomainNotBound"


def test_a_get_that_carries_the_key_is_refused_unless_switched(gw, make_emu, client):
    pem, key = make_cert([API])
    as_sdk_sends_it = req(SetDomainCertificateRequest, GroupId=GROUP, DomainName=API, CertificateName="get",
                          CertificateBody=pem, CertificatePrivateKey=key)
    assert as_sdk_sends_it.get_method() == "GET"
    assert error_of(call, client, gw, as_sdk_sends_it) == (400, "UnsupportedHTTPMethod")
    assert gw.apigw_domain_state(GROUP, API)["cert_pem"] is None
    assert gw.calls[-1].key_in_query and gw.calls[-1].method == "GET"
    set_cert(client, gw, API, pem, key, "post")
    assert gw.apigw_domain_state(GROUP, API)["cert_name"] == "post" and not gw.calls[-1].key_in_query
    relaxed = make_emu(apigw_refuse_get_with_key=False)
    relaxed.add_api_group(GROUP, [API])
    call(client, relaxed, req(SetDomainCertificateRequest, GroupId=GROUP, DomainName=API, CertificateName="get",
                              CertificateBody=pem, CertificatePrivateKey=key))
    assert relaxed.apigw_domain_state(GROUP, API)["cert_name"] == "get"


def test_groups_in_two_regions_answer_only_in_their_own(emu, client):
    other = "0123456789abcdef0123456789abcdef"
    emu.add_api_group(GROUP, [API], region="cn-hangzhou")
    emu.add_api_group(other, [API2], region="cn-shanghai")
    shanghai = sdk.client()
    shanghai.set_region_id("cn-shanghai")
    pem, key = make_cert([API, API2])
    assert error_of(set_cert, client, emu, API2, pem, key, group=other) == (404, "NotFoundApiGroup")
    assert error_of(set_cert, shanghai, emu, API, pem, key) == (404, "NotFoundApiGroup")
    set_cert(shanghai, emu, API2, pem, key, "sh", group=other)
    set_cert(client, emu, API, *make_cert([API]), name="hz")
    group = call(shanghai, emu, req(DescribeApiGroupRequest, GroupId=other))
    assert group["RegionId"] == "cn-shanghai"
    assert [(i["DomainName"], i["CertificateName"]) for i in group["CustomDomains"]["DomainItem"]] == [(API2, "sh")]
    assert emu.apigw_domain_state(GROUP, API)["cert_name"] == "hz"
    describe = req(DescribeDomainRequest, GroupId=other, DomainName=API2)
    assert error_of(call, client, emu, describe) == (404, "NotFoundApiGroup")
