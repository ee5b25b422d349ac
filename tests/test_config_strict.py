"""acme.ini strictness (issue 14, points 1-4): typos, value shapes and cross-certificate mistakes
are errors at load, exit 2, one line naming file, section and key, with a suggestion."""

import codecs
import os

import pytest

from acme_aliyun import cli, config, config_checks
from acme_aliyun.errors import ConfigError

BASE = """\
[acme]
ACMEDirectory = https://127.0.0.1:9/dir
AccountKeyFile = account.key
StateDir = state
"""
WWW = """\
[cert:www]
Domains = www.example.test, example.test
Challenge = http-01
HTTPListen = 127.0.0.1:8080
"""


def _fails(tmp_path, capsys, text, expect, argv=("status",)):
    ini = tmp_path / "acme.ini"
    ini.write_text(text)
    code = cli.main(["-c", str(ini)] + list(argv))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, (code, err)
    assert expect in lines[0], lines[0]
    assert str(ini) in lines[0] and "Traceback" not in err and out == ""
    assert sorted(os.listdir(tmp_path)) == ["acme.ini"], "nothing may be written"
    return lines[0]


STRICT_CASES = {
    "key typo": (BASE + WWW + "CND = www.example.test\n",
                 "acme.ini [cert:www] CND: unknown key; did you mean CDN?"),
    "acme key typo": (BASE.replace("StateDir", "StateDri") + WWW, "[acme] StateDri: unknown key; did you mean StateDir?"),
    "cert section without colon": (BASE + WWW.replace("[cert:www]", "[cert www]"),
                                   "unknown section [cert www]; did you mean [cert:www]?"),
    "certs section": (BASE + WWW.replace("[cert:www]", "[certs:www]"), "did you mean [cert:www]?"),
    "section typo": (BASE + WWW + "[notfy]\nWebhook = https://127.0.0.1:9/hook\n",
                     "unknown section [notfy]; did you mean [notify]?"),
    "unrelated section": (BASE + "[extras]\nx = 1\n", "unknown section [extras] (known: [acme], [cert:NAME]"),
    "key twice in other case": (BASE + WWW + "cdn = www.example.test\nCDN = example.test\n",
                                "[cert:www] CDN: is given twice"),
    "cert key in [acme] without CSRFile": (BASE + "ChainFile = chain.pem\n" + WWW,
                                           "[acme] ChainFile: applies only with CSRFile"),
    "URL as CDN domain": (BASE + WWW + "CDN = https://www.example.test\n",
                          "[cert:www] CDN: 'https://www.example.test': give the bare domain (www.example.test)"),
    "URL as DCDN domain": (BASE + WWW + "DCDN = http://www.example.test/path\n", "give the bare domain"),
    "URL in API Gateway": (BASE + WWW + "APIGateway = %s:https://www.example.test\n" % ("a" * 32),
                           "[cert:www] APIGateway:", ),
    "Domains separated by spaces": (BASE + WWW.replace("www.example.test, example.test",
                                                       "a.example.test *.example.test"),
                                    "[cert:www] Domains: 'a.example.test *.example.test': separate names with commas"),
    "CDN separated by spaces": (BASE + WWW + "CDN = www.example.test example.test\n", "separate names with commas"),
    "CDN not covered": (BASE + WWW + "CDN = img.example.test\n",
                        "[cert:www] CDN: img.example.test is not covered by the certificate's names"),
    "DCDN not covered": (BASE + WWW + "DCDN = other.test\n", "[cert:www] DCDN: other.test is not covered"),
    "API Gateway domain not covered": (BASE + WWW + "APIGateway = %s:api.example.test\n" % ("b" * 32),
                                       "[cert:www] APIGateway: api.example.test is not covered"),
    "wildcard covers one label only": (
        BASE + WWW.replace("www.example.test, example.test", "*.example.test").replace(
            "Challenge = http-01\nHTTPListen = 127.0.0.1:8080", "Challenge = dns-01\nDNSHook = /bin/true")
        + "CDN = a.b.example.test\n", "a.b.example.test is not covered"),
    "same CDN under two certificates": (
        BASE + WWW + "CDN = www.example.test\n" + WWW.replace("[cert:www]", "[cert:other]") +
        "CDN = www.example.test\n", "[cert:other] CDN: www.example.test is also listed under [cert:www]"),
    "same API group under two certificates": (
        BASE + WWW + "APIGateway = %s\n" % ("c" * 32) + WWW.replace("[cert:www]", "[cert:other]") +
        "APIGateway = %s\n" % ("c" * 32), "is also listed under [cert:www]"),
    "KeyFile folder missing": (BASE + WWW + "KeyFile = /nonexistent-dir-14/www.key\n",
                               "[cert:www] KeyFile: folder /nonexistent-dir-14 does not exist"),
    "ChainFile folder missing": (BASE + WWW + "ChainFile = out/chain.pem\n", "[cert:www] ChainFile: folder"),
    "notify Language": (BASE + WWW + "[notify]\nWebhook = https://127.0.0.1:9/h\nLanguage = fr\n",
                        "[notify] Language: 'fr' is not one of en, zh-cn"),
}


@pytest.mark.parametrize("name", sorted(STRICT_CASES))
def test_config_mistakes_exit_2_with_one_line(name, tmp_path, capsys):
    text, expect = STRICT_CASES[name]
    _fails(tmp_path, capsys, text, expect)


def test_byte_order_mark_is_accepted(tmp_path):
    ini = tmp_path / "acme.ini"
    ini.write_bytes(codecs.BOM_UTF8 + (BASE + WWW).encode("utf-8"))
    cfg = config.load(str(ini))
    assert cfg.acme.directory_url == "https://127.0.0.1:9/dir" and list(cfg.certs) == ["www"]


def test_keys_ignore_case_and_covered_targets_load(tmp_path):
    ini = tmp_path / "acme.ini"
    (tmp_path / "out").mkdir()
    ini.write_text(BASE + WWW.replace("Domains", "domains") + "cdn = www.example.test, example.test\n"
                   "KeyFile = out/www.key\n" + WWW.replace("[cert:www]", "[cert:wild").replace(
                       "www.example.test, example.test", "*.example.test").replace(
                       "Challenge = http-01\nHTTPListen = 127.0.0.1:8080", "Challenge = dns-01\nDNSHook = /bin/true")
                   .replace("[cert:wild", "[cert:wild]") + "DCDN = img.example.test, *.example.test\n")
    cfg = config.load(str(ini))
    assert [t.target for t in cfg.certs["www"].targets["cdn"]] == ["www.example.test", "example.test"]
    assert cfg.certs["www"].key_file == str(tmp_path / "out" / "www.key")
    assert [t.target for t in cfg.certs["wild"].targets["dcdn"]] == ["img.example.test", ".example.test"]


def test_coverage_rule():
    names = ["example.test", "*.example.test"]
    assert config_checks.covers(names, "www.example.test")
    assert config_checks.covers(names, "example.test")
    assert config_checks.covers(names, "*.example.test")
    assert config_checks.covers(names, ".example.test")          # the wildcard accelerated domain
    assert not config_checks.covers(names, "a.b.example.test")
    assert not config_checks.covers(["www.example.test"], ".example.test")
    assert not config_checks.covers(["www.example.test"], "*.example.test")
    assert not config_checks.covers(["*.example.test"], "example.test")


def test_every_known_cert_key_is_read(tmp_path):
    """cert_keys() is the one list: each key in it is one the reader asks for, and only those load."""
    keys = set(k.lower() for k in config.cert_keys())
    assert {"cdn", "dcdn", "apigateway", "domains", "keyfile", "chainfile"} <= keys
    ini = tmp_path / "acme.ini"
    ini.write_text(BASE + WWW + "NotAKey = 1\n")
    with pytest.raises(ConfigError, match="NotAKey: unknown key"):
        config.load(str(ini))


def test_shipped_examples_load():
    """The examples users copy must pass the strict checks (coverage, known keys)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for rel in ("acme.ini.example", "deploy/acme.ini.ecs.example", "deploy/fc/acme.ini.example"):
        cfg = config.load(os.path.join(root, rel))
        assert cfg.certs, rel
