"""The emulator's STS (Sts 2015-04-01), driven by the real SDK and by unsigned requests: AssumeRole
checks and the credentials it mints, AssumeRoleWithOIDC without a signature, expiry on the STS clock."""

import calendar
import time

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.request import RpcRequest

from tests.emulator import sdk

ROLE = "acs:ram::1234567890:role/acme"
PROVIDER = "acs:ram::1234567890:oidc-provider/ack"


def assume(**params):
    request = RpcRequest("Sts", "2015-04-01", "AssumeRole")
    request.set_method("POST")
    for name, value in params.items():
        request.add_query_param(name, value)
    return request


def error_code(acs, emu, request):
    with pytest.raises(ServerException) as e:
        sdk.call(acs, emu, request)
    return e.value.get_error_code()


def test_assume_role_mints_credentials_that_work_until_they_expire(emu):
    emu.add_role(ROLE, max_session_s=7200)
    emu.add_dns_zone("example.test")
    answer = sdk.call(sdk.client(), emu, assume(RoleArn=ROLE, RoleSessionName="s-1", DurationSeconds=1800))
    c = answer["Credentials"]
    assert c["AccessKeyId"].startswith("STS.") and answer["AssumedRoleUser"]["Arn"].endswith(
        ":assumed-role/acme/s-1")
    expires = calendar.timegm(time.strptime(c["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    assert expires - time.time() == pytest.approx(1800, abs=5)
    temp = sdk.client(c["AccessKeyId"], c["AccessKeySecret"], c["SecurityToken"])
    listing = RpcRequest("Alidns", "2015-01-09", "DescribeDomains")
    assert sdk.call(temp, emu, listing)["TotalCount"] == 1
    emu.advance_sts_clock(1801)
    assert error_code(temp, emu, RpcRequest("Alidns", "2015-01-09", "DescribeDomains")) == \
        "InvalidSecurityToken.Expired"
    assert emu.calls[-1].access_key_id == c["AccessKeyId"]


@pytest.mark.parametrize("params,code", [
    ({"RoleSessionName": "s"}, "MissingParameter"),
    ({"RoleArn": "acs:ram::1:role/nobody", "RoleSessionName": "s-1"}, "EntityNotExist.Role"),
    ({"RoleArn": ROLE}, "MissingParameter"),
    ({"RoleArn": ROLE, "RoleSessionName": "a b"}, "InvalidParameter.RoleSessionName"),
    ({"RoleArn": ROLE, "RoleSessionName": "s-1", "DurationSeconds": 899}, "InvalidParameter.DurationSeconds"),
    ({"RoleArn": ROLE, "RoleSessionName": "s-1", "DurationSeconds": 3601}, "InvalidParameter.DurationSeconds"),
    ({"RoleArn": ROLE, "RoleSessionName": "s-1", "Policy": "not json"}, "InvalidParameter.PolicyGrammar"),
])
def test_assume_role_refusals(emu, params, code):
    emu.add_role(ROLE)
    assert error_code(sdk.client(), emu, assume(**params)) == code
    assert emu.sts_issued() == []


def test_assume_role_requires_a_signature_and_the_external_id(emu):
    emu.add_role(ROLE, external_id="ext-1")
    r = requests.post(emu.url + "/", data={"Action": "AssumeRole", "Version": "2015-04-01", "Format": "JSON",
                                           "RoleArn": ROLE, "RoleSessionName": "s-1"},
                      proxies={"http": None})
    assert r.json()["Code"] == "IncompleteSignature"
    assert error_code(sdk.client(), emu, assume(RoleArn=ROLE, RoleSessionName="s-1")) == "NoPermission"
    assert sdk.call(sdk.client(), emu, assume(RoleArn=ROLE, RoleSessionName="s-1", ExternalId="ext-1"))


def _oidc(emu, **form):
    data = {"Action": "AssumeRoleWithOIDC", "Version": "2015-04-01", "Format": "JSON", "RoleArn": ROLE,
            "OIDCProviderArn": PROVIDER, "OIDCToken": "eyJ.good.token"}
    data.update(form)
    return requests.post(emu.url + "/", data=data, proxies={"http": None})


def test_assume_role_with_oidc_is_anonymous_and_checks_provider_and_token(emu):
    emu.add_role(ROLE, oidc_provider_arn=PROVIDER, oidc_token="eyJ.good.token")
    ok = _oidc(emu)
    assert ok.status_code == 200 and ok.json()["Credentials"]["SecurityToken"]
    assert emu.calls[-1].access_key_id is None
    assert _oidc(emu, OIDCToken="eyJ.bad.token").json()["Code"] == "AuthenticationFail.OIDCToken.Invalid"
    assert _oidc(emu, OIDCProviderArn=PROVIDER + "x").json()["Code"] == "AuthenticationFail.OIDCProvider"
    assert _oidc(emu, OIDCToken="abc").json()["Code"] == "InvalidParameter.OIDCToken"
    assert [i["action"] for i in emu.sts_issued()] == ["AssumeRoleWithOIDC"]


def test_min_duration_is_a_switch(make_emu):
    emu = make_emu(sts_min_duration_s=60)
    emu.add_role(ROLE)
    assert sdk.call(sdk.client(), emu, assume(RoleArn=ROLE, RoleSessionName="s-1", DurationSeconds=60))
