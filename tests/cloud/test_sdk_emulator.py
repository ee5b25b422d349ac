"""CloudClient against the emulator: signatures, STS tokens, wrong secrets, retries, the legacy env trap."""

import logging

import pytest

from acme_aliyun.cloud.credentials import CredentialProvider, resolve_credentials
from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.errors import ToolError, UsageError
from tests.cloud.emuhelp import make_client


def test_signed_call_passes_and_is_counted(emu, client):
    emu.add_cdn_domain("a.example.test")
    data = client.call("cdn", "DescribeDomainCertificateInfo", {"DomainName": "a.example.test"}, write=False)
    assert data["CertInfos"]["CertInfo"][0]["DomainName"] == "a.example.test" and data["RequestId"]
    assert client.stats == {"calls": 1, "writes": 0, "throttled": 0, "retries": 0, "errors": 0}
    assert [(c.action, c.http_status) for c in emu.calls] == [("DescribeDomainCertificateInfo", 200)]


def test_sts_token_is_sent(emu):
    emu.add_sts_credentials("STS.tmpak", "tmp-secret", "tmp-token-abc")
    emu.add_dns_zone("example.test")
    ok = make_client(emu, "STS.tmpak", "tmp-secret", "tmp-token-abc")
    assert ok.call("dns", "DescribeDomains", {}, write=False)["TotalCount"] == 1
    with pytest.raises(CloudError) as e:
        make_client(emu, "STS.tmpak", "tmp-secret", "wrong-token").call("dns", "DescribeDomains", {}, write=False)
    assert e.value.code.startswith("InvalidSecurityToken")


def test_wrong_secret_is_one_clear_line(emu, caplog, capsys):
    canary = "canary-secret-7f3a9c"
    client = make_client(emu, "testak", canary)
    with caplog.at_level(logging.DEBUG), pytest.raises(CloudError) as e:
        client.call("dns", "DescribeDomains", {}, write=False)
    line = str(e.value)
    assert line == "Alibaba Cloud rejected the AccessKeySecret for key id te…(masked) (InvalidAccessKeySecret)"
    assert isinstance(e.value, ToolError) and e.value.exit_code == 1
    assert client.stats["calls"] == 1                  # not retried
    out = caplog.text + capsys.readouterr().err + line + e.value.message
    assert canary not in out and "testak" not in out


def test_unknown_key_id(emu):
    with pytest.raises(CloudError) as e:
        make_client(emu, "LTAI5tNoSuchKeyAtAll", "s3cret-value").call("dns", "DescribeDomains", {}, write=False)
    assert "does not know the AccessKeyId LTAI…All(masked)" in str(e.value)
    assert "LTAI5tNoSuchKeyAtAll" not in str(e.value)


def test_retries_transient_faults_until_success(emu):
    emu.add_cdn_domain("a.example.test")
    client = make_client(emu, max_attempts=30)
    emu.set_faults(0.5, ("throttling", "unavailable", "internal", "reset"), 11)
    for _ in range(10):
        client.call("cdn", "DescribeDomainCertificateInfo", {"DomainName": "a.example.test"}, write=False)
    faults = [c for c in emu.calls if c.fault]
    assert faults and client.stats["retries"] == len(faults) == client.stats["calls"] - 10
    assert client.stats["throttled"] == len([c for c in faults if c.fault == "throttling"])
    assert {c.fault for c in faults} >= {"throttling", "reset"}


def test_gives_up_after_max_attempts(emu):
    client = make_client(emu, max_attempts=3)
    emu.set_faults(1.0, ("unavailable",), 1)
    with pytest.raises(CloudError) as e:
        client.call("dns", "DescribeDomains", {}, write=False)
    assert (e.value.code, e.value.http_status) == ("ServiceUnavailable", 503) and e.value.request_id
    assert len(emu.calls) == 3 and client.stats["retries"] == 2


def test_no_retry_on_validation_errors(emu, client):
    emu.add_cdn_domain("a.example.test")
    with pytest.raises(CloudError) as e:
        client.call("cdn", "SetCdnDomainSSLCertificate", {"DomainName": "a.example.test", "SSLProtocol": "maybe"},
                    write=True)
    assert e.value.code == "InvalidSSLProtocol.ValueNotSupported"
    with pytest.raises(CloudError):
        client.call("cdn", "DescribeDomainCertificateInfo", {"DomainName": "missing.example.test"}, write=False)
    assert len(emu.calls) == 2 and client.stats == {"calls": 2, "writes": 1, "throttled": 0, "retries": 0,
                                                     "errors": 2}


def test_none_params_are_not_sent(emu, client):
    emu.add_dns_zone("example.test")
    client.call("dns", "DescribeDomains", {"KeyWord": None, "PageSize": 5}, write=False)
    assert "KeyWord" not in emu.calls[0].params_keys and "PageSize" in emu.calls[0].params_keys


def test_legacy_aliyun_env_cannot_override_our_key(emu, monkeypatch):
    """The core prefers ALIYUN_ACCESS_KEY_ID/SECRET over a credential object; we pass keys explicitly."""
    emu.add_sts_credentials("STS.good", "good-secret", "good-token")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "bogusak")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "bogus-secret")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.good")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "good-secret")
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "good-token")
    monkeypatch.setenv("ACME_ALIYUN_ENDPOINT", emu.endpoint)
    client = CloudClient(CloudSettings(), resolve_credentials(CloudSettings()))
    assert client.source == "env:sts"
    client.call("dns", "DescribeDomains", {}, write=False)
    assert [c.http_status for c in emu.calls] == [200]        # signed by STS.good with its token


def test_env_endpoint_beats_settings(emu, monkeypatch):
    emu.add_dns_zone("example.test")
    monkeypatch.setenv("ACME_ALIYUN_ENDPOINT", emu.endpoint)
    client = CloudClient(CloudSettings(endpoints={"dns": "127.0.0.1:1"}, endpoint="127.0.0.1:2"),
                         CredentialProvider.static("t", "testak", "testsecret"))
    assert client.call("dns", "DescribeDomains", {}, write=False)["TotalCount"] == 1


def test_http_refused_before_any_traffic(emu):
    client = make_client(emu, endpoint="http://cdn.example.com")
    with pytest.raises(UsageError, match="plain http"):
        client.call("cdn", "DescribeCdnHttpsDomainList", {}, write=False)
    assert emu.calls == [] and client.stats["calls"] == 0


def test_pacing_keeps_150_concurrent_reads_under_the_qps_limit(emu, client):
    from concurrent.futures import ThreadPoolExecutor

    emu.add_cdn_domain("a.example.test")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: client.call("cdn", "DescribeDomainCertificateInfo",
                                            {"DomainName": "a.example.test"}, write=False), range(150)))
    assert emu.throttled_calls() == [] and client.stats["calls"] == 150
