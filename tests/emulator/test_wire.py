"""Wire behaviour: signature V1, Timestamp, nonce, STS, routing, answer format — through the real SDK
where it can send the request, hand-signed requests where it cannot."""

import datetime
import re

import pytest
from aliyunsdkalidns.request.v20150109.DescribeDomainsRequest import DescribeDomainsRequest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from tests.aliyun_emulator.signature import compute_signature, sign_params, string_to_sign
from tests.emulator import sdk
from tests.emulator.sdk import call, req

DESCRIBE_DOMAINS = {"Action": "DescribeDomains", "Version": "2015-01-09"}
UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def _error(emu, acs_client, request):
    with pytest.raises(ServerException) as info:
        call(acs_client, emu, request)
    return info.value


def test_sdk_call_answers_json_with_upper_case_request_id(emu, client):
    emu.add_dns_zone("example.test")
    answer = call(client, emu, req(DescribeDomainsRequest))
    assert UUID_UPPER.match(answer["RequestId"])
    assert [d["DomainName"] for d in answer["Domains"]["Domain"]] == ["example.test"]
    assert emu.calls[-1].request_id == answer["RequestId"] and emu.calls[-1].http_status == 200


def test_answer_headers(emu):
    resp = sdk.raw(emu, DESCRIBE_DOMAINS)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"
    assert resp.headers["x-acs-request-id"] == resp.json()["RequestId"]


def test_error_body_shape(emu):
    resp = sdk.raw(emu, {"Action": "DescribeDomainRecords", "Version": "2015-01-09", "DomainName": "nope.test"})
    body = resp.json()
    assert resp.status_code == 400
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == "InvalidDomainName.NoExist" and body["HostId"] == "alidns.aliyuncs.com"
    assert resp.headers["x-acs-request-id"] == body["RequestId"]


def test_form_body_parameters_are_signed_and_merged(emu, client):
    emu.add_dns_zone("example.test")
    request = CommonRequest(domain=emu.endpoint, version="2015-01-09", action_name="AddDomainRecord")
    request.set_method("POST")
    request.add_query_param("DomainName", "example.test")
    for name, value in (("RR", "_acme-challenge"), ("Type", "TXT"), ("Value", "body value")):
        request.add_body_params(name, value)
    client.do_action_with_exception(request)
    assert [(r["rr"], r["value"]) for r in emu.dns_records("example.test")] == [("_acme-challenge", "body value")]


def test_wrong_secret_is_reported_by_the_sdk_as_invalid_access_key_secret(emu):
    err = _error(emu, sdk.client(secret="not-the-secret"), req(DescribeDomainsRequest))
    assert (err.get_error_code(), err.get_http_status()) == ("InvalidAccessKeySecret", 400)
    assert emu.calls[-1].code == "SignatureDoesNotMatch"


def test_signature_mismatch_message_carries_the_server_string_to_sign(emu):
    signed = sign_params("POST", DESCRIBE_DOMAINS, sdk.AK, sdk.SECRET)
    signed["PageSize"] = "50"            # changed after signing
    resp = sdk.send(emu, "POST", signed)
    prefix = "Specified signature is not matched with our calculation. server string to sign is:"
    assert resp.status_code == 400 and resp.json()["Code"] == "SignatureDoesNotMatch"
    assert resp.json()["Message"] == prefix + string_to_sign("POST", signed)


def test_unknown_access_key(emu):
    resp = sdk.raw(emu, DESCRIBE_DOMAINS, ak="nobody")
    assert (resp.status_code, resp.json()["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_unsupported_signature_method(emu):
    signed = sign_params("POST", DESCRIBE_DOMAINS, sdk.AK, sdk.SECRET)
    signed["SignatureMethod"] = "HMAC-SHA256"
    assert sdk.send(emu, "POST", signed).json()["Code"] == "IncompleteSignature"


@pytest.mark.parametrize("minutes, code", [(-16, "InvalidTimeStamp.Expired"), (16, "InvalidTimeStamp.Expired"),
                                           (-14, None), (14, None)])
def test_timestamp_must_be_within_15_minutes(emu, minutes, code):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    resp = sdk.raw(emu, DESCRIBE_DOMAINS, timestamp=when)
    assert resp.json().get("Code") == code
    assert resp.status_code == (400 if code else 200)


def test_malformed_timestamp(emu):
    signed = sign_params("POST", DESCRIBE_DOMAINS, sdk.AK, sdk.SECRET)
    signed["Timestamp"] = "yesterday"
    signed["Signature"] = compute_signature(string_to_sign("POST", signed), sdk.SECRET)
    resp = sdk.send(emu, "POST", signed)
    assert (resp.status_code, resp.json()["Code"]) == (400, "InvalidTimeStamp.Format")


def test_nonce_cannot_be_reused(emu):
    first = sdk.raw(emu, DESCRIBE_DOMAINS, nonce="f" * 32)
    again = sdk.raw(emu, DESCRIBE_DOMAINS, nonce="f" * 32)
    other = sdk.raw(emu, DESCRIBE_DOMAINS, nonce="e" * 32)
    assert first.status_code == 200 and other.status_code == 200
    assert (again.status_code, again.json()["Code"]) == (400, "SignatureNonceUsed")


def test_sts_credentials(emu):
    emu.add_sts_credentials("STS.one", "stssecret1", "token-one")
    emu.add_sts_credentials("STS.two", "stssecret2", "token-two")
    emu.add_sts_credentials("STS.old", "stssecret3", "token-old", expires_in=-1)
    assert "RequestId" in call(sdk.client("STS.one", "stssecret1", token="token-one"), emu, req(DescribeDomainsRequest))
    cases = [
        (sdk.client("STS.one", "stssecret1", token="token-two"), "InvalidSecurityToken.MismatchWithAccessKey"),
        (sdk.client("STS.one", "stssecret1", token="garbage"), "InvalidSecurityToken.Malformed"),
        (sdk.client("STS.one", "stssecret1"), "InvalidSecurityToken.Malformed"),       # no token sent
        (sdk.client("STS.old", "stssecret3", token="token-old"), "InvalidSecurityToken.Expired"),
        (sdk.client(token="token-one"), "InvalidSecurityToken.MismatchWithAccessKey"),  # long-term key + token
    ]
    for acs_client, code in cases:
        err = _error(emu, acs_client, req(DescribeDomainsRequest))
        assert (err.get_error_code(), err.get_http_status()) == (code, 400)


def test_routing_errors(emu, client):
    unknown_action = CommonRequest(domain=emu.endpoint, version="2018-05-10", action_name="NoSuchAction")
    unknown_version = CommonRequest(domain=emu.endpoint, version="2099-01-01", action_name="DescribeDomains")
    for request, status, code in ((unknown_action, 404, "InvalidAction.NotFound"),
                                  (unknown_version, 400, "InvalidVersion")):
        err = _error(emu, client, request)
        assert (err.get_http_status(), err.get_error_code()) == (status, code)


def test_routing_ignores_the_host_header(emu):
    emu.add_dns_zone("example.test")
    signed = sign_params("GET", DESCRIBE_DOMAINS, sdk.AK, sdk.SECRET)
    resp = sdk.send(emu, "GET", signed, headers={"Host": "cdn.aliyuncs.com"})
    assert resp.status_code == 200 and resp.json()["TotalCount"] == 1


def test_error_status_is_configurable(make_emu):
    emu = make_emu(error_overrides={"InvalidAccessKeyId.NotFound": (403, "Specified access key is not found.")})
    assert sdk.raw(emu, DESCRIBE_DOMAINS, ak="nobody").status_code == 403


def test_proxy_environment_is_irrelevant_with_explicit_no_proxy(emu, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")   # nothing listens there
    assert "RequestId" in call(sdk.client(), emu, req(DescribeDomainsRequest))
    env_proxied = AcsClient(sdk.AK, sdk.SECRET, "cn-hangzhou", auto_retry=False)
    with pytest.raises(ClientException):
        call(env_proxied, emu, req(DescribeDomainsRequest))
