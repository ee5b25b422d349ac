"""The credential resolver: every source, its order, refresh of temporary credentials, errors."""

import json
import logging
import os
import time
import types

import pytest

from acme_aliyun.cloud import credentials as C
from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.errors import ConfigError, UsageError
from acme_aliyun.log import redact
from tests.cloud.fakes import FakeCredentialsUri, FakeMetadata, FakeSts


@pytest.fixture
def metadata(monkeypatch):
    srv = FakeMetadata()
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", srv.url)
    monkeypatch.delenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED")
    yield srv
    srv.stop()


def write_credentials_ini(home, text):
    folder = home / ".alibabacloud"
    folder.mkdir()
    (folder / "credentials.ini").write_text(text)


def write_cli_config(home, profiles, current="default"):
    folder = home / ".aliyun"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"current": current, "profiles": profiles}))


def test_settings_keys_win_and_warn_when_config_is_readable_by_others(tmp_path, monkeypatch, caplog):
    ini = tmp_path / "acme.ini"
    ini.write_text("[aliyun]\n")
    ini.chmod(0o644)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "envak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "envsecret")
    s = CloudSettings(access_key_id="iniak", access_key_secret="ini-secret-1", config_file=str(ini))
    with caplog.at_level(logging.WARNING):
        p = C.resolve_credentials(s)
    assert p.source == "config:[aliyun]"
    assert p.get() == C.Credential("iniak", "ini-secret-1")
    assert "readable by group/others" in caplog.text
    caplog.clear()
    ini.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        C.resolve_credentials(s)
    assert "readable" not in caplog.text
    assert redact("x ini-secret-1 y") == "x [redacted] y"


def test_env_with_and_without_token(monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "envak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
    p = C.resolve_credentials(CloudSettings())
    assert (p.source, p.get().security_token) == ("env", None)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "env-token-xyz")
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "env:sts"
    assert p.get() == C.Credential("envak", "env-secret", "env-token-xyz")


def test_credentials_file_access_key_profile_selection(sealed_env, monkeypatch):
    write_credentials_ini(sealed_env, "[default]\ntype = access_key\naccess_key_id = fileak\n"
                                      "access_key_secret = file-secret\n"
                                      "[prod]\naccess_key_id = prodak\naccess_key_secret = prod-secret\n")
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "credentials-file:default:access_key" and p.get().access_key_id == "fileak"
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "prod")
    assert C.resolve_credentials(CloudSettings()).get().access_key_id == "prodak"


def test_credentials_file_from_env_path_and_errors(tmp_path, monkeypatch):
    path = tmp_path / "creds.ini"
    path.write_text("[default]\ntype = access_key\naccess_key_id = x\n")
    monkeypatch.setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", str(path))
    with pytest.raises(ConfigError, match="access_key_secret"):
        C.resolve_credentials(CloudSettings())
    path.write_text("[default]\ntype = rsa_key_pair\n")
    with pytest.raises(ConfigError, match="unsupported credential type"):
        C.resolve_credentials(CloudSettings())


def test_credentials_file_ecs_ram_role(sealed_env, metadata):
    write_credentials_ini(sealed_env, "[default]\ntype = ecs_ram_role\nrole_name = AcmeRole\n")
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "credentials-file:default:ecs_ram_role"
    cred = p.get()
    assert cred.access_key_id == "STS.ecs1" and cred.security_token == "ecs-token-1"
    assert [r[1] for r in metadata.requests] == ["/latest/api/token",
                                                 "/latest/meta-data/ram/security-credentials/AcmeRole"]


def test_credentials_file_ram_role_arn_through_sts(sealed_env, monkeypatch):
    sts = FakeSts("baseak", "base-secret", ("STS.assumed", "assumed-secret", "assumed-token"))
    try:
        write_credentials_ini(sealed_env, "[default]\ntype = ram_role_arn\naccess_key_id = baseak\n"
                                          "access_key_secret = base-secret\nrole_arn = acs:ram::1:role/acme\n"
                                          "role_session_name = acme-test\nsts_endpoint = %s\n" % sts.hostport)
        p = C.resolve_credentials(CloudSettings())
        assert p.source == "credentials-file:default:ram_role_arn"
        cred = p.get()
        assert cred == C.Credential("STS.assumed", "assumed-secret", "assumed-token", cred.expiration)
        assert cred.expiration > time.time() + 3000
        p.get()
        assert len(sts.requests) == 1                       # still valid: no second AssumeRole
        q = sts.requests[0][3]
        assert (q["RoleArn"], q["RoleSessionName"], q["AccessKeyId"]) == ("acs:ram::1:role/acme", "acme-test",
                                                                        "baseak")
        assert "Policy" not in q                           # None values are never sent
        assert redact("assumed-secret assumed-token") == "[redacted] [redacted]"
    finally:
        sts.stop()


def test_cli_config_modes(sealed_env, monkeypatch, metadata):
    write_cli_config(sealed_env, [
        {"name": "default", "mode": "AK", "access_key_id": "cliak", "access_key_secret": "cli-secret"},
        {"name": "sts", "mode": "StsToken", "access_key_id": "STS.cli", "access_key_secret": "cli-sts-secret",
         "sts_token": "cli-token"},
        {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "AcmeRole"},
        {"name": "bad", "mode": "ChainableRamRoleArn"},
    ])
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "aliyun-cli:default:AK" and p.get().access_key_id == "cliak"
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "sts")
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "aliyun-cli:sts:StsToken" and p.get().security_token == "cli-token"
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "ecs")
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "aliyun-cli:ecs:EcsRamRole" and p.get().access_key_id.startswith("STS.ecs")
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "bad")     # not supported: the chain goes on (to ECS here)
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "ecs-ram-role:AcmeRole"


def test_cli_config_ram_role_arn(sealed_env, monkeypatch):
    sts = FakeSts("cliak", "cli-secret", ("STS.cliassumed", "cli-assumed-secret", "cli-assumed-token"))
    try:
        monkeypatch.setenv("ALIBABA_CLOUD_STS_ENDPOINT", sts.hostport)
        write_cli_config(sealed_env, [{"name": "r", "mode": "RamRoleArn", "access_key_id": "cliak",
                                       "access_key_secret": "cli-secret", "ram_role_arn": "acs:ram::1:role/x",
                                       "ram_session_name": "s1", "expired_seconds": 900}], current="r")
        p = C.resolve_credentials(CloudSettings())
        assert p.source == "aliyun-cli:r:RamRoleArn"
        assert p.get().access_key_id == "STS.cliassumed"
        assert sts.requests[0][3]["DurationSeconds"] == "900"
    finally:
        sts.stop()


def test_ecs_metadata_discovery_imdsv2_and_refresh(metadata):
    metadata.lifetime = 300            # expires within the 10 min margin: every get() refreshes
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "ecs-ram-role:AcmeRole"
    assert metadata.issued == 1                   # the resolver's probe
    first = p.get()
    second = p.get()
    assert (first.access_key_id, second.access_key_id) == ("STS.ecs2", "STS.ecs3")
    metadata.lifetime = 3600
    third = p.get()
    assert p.get() is third and third.access_key_id == "STS.ecs4"
    paths = [(m, path) for m, path, _h, _q in metadata.requests]
    assert paths[:3] == [("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/ram/security-credentials/"),
                         ("PUT", "/latest/api/token")]
    assert all(h.get("X-aliyun-ecs-metadata-token") == FakeMetadata.TOKEN
               for m, _p, h, _q in metadata.requests if m == "GET")
    assert redact("ecs-secret-4 ecs-token-4") == "[redacted] [redacted]"


def test_ecs_role_from_settings_skips_discovery(metadata):
    p = C.resolve_credentials(CloudSettings(ram_role="AcmeRole"))
    assert p.get().access_key_id == "STS.ecs1"
    assert "/latest/meta-data/ram/security-credentials/" not in [r[1] for r in metadata.requests]


def test_nothing_found_lists_every_source_tried(monkeypatch):
    with pytest.raises(UsageError) as e:
        C.resolve_credentials(CloudSettings())
    text = str(e.value)
    for part in ("[aliyun]", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ROLE_ARN/_OIDC_PROVIDER_ARN",
                 "credentials.ini or ", "/.alibabacloud/credentials (missing)", "config.json (missing)",
                 "ECS metadata (disabled)", "ALIBABA_CLOUD_CREDENTIALS_URI (not set)"):
        assert part in text
    assert e.value.exit_code == 2


def test_unreachable_metadata_server_is_skipped_quickly(monkeypatch):
    monkeypatch.delenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED")
    from tests.netutil import free_port
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", "http://127.0.0.1:%d" % free_port())
    t = time.monotonic()
    with pytest.raises(UsageError, match="ECS metadata server not reachable"):
        C.resolve_credentials(CloudSettings())
    assert time.monotonic() - t < 5


def test_fc_context_and_env_fallback(monkeypatch):
    ctx = types.SimpleNamespace(credentials=types.SimpleNamespace(
        access_key_id="STS.fc", access_key_secret="fc-secret", security_token="fc-token"))
    p = C.from_fc_context(ctx)
    assert p.source == "fc-context" and p.get() == C.Credential("STS.fc", "fc-secret", "fc-token")
    with pytest.raises(UsageError, match="context.credentials"):
        C.from_fc_context(types.SimpleNamespace())          # Python 3.12 runtime, no role
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.fcenv")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "fc-env-secret")
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "fc-env-token")
    p = C.from_fc_context(types.SimpleNamespace())
    assert p.source == "fc-env:sts" and p.get().security_token == "fc-env-token"


def test_legacy_aliyun_env_warns_and_is_not_a_source(monkeypatch, caplog):
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "bogusak")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "bogus-secret")
    with caplog.at_level(logging.WARNING), pytest.raises(UsageError):
        C.resolve_credentials(CloudSettings())
    assert "ALIYUN_ACCESS_KEY_ID" in caplog.text and "bogus-secret" not in caplog.text


def test_credential_repr_masks():
    cred = C.Credential("LTAI5tAbCdEfGhIjKlMn", "very-secret-value")
    assert "very-secret-value" not in repr(cred) and "LTAI5tAbCdEfGhIjKlMn" not in repr(cred)
    assert C.mask_key_id("LTAI5tAbCdEfGhIjKlMn") == "LTAI…lMn(masked)"
    assert os.environ.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED") == "true"


# --- the rest of the official chain (issue 15) ----------------------------------------------------

def test_cli_config_comes_before_the_credentials_file_as_the_official_chain_orders(sealed_env):
    write_credentials_ini(sealed_env, "[default]\naccess_key_id = fileak\naccess_key_secret = file-secret\n")
    write_cli_config(sealed_env, [{"name": "default", "mode": "AK", "access_key_id": "cliak",
                                   "access_key_secret": "cli-secret"}])
    assert C.resolve_credentials(CloudSettings()).source == "aliyun-cli:default:AK"


def test_unsupported_cli_mode_moves_on_to_the_credentials_file(sealed_env, monkeypatch):
    write_cli_config(sealed_env, [{"name": "default", "mode": "CloudSSO"}])
    write_credentials_ini(sealed_env, "[default]\naccess_key_id = fileak\naccess_key_secret = file-secret\n")
    p = C.resolve_credentials(CloudSettings())
    assert p.source == "credentials-file:default:access_key"
    (sealed_env / ".alibabacloud" / "credentials.ini").unlink()
    with pytest.raises(UsageError, match="profile default: mode CloudSSO not supported"):
        C.resolve_credentials(CloudSettings())


def test_credentials_file_without_extension_and_the_ini_first(sealed_env):
    folder = sealed_env / ".alibabacloud"
    folder.mkdir()
    (folder / "credentials").write_text("[default]\naccess_key_id = plainak\naccess_key_secret = plain-secret\n")
    assert C.resolve_credentials(CloudSettings()).get().access_key_id == "plainak"
    (folder / "credentials.ini").write_text("[default]\naccess_key_id = iniak\naccess_key_secret = ini-secret\n")
    assert C.resolve_credentials(CloudSettings()).get().access_key_id == "iniak"


@pytest.mark.parametrize("mode", ["refuse", "reset"])
def test_ecs_metadata_falls_back_to_plain_mode_when_the_token_request_fails(monkeypatch, mode):
    srv = FakeMetadata(token_mode=mode)
    try:
        monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT", srv.url)
        monkeypatch.delenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED")
        p = C.resolve_credentials(CloudSettings())
        assert p.source == "ecs-ram-role:AcmeRole" and p.get().access_key_id == "STS.ecs1"
        gets = [h for m, _p, h, _q in srv.requests if m == "GET"]
        assert gets and not any("X-aliyun-ecs-metadata-token" in h for h in gets)      # plain mode
        monkeypatch.setenv("ALIBABA_CLOUD_IMDSV1_DISABLED", "true")
        with pytest.raises(UsageError, match="ALIBABA_CLOUD_IMDSV1_DISABLED forbids plain mode"):
            C.resolve_credentials(CloudSettings())
    finally:
        srv.stop()


def test_credentials_uri_last_in_the_chain_refreshes_and_masks(monkeypatch):
    srv = FakeCredentialsUri(lifetime=300)           # inside the refresh margin: every get() fetches
    try:
        monkeypatch.setenv("ALIBABA_CLOUD_CREDENTIALS_URI", srv.url + "/creds?sig=query-secret-123")
        p = C.resolve_credentials(CloudSettings())
        assert p.source == "credentials-uri:%s/creds" % srv.url            # no query in the label
        first, second = p.get(), p.get()
        assert (first.access_key_id, second.access_key_id) == ("STS.uri2", "STS.uri3")
        assert second.security_token == "uri-token-3-Vb" and second.expiration > time.time()
        assert redact("uri-secret-3-Xq uri-token-3-Vb") == "[redacted] [redacted]"
        srv.code = "Failure"
        with pytest.raises(UsageError) as e:
            C.resolve_credentials(CloudSettings())
        assert "credentials URI" in str(e.value) and "Failure" in str(e.value)
        assert "query-secret-123" not in str(e.value)
    finally:
        srv.stop()


def test_credentials_uri_is_not_consulted_when_an_earlier_source_answers(monkeypatch):
    srv = FakeCredentialsUri()
    try:
        monkeypatch.setenv("ALIBABA_CLOUD_CREDENTIALS_URI", srv.url + "/creds")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "envak")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
        assert C.resolve_credentials(CloudSettings()).source == "env"
        assert srv.requests == []
    finally:
        srv.stop()


def test_profile_section_names_itself_and_role_wraps_the_chain(monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "envak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
    s = CloudSettings(profile="two", access_key_id="twoak", access_key_secret="two-secret")
    assert C.resolve_credentials(s).source == "config:[aliyun:two]"
    s = CloudSettings(profile="two", role_arn="acs:ram::2:role/x")
    assert C.resolve_credentials(s).source == "env+AssumeRole(acs:ram::2:role/x)"
