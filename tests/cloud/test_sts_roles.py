"""Role assumption against the emulator's STS (issue 15, acceptance 3): AssumeRole on top of a
profile's own key, refreshed before the token expires; the cloud's clock running ahead of ours; the
anonymous AssumeRoleWithOIDC of ACK RRSA. Time is injected on both sides: the emulator's STS clock
(emu.advance_sts_clock) and the provider's clock, so nothing sleeps."""

import time

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from acme_aliyun.cloud import credentials as C
from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.errors import UsageError
from acme_aliyun.log import redact

ROLE = "acs:ram::1234567890:role/acme-deployer"
PROVIDER = "acs:ram::1234567890:oidc-provider/ack-rrsa"


class Clock:
    """time.time(), plus whatever the test has advanced it by."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.time() + self.offset

    def advance(self, seconds):
        self.offset += seconds


@pytest.fixture
def sts_emu(emulator_factory):
    emu = emulator_factory(accounts={"baseak": "base-secret-Wq8"})
    emu.add_role(ROLE, max_session_s=3600)
    emu.add_dns_zone("example.test")
    return emu


def _client(emu, clock, **settings):
    s = CloudSettings(endpoint=emu.endpoint, access_key_id="baseak", access_key_secret="base-secret-Wq8",
                      role_arn=ROLE, read_timeout=3.0, **settings)
    return CloudClient(s, C.resolve_credentials(s, clock=clock), retry_base=0.01, retry_cap=0.05)


def _add_txt(client, value):
    return client.call("dns", "AddDomainRecord", {"DomainName": "example.test", "RR": "_acme-challenge",
                                                  "Type": "TXT", "Value": value}, write=True)


def _raw_call(emu, cred):
    """One DescribeDomains signed with `cred` exactly as given (no provider, no refresh)."""
    acs = AcsClient(cred.access_key_id, cred.access_key_secret, "cn-hangzhou", auto_retry=False,
                    proxy={"http": None, "https": None})
    req = CommonRequest(domain=emu.endpoint, version="2015-01-09", action_name="DescribeDomains")
    req.set_protocol_type("http")
    req.add_query_param("SecurityToken", cred.security_token)
    return acs.do_action_with_exception(req)


def test_role_token_is_refreshed_before_it_expires_and_the_old_one_is_refused(sts_emu):
    clock = Clock()
    client = _client(sts_emu, clock, role_duration=900, role_session_name="acme-test")
    assert client.source == "config:[aliyun]+AssumeRole(%s)" % ROLE
    _add_txt(client, "first")
    issued = sts_emu.sts_issued()
    assert [(i["action"], i["role_arn"], i["session"]) for i in issued] == [("AssumeRole", ROLE, "acme-test")]
    assert sts_emu.calls.of("AssumeRole").signed_by() == {"baseak"}          # the profile's own key
    assert sts_emu.calls.of("AddDomainRecord").signed_by() == {issued[0]["access_key_id"]}
    assert issued[0]["expires_at"] - time.time() == pytest.approx(900, abs=5)

    sts_emu.advance_sts_clock(850)          # 50 s left: inside the refresh margin on both clocks
    clock.advance(850)
    _add_txt(client, "second")
    issued = sts_emu.sts_issued()
    assert len(issued) == 2
    second_write = sts_emu.calls.of("AddDomainRecord")[-1]
    assert (second_write.code, second_write.access_key_id) == (None, issued[1]["access_key_id"])
    assert not [c for c in sts_emu.calls if c.code == "InvalidSecurityToken.Expired"]   # refreshed BEFORE

    stale = _SEEN[issued[0]["access_key_id"]]      # the first token, sent straight to the cloud:
    assert _raw_call(sts_emu, stale)               # still valid for 50 s
    sts_emu.advance_sts_clock(100)                 # now past its Expiration
    clock.advance(100)
    with pytest.raises(ServerException) as e:
        _raw_call(sts_emu, stale)
    assert e.value.get_error_code() == "InvalidSecurityToken.Expired"
    _add_txt(client, "third")               # the current one still works
    assert [r["value"] for r in sts_emu.dns_records("example.test")] == ["first", "second", "third"]


_SEEN = {}          # access key id -> the Credential STS answered with (to replay a stale one)


@pytest.fixture(autouse=True)
def _record_credentials(monkeypatch):
    real = C.make_credential

    def recording(*args, **kw):
        cred = real(*args, **kw)
        _SEEN[cred.access_key_id] = cred
        return cred

    monkeypatch.setattr("acme_aliyun.cloud.sts.make_credential", recording)
    yield
    _SEEN.clear()


def test_cloud_clock_ahead_one_refusal_then_fresh_credentials(sts_emu):
    """The cloud calls the token expired while our clock says it is fine: one refusal, a new
    AssumeRole, the same write again — and no loop."""
    client = _client(sts_emu, Clock())
    _add_txt(client, "a")
    sts_emu.advance_sts_clock(3601)
    _add_txt(client, "b")
    codes = [(c.action, c.code) for c in sts_emu.calls]
    assert codes == [("AssumeRole", None), ("AddDomainRecord", None),
                     ("AddDomainRecord", "InvalidSecurityToken.Expired"), ("AssumeRole", None),
                     ("AddDomainRecord", None)]
    assert [r["value"] for r in sts_emu.dns_records("example.test")] == ["a", "b"]


def test_expired_fixed_sts_token_is_one_clear_error_without_retry(sts_emu):
    sts_emu.add_sts_credentials("STS.fixed", "fixed-secret-Pz4", "fixed-token-Lm9", expires_in=60)
    client = CloudClient(CloudSettings(endpoint=sts_emu.endpoint, read_timeout=3.0),
                         C.CredentialProvider.static("env:sts", "STS.fixed", "fixed-secret-Pz4", "fixed-token-Lm9"),
                         retry_base=0.01, retry_cap=0.05)
    sts_emu.advance_sts_clock(61)
    with pytest.raises(CloudError) as e:
        _add_txt(client, "x")
    assert e.value.code == "InvalidSecurityToken.Expired"
    assert len(sts_emu.calls) == 1


def test_external_id_and_bad_session_name_are_refused_in_one_line(sts_emu):
    sts_emu.add_role(ROLE, external_id="ext-42")
    with pytest.raises(CloudError) as e:
        _client(sts_emu, Clock()).credentials.get()
    assert e.value.code == "NoPermission" and "\n" not in str(e.value)
    assert _client(sts_emu, Clock(), external_id="ext-42").credentials.get().access_key_id.startswith("STS.")
    with pytest.raises(CloudError) as e:
        _client(sts_emu, Clock(), external_id="ext-42", role_duration=60).credentials.get()
    assert e.value.code == "InvalidParameter.DurationSeconds"
    assert [c.code for c in sts_emu.calls.of("AssumeRole")] == ["NoPermission", None,
                                                               "InvalidParameter.DurationSeconds"]


def test_oidc_role_from_env_is_anonymous_reads_the_token_file_at_each_refresh(sts_emu, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.rrsa-token-one.sig\n")
    sts_emu.add_role(ROLE, oidc_provider_arn=PROVIDER, oidc_token="eyJhbGciOiJSUzI1NiJ9.rrsa-token-one.sig")
    monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", ROLE)
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER)
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(token_file))
    settings = CloudSettings(endpoint=sts_emu.endpoint, read_timeout=3.0)
    provider = C.resolve_credentials(settings)
    assert provider.source == "oidc-role:" + ROLE
    client = CloudClient(settings, provider, retry_base=0.01, retry_cap=0.05)
    _add_txt(client, "oidc")
    oidc = sts_emu.calls.of("AssumeRoleWithOIDC")
    assert len(oidc) == 1 and oidc[0].access_key_id is None and oidc[0].code is None     # not signed
    assert sts_emu.calls.of("AddDomainRecord").signed_by() == {sts_emu.sts_issued()[0]["access_key_id"]}

    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.someone-else.sig")     # the file rotates to a token STS refuses
    assert provider.invalidate(provider.get())
    with pytest.raises(CloudError) as e:
        provider.get()
    assert e.value.code == "AuthenticationFail.OIDCToken.Invalid"
    assert "someone-else" not in str(e.value)
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.rrsa-token-one.sig")
    assert provider.get().access_key_id == sts_emu.sts_issued()[1]["access_key_id"]
    assert redact(provider.get().security_token) == "[redacted]"


def test_oidc_wrong_provider_and_missing_token_file(sts_emu, tmp_path, monkeypatch):
    sts_emu.add_role(ROLE, oidc_provider_arn=PROVIDER, oidc_token="tok-1234")
    monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", ROLE)
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER + "-other")
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(tmp_path / "token"))
    provider = C.resolve_credentials(CloudSettings(endpoint=sts_emu.endpoint))
    with pytest.raises(UsageError, match="OIDC token file .*token"):
        provider.get()
    (tmp_path / "token").write_text("tok-1234")
    with pytest.raises(CloudError) as e:
        provider.get()
    assert e.value.code == "AuthenticationFail.OIDCProvider"
