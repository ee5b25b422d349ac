"""Parameters in the POST form body (signed like the query) and the request log's key-in-query flag."""

import pytest
import requests
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.aliyun_emulator.signature import sign_params
from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator import sdk
from tests.emulator.sdk import call, form, req

D1 = "cdn1.example.test"
SET_CDN = {"Action": "SetCdnDomainSSLCertificate", "Version": "2018-05-10"}


@pytest.fixture
def cdn(emu):
    emu.add_cdn_domain(D1)
    return emu


def test_certificate_and_key_in_the_body_are_applied_and_logged_as_body(cdn, client):
    pem, key = make_cert([D1])
    request = form(SetCdnDomainSSLCertificateRequest, {"SSLPub": pem, "SSLPri": key},
                   DomainName=D1, SSLProtocol="on", CertName="body-1")
    call(client, cdn, request)
    assert (cdn.cdn_state(D1)["cert_pem"], cdn.cdn_state(D1)["key_pem"]) == (pem, key)
    record = cdn.calls[-1]
    assert (record.method, record.http_status) == ("POST", 200)
    assert set(record.body_keys) == {"SSLPub", "SSLPri"}
    assert {"DomainName", "SSLProtocol", "CertName", "Signature"} <= set(record.query_keys)
    assert not set(record.body_keys) & set(record.query_keys)
    assert not record.key_in_query and cdn.calls.key_in_query() == []


def test_a_key_in_the_query_is_flagged(cdn, client):
    pem, key = make_cert([D1])
    call(client, cdn, req(SetCdnDomainSSLCertificateRequest, DomainName=D1, SSLProtocol="on", SSLPub=pem,
                          SSLPri=key, CertName="query-1"))
    call(client, cdn, req(DescribeDomainCertificateInfoRequest, DomainName=D1))
    flagged = cdn.calls.key_in_query()
    assert [c.action for c in flagged] == ["SetCdnDomainSSLCertificate"]
    assert "SSLPri" in flagged[0].query_keys and flagged[0].body_keys == ()
    assert key.splitlines()[1] not in repr(cdn.calls)          # the flag, never the value


def test_a_key_param_name_in_the_query_is_flagged_even_when_refused(cdn):
    answer = sdk.raw(cdn, dict(SET_CDN, DomainName=D1, SSLProtocol="on", SSLPri="x"))
    assert answer.status_code == 400
    assert cdn.calls[-1].key_in_query


def test_a_bare_base64_body_of_a_seen_key_is_flagged(cdn, client):
    pem, key = make_cert([D1])
    call(client, cdn, form(SetCdnDomainSSLCertificateRequest, {"SSLPub": pem, "SSLPri": key},
                           DomainName=D1, SSLProtocol="on", CertName="seen"))
    body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
    sdk.raw(cdn, {"Action": "DescribeDomainCertificateInfo", "Version": "2018-05-10", "DomainName": D1,
                  "Note": body[7:7 + 40]})
    sdk.raw(cdn, {"Action": "DescribeDomainCertificateInfo", "Version": "2018-05-10", "DomainName": D1,
                  "Note": body[7:7 + 39]})
    assert [c.key_in_query for c in cdn.calls] == [False, True, False]


def test_a_pem_marker_in_any_query_value_is_flagged(cdn):
    sdk.raw(cdn, {"Action": "DescribeDomainCertificateInfo", "Version": "2018-05-10", "DomainName": D1,
                  "Extra": "-----BEGIN EC PRIVATE KEY-----\nAAAA"})
    assert cdn.calls[-1].key_in_query


def _signed_with_body(body_params, query_params):
    signed = sign_params("POST", dict(query_params, **body_params), sdk.AK, sdk.SECRET)
    return {k: v for k, v in signed.items() if k not in body_params}


def test_body_parameters_are_covered_by_the_signature(cdn):
    pem, key = make_cert([D1])
    body = {"SSLPub": pem, "SSLPri": key}
    query = _signed_with_body(body, dict(SET_CDN, DomainName=D1, SSLProtocol="on", CertName="signed"))
    tampered = dict(body, SSLPub=make_cert([D1])[0])
    with sdk_session() as session:
        bad = session.post(cdn.url + "/", params=query, data=tampered, timeout=5)
        assert (bad.status_code, bad.json()["Code"]) == (400, "SignatureDoesNotMatch")
        assert cdn.cdn_state(D1)["cert_pem"] is None
        good = session.post(cdn.url + "/", params=query, data=body, timeout=5)
    assert good.status_code == 200 and cdn.cdn_state(D1)["cert_pem"] == pem


def test_a_body_that_is_not_a_form_carries_no_parameters(cdn):
    pem, key = make_cert([D1])
    body = {"SSLPub": pem, "SSLPri": key}
    query = _signed_with_body(body, dict(SET_CDN, DomainName=D1, SSLProtocol="on", CertName="json"))
    with sdk_session() as session:
        answer = session.post(cdn.url + "/", params=query, json=body, timeout=5)
    assert answer.status_code == 400 and answer.json()["Code"] == "SignatureDoesNotMatch"


def sdk_session():
    """A requests session that ignores proxy settings (loopback only)."""
    session = requests.Session()
    session.trust_env = False
    return session


def test_refused_body_call_reports_like_a_query_call(cdn, client):
    pem, _ = make_cert([D1])
    request = form(SetCdnDomainSSLCertificateRequest, {"SSLPub": pem}, DomainName=D1, SSLProtocol="on")
    with pytest.raises(ServerException) as info:
        call(client, cdn, request)
    assert info.value.get_error_code() == "SSLPri.MissingParameter"
