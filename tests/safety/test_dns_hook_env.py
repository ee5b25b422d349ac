"""Item 13 of issue 12: the DNSHook runs with a clean environment: PATH, LANG, its documented
variables and what DNSHookEnv lists; never the cloud secrets, the STS token or webhook secrets."""

import json
import shlex
import sys

import pytest

from acme_aliyun import config
from acme_aliyun.challenges.base import Challenge
from acme_aliyun.challenges.dns_hook import DnsHookSolver
from acme_aliyun.errors import ConfigError
from acme_aliyun.challenges.solvers import make_solver
from tests.conftest import write_ini

CH = Challenge("example.test", "dns-01", "tok", "tok.thumb")
SECRETS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIhookleak000", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "hook-leak-secret",
           "ALIBABA_CLOUD_SECURITY_TOKEN": "hook-leak-token", "ACME_ALIYUN_DINGTALK_SECRET": "SEChookleak",
           "ACME_ALIYUN_FEISHU_SECRET": "feishu-hook-leak", "ALIYUN_ACCESS_KEY_SECRET": "aliyun-hook-leak"}


def _recorder(tmp_path):
    out = tmp_path / "env.json"
    path = tmp_path / "hook.py"
    path.write_text("import json, os, sys\njson.dump(dict(os.environ), open(%r, 'w'))\n" % str(out))
    return "%s %s" % (shlex.quote(sys.executable), shlex.quote(str(path))), out


def test_the_hook_gets_a_clean_environment(tmp_path, monkeypatch, pebble):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MY_DNS_API_TOKEN", "the-hook-needs-this")
    monkeypatch.setenv("UNRELATED", "x")
    command, out = _recorder(tmp_path)
    ini = write_ini(tmp_path, pebble,
                    "[cert:h]\nDomains = example.test\nChallenge = dns-01\nDNSHook = %s\n"
                    "DNSHookEnv = MY_DNS_API_TOKEN\n" % command)
    cert = config.load(ini).certs["h"]
    make_solver(cert).present([CH])
    env = json.loads(out.read_text())
    leaked = [k for k in SECRETS if k in env] + [k for k, v in env.items() if v in SECRETS.values()]
    assert not leaked, leaked
    assert env["MY_DNS_API_TOKEN"] == "the-hook-needs-this" and "UNRELATED" not in env
    assert env["ACME_TXT_VALUE"] == CH.dns_txt_value and "PATH" in env
    extra = set(env) - {"PATH", "LANG", "MY_DNS_API_TOKEN", "LC_CTYPE"} - {k for k in env if
                                                                           k.startswith(("ACME_", "CERTBOT_"))}
    assert not extra, extra


def test_dns_hook_env_names_are_checked(tmp_path, pebble):
    ini = write_ini(tmp_path, pebble,
                    "[cert:h]\nDomains = example.test\nChallenge = dns-01\nDNSHook = /bin/true\n"
                    "DNSHookEnv = GOOD, bad-name\n")
    with pytest.raises(ConfigError, match=r"\[cert:h\] DNSHookEnv"):
        config.load(ini)


def test_the_solver_takes_the_names_directly(tmp_path, monkeypatch):
    monkeypatch.setenv("ZONE_ID", "z1")
    command, out = _recorder(tmp_path)
    DnsHookSolver(command, env_names=["ZONE_ID"]).present([CH])
    assert json.loads(out.read_text())["ZONE_ID"] == "z1"
