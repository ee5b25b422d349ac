"""Config values -> target specs: wildcard accelerated domains, API Gateway regions, one-line errors
naming section and key, and every kind's ini key read from the registry."""

import textwrap

import pytest

from acme_aliyun import config, targets
from acme_aliyun.errors import ConfigError
from acme_aliyun.targets.base import ParseDefaults, TargetSpec

G = "927d50c0f2e54b359919923d908bb015"
BASE = """\
[acme]
ACMEDirectory = https://127.0.0.1:9/dir
AccountKeyFile = account.key

[cert:site]
Domains = example.test, *.example.test
Challenge = dns-01
DNSHook = /bin/true
"""


def load(tmp_path, cert_lines="", aliyun=""):
    ini = tmp_path / "acme.ini"
    ini.write_text(BASE + textwrap.dedent(cert_lines) + ("\n[aliyun]\n" + textwrap.dedent(aliyun) if aliyun else ""))
    return config.load(str(ini))


def test_wildcard_accelerated_domains_become_the_apis_dot_form():
    for value in ("*.example.test", ".example.test", ".Example.TEST"):
        [spec] = targets.KINDS["cdn"].parse(value, ParseDefaults())
        assert (spec.target, spec.domain) == (".example.test", "*.example.test")
    assert len(targets.KINDS["dcdn"].parse("*.example.test, .example.test", ParseDefaults())) == 1


def test_api_gateway_region_prefix_and_default_region(tmp_path):
    cfg = load(tmp_path, "APIGateway = %s:API.example.test, cn-shanghai/%s\n" % (G, G.upper()),
               "Region = cn-beijing\n")
    assert cfg.certs["site"].targets["apigateway"] == [
        TargetSpec("apigateway", "%s:api.example.test" % G, "api.example.test", G, "cn-beijing"),
        TargetSpec("apigateway", "cn-shanghai/%s" % G, None, G, "cn-shanghai")]


def test_aliyun_section_after_the_certificate_still_sets_the_default_region(tmp_path):
    ini = tmp_path / "acme.ini"
    ini.write_text("[aliyun]\nRegion = cn-shenzhen\n\n" + BASE + "APIGateway = %s\n" % G)
    assert config.load(str(ini)).certs["site"].targets["apigateway"][0].region == "cn-shenzhen"


def test_only_kinds_with_targets_are_kept(tmp_path):
    cfg = load(tmp_path, "CDN = www.example.test, *.example.test\n")
    assert list(cfg.certs["site"].targets) == ["cdn"]
    assert [s.target for s in cfg.certs["site"].targets["cdn"]] == ["www.example.test", ".example.test"]


@pytest.mark.parametrize("key,value,expect", [
    ("APIGateway", "nothex", "[cert:site] APIGateway: 'nothex': the GroupId must be 32 hex characters"),
    ("APIGateway", "Shanghai!/%s" % G, "is not a region id such as cn-shanghai"),
    ("CDN", "www.example.test,,x.example.test", "[cert:site] CDN: has an empty entry"),
    ("DCDN", "..example.test", "[cert:site] DCDN:"),
])
def test_bad_target_values_are_one_line_naming_section_and_key(tmp_path, key, value, expect):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "%s = %s\n" % (key, value))
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_upload_mode_and_endpoint_keys_come_from_the_registry(tmp_path):
    cfg = load(tmp_path, "CDN = www.example.test\n", "Upload = direct\nCDNEndpoint = 127.0.0.1:1\n"
               "CASEndpoint = 127.0.0.1:2\nAPIGatewayEndpoint = 127.0.0.1:3\n")
    assert cfg.cloud.upload == "direct"
    assert cfg.cloud.endpoints == {"cdn": "127.0.0.1:1", "cas": "127.0.0.1:2", "apigateway": "127.0.0.1:3"}
    with pytest.raises(ConfigError) as e:       # unknown [aliyun] keys are errors, with a suggestion
        load(tmp_path, "", "CDNEndpoints = 127.0.0.1:1\n")
    assert "[aliyun] CDNEndpoints: unknown key; did you mean CDNEndpoint?" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "", "Upload = sometimes\n")
    assert "[aliyun] Upload" in str(e.value)
