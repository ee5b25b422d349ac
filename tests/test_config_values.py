"""acme.ini, key by key: what each key parses to, each default, and the whole message a user sees
for each mistake (file, section, key and reason, matched in full). Fast: config.load only, no CA,
no cloud; these are the tests mutation testing of config.py runs (docs/mutation/config.md)."""

import os
import pytest

from acme_aliyun import config
from acme_aliyun.errors import ConfigError

ACME = """\
[acme]
ACMEDirectory = https://127.0.0.1:9/dir
AccountKeyFile = account.key
"""
SITE = """\
[cert:site]
Domains = example.test
"""


def _write(tmp_path, text):
    ini = tmp_path / "acme.ini"
    ini.write_text("".join(line.lstrip() + "\n" for line in text.splitlines()))   # no continuation lines
    return ini


def _load(tmp_path, text):
    return config.load(str(_write(tmp_path, text)))


def _error(tmp_path, text):
    """The whole one-line message, with the ini path replaced by 'acme.ini'."""
    ini = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        config.load(str(ini))
    message = str(e.value)
    assert "\n" not in message
    return message.replace(str(ini), "acme.ini")


# --- defaults: a minimal file --------------------------------------------------------------------

def test_defaults_of_a_minimal_file(tmp_path, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    cfg = _load(tmp_path, ACME + SITE)
    ini = str(tmp_path / "acme.ini")
    assert cfg.path == ini
    a = cfg.acme
    assert (a.directory_url, a.account_key_file, a.contacts) == (
        "https://127.0.0.1:9/dir", str(tmp_path / "account.key"), [])
    assert (a.user_agent, a.language, a.ca_bundle, a.ca_bundle_in_ini) == (None, None, None, False)
    assert (a.state_dir, a.key_type, a.eab_kid, a.eab_hmac_key) == (str(tmp_path / "state"), "ec-256", None, None)
    assert (a.section, a.config_path, a.validation_timeout, a.parallel, a.run_budget, a.reload_command) == (
        "acme", ini, 300, 4, None, None)
    c = cfg.certs["site"]
    assert list(cfg.certs) == ["site"]
    assert (c.name, c.domains, c.challenge, c.webroot, c.http_listen) == ("site", ["example.test"], "http-01",
                                                                          None, ":80")
    assert (c.dns_provider, c.dns_hook, c.dns_hook_env, c.key_type, c.reuse_key) == (None, None, [], "ec-256", False)
    assert (c.profile, c.preferred_chain, c.renew_before_days, c.key_file, c.chain_file) == (None,) * 5
    assert (c.csr_file, c.targets, c.section, c.csr_error, c.account, c.dns_account, c.reload_command) == (
        None, {}, "cert:site", None, None, None, None)
    s = cfg.cloud
    assert (s.region, s.international, s.cert_region, s.upload, s.endpoint, s.endpoints) == (
        "cn-hangzhou", False, None, "cas", None, {})
    assert (s.access_key_id, s.access_key_secret, s.ram_role, s.role_arn, s.profile) == (None, None, None, None, "")
    assert s.config_file == ini
    assert (cfg.notify, cfg.probe, cfg.profiles) == (None, None, {})
    assert cfg.limits is not None and cfg.limits.psl_file is None
    assert cfg.cloud_for(None) is cfg.cloud


def test_defaults_of_an_empty_aliyun_section(tmp_path):
    s = _load(tmp_path, ACME + SITE + "[aliyun]\n").cloud
    assert (s.region, s.international, s.cert_region, s.upload, s.endpoint, s.endpoints) == (
        "cn-hangzhou", False, "cn-hangzhou", "cas", None, {})
    assert (s.access_key_id, s.access_key_secret, s.ram_role) == (None, None, None)
    assert (s.role_arn, s.external_id, s.role_session_name) == (None, None, None)
    assert (s.connect_timeout, s.read_timeout, s.dns_ttl, s.dns_wait, s.dns_wait_timeout) == (
        5.0, 20.0, 600, False, 300.0)
    assert type(s.connect_timeout) is float and type(s.dns_ttl) is int
    assert (s.profile, s.config_file) == ("", str(tmp_path / "acme.ini"))


# --- [acme] --------------------------------------------------------------------------------------

def test_every_acme_key_is_read(tmp_path, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    (tmp_path / "ca.pem").write_text("x")
    cfg = _load(tmp_path, """\
        [acme]
        ACMEDirectory = letsencrypt-staging
        AccountKeyFile = keys/../acct.key
        Contacts = MAILTO:a@example.test; ; mailto:b@example.test ;
        UserAgent = my-client/1.0 (ops)
        Language = zh-CN, en;q=0.5
        StateDir = ~/st
        CABundle = ca.pem
        KeyType = RSA-3072
        EABKeyId = kid-1
        EABHMACKey = abc_DEF-09==
        ValidationTimeout = 86400
        Parallel = 64
        RunBudget = 1.5
        ReloadCommand = systemctl reload 'nginx x'
        """ + SITE)
    a = cfg.acme
    assert a.directory_url == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert a.account_key_file == str(tmp_path / "acct.key")
    assert a.contacts == ["mailto:a@example.test", "mailto:b@example.test"]
    assert (a.user_agent, a.language) == ("my-client/1.0 (ops)", "zh-CN, en;q=0.5")
    assert a.state_dir == os.path.join(os.path.expanduser("~"), "st")
    assert (a.ca_bundle, a.ca_bundle_in_ini) == (str(tmp_path / "ca.pem"), True)
    assert (a.key_type, a.eab_kid, a.eab_hmac_key) == ("rsa-3072", "kid-1", "abc_DEF-09==")
    assert (a.validation_timeout, a.parallel, a.run_budget) == (86400, 64, 1.5)
    assert a.reload_command == ["systemctl", "reload", "nginx x"]
    assert cfg.certs["site"].key_type == "rsa-3072"      # a certificate's KeyType defaults to [acme]'s
    assert cfg.certs["site"].reload_command == ["systemctl", "reload", "nginx x"]


@pytest.mark.parametrize("alias,url", [
    ("letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"),
    ("LetsEncrypt", "https://acme-v02.api.letsencrypt.org/directory"),
    ("letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"),
])
def test_directory_aliases(tmp_path, alias, url):
    assert _load(tmp_path, ACME.replace("https://127.0.0.1:9/dir", alias) + SITE).acme.directory_url == url


def test_the_article_section_name_and_the_environment_ca_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/env.pem")
    cfg = _load(tmp_path, ACME.replace("[acme]", "[ACME-Neoprime]") + SITE)
    assert (cfg.acme.section, cfg.acme.ca_bundle, cfg.acme.ca_bundle_in_ini) == (
        "ACME-Neoprime", "/etc/ssl/env.pem", False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
    assert _load(tmp_path, ACME + SITE).acme.ca_bundle is None


def test_oss_state_dir_is_kept_as_a_url(tmp_path):
    cfg = _load(tmp_path, ACME + "StateDir = OSS://my-bucket/acme\n" + SITE)
    assert cfg.acme.state_dir == "OSS://my-bucket/acme"


def test_numbers_at_their_bounds(tmp_path):
    cfg = _load(tmp_path, ACME + "ValidationTimeout = 1\nParallel = 1\nRunBudget = 1\n" + SITE
                + "RenewBeforeDays = 365\n")
    assert (cfg.acme.validation_timeout, cfg.acme.parallel, cfg.acme.run_budget) == (1, 1, 1.0)
    assert type(cfg.acme.run_budget) is float and type(cfg.acme.parallel) is int
    assert cfg.certs["site"].renew_before_days == 365
    cfg = _load(tmp_path, ACME + SITE + "RenewBeforeDays = 1\n")
    assert cfg.certs["site"].renew_before_days == 1


# The whole message, "acme.ini [section] Key: reason", for each mistake.
ACME_ERRORS = {
    "StateDir = oss://A_B/x": "acme.ini [acme] StateDir: 'A_B' is not an OSS bucket name "
                              "(3-63 lower-case letters, digits, '-')",
    "ValidationTimeout = 0": "acme.ini [acme] ValidationTimeout: 0 is out of range (1 to 86400)",
    "ValidationTimeout = 86401": "acme.ini [acme] ValidationTimeout: 86401 is out of range (1 to 86400)",
    "ValidationTimeout = 1.5": "acme.ini [acme] ValidationTimeout: '1.5' is not a number",
    "Parallel = 0": "acme.ini [acme] Parallel: 0 is out of range (1 to 64)",
    "Parallel = 65": "acme.ini [acme] Parallel: 65 is out of range (1 to 64)",
    "RunBudget = 0.5": "acme.ini [acme] RunBudget: 0.5 is out of range (1 to None)",
    "RunBudget = soon": "acme.ini [acme] RunBudget: 'soon' is not a number",
    "ReloadCommand = 'open": "acme.ini [acme] ReloadCommand: cannot be split into words: No closing quotation",
    "UserAgent = \x01x": "acme.ini [acme] UserAgent: must be printable ASCII",
    "UserAgent = caf\u00e9": "acme.ini [acme] UserAgent: must be printable ASCII",
    "Language = en;q=2": "acme.ini [acme] Language: 'en;q=2' is not a language tag such as en or zh-CN",
    "Language = toolonglang": "acme.ini [acme] Language: 'toolonglang' is not a language tag such as en or zh-CN",
    "Language = en-": "acme.ini [acme] Language: 'en-' is not a language tag such as en or zh-CN",
    "KeyType = ec-521": "acme.ini [acme] KeyType: 'ec-521' is not one of ec-256, ec-384, rsa-2048, rsa-3072, "
                        "rsa-4096",
    "EABKeyId = kid": "acme.ini [acme] EABHMACKey: EABKeyId and EABHMACKey go together; set both or neither",
    "EABHMACKey = abc": "acme.ini [acme] EABKeyId: EABKeyId and EABHMACKey go together; set both or neither",
    "EABKeyId = k\nEABHMACKey = a+b": "acme.ini [acme] EABHMACKey: is not base64url text",
    "EABKeyId = k\nEABHMACKey = =a": "acme.ini [acme] EABHMACKey: is not base64url text",
    "EABKeyId = k\nEABHMACKey = a=b": "acme.ini [acme] EABHMACKey: is not base64url text",
    "Contacts = admin@example.test": "acme.ini [acme] Contacts: 'admin@example.test' must start with mailto:",
    "Contacts = mailto:a@example.test;b@example.test": "acme.ini [acme] Contacts: 'b@example.test' must start "
                                                       "with mailto:",
    "Contacts = mailto:a@b": "acme.ini [acme] Contacts: 'mailto:a@b' is not an email address "
                             "(write mailto:name@example.com)",
    "Contacts = mailto:a@-b.test": "acme.ini [acme] Contacts: 'mailto:a@-b.test' is not an email address "
                                   "(write mailto:name@example.com)",
    "Contacts = mailto:a@b-.test": "acme.ini [acme] Contacts: 'mailto:a@b-.test' is not an email address "
                                   "(write mailto:name@example.com)",
    "Contacts = mailto:a@b.test x": "acme.ini [acme] Contacts: 'mailto:a@b.test x' is not an email address "
                                    "(write mailto:name@example.com)",
    "Contacts = mailto:x a@b.test": "acme.ini [acme] Contacts: 'mailto:x a@b.test' is not an email address "
                                    "(write mailto:name@example.com)",
    "CABundle = no.pem": "acme.ini [acme] CABundle: file {dir}/no.pem does not exist",
    "Webroot = /srv": "acme.ini [acme] Webroot: applies only with CSRFile here; put it in a [cert:NAME] section",
    "account = x": "acme.ini [acme] account: applies only with CSRFile here; put it in a [cert:NAME] section",
}


@pytest.mark.parametrize("line", sorted(ACME_ERRORS))
def test_acme_key_errors(tmp_path, line):
    expect = ACME_ERRORS[line].replace("{dir}", str(tmp_path))
    assert _error(tmp_path, ACME + line + "\n" + SITE) == expect


@pytest.mark.parametrize("text,expect", [
    (SITE, "acme.ini: missing section [acme] (or [acme-neoprime])"),
    (ACME + ACME.replace("[acme]", "[acme-neoprime]") + SITE,
     "acme.ini: both [acme] and [acme-neoprime] are present; keep one"),
    (ACME.replace("https://127.0.0.1:9/dir", "ftp://x.test/d") + SITE,
     "acme.ini [acme] ACMEDirectory: 'ftp://x.test/d' is not an https URL (or letsencrypt / letsencrypt-staging)"),
    (ACME.replace("https://127.0.0.1:9/dir", "https:///d") + SITE,
     "acme.ini [acme] ACMEDirectory: 'https:///d' is not an https URL (or letsencrypt / letsencrypt-staging)"),
    (ACME.replace("https://127.0.0.1:9/dir", "http://ca.test/d") + SITE,
     "acme.ini [acme] ACMEDirectory: 'http://ca.test/d' uses plain http; ACME requires https (plain http only "
     "on loopback: 127.0.0.0/8, ::1, localhost)"),
    (ACME.replace("https://127.0.0.1:9/dir", " ") + SITE, "acme.ini [acme] ACMEDirectory: is required"),
    (ACME.replace("AccountKeyFile = account.key\n", "") + SITE, "acme.ini [acme] AccountKeyFile: is required"),
    (ACME + "Contacts = mailto:a@example.test\ncontacts = mailto:b@example.test\n" + SITE,
     "acme.ini [acme] contacts: is given twice (keys ignore case)"),
    (ACME + "Domain = example.test\n" + SITE, "acme.ini [acme] Domain: unknown key"),
])
def test_acme_section_errors(tmp_path, text, expect):
    assert _error(tmp_path, text) == expect


def test_https_directory_is_accepted_anywhere(tmp_path):
    url = "https://ca.example.test/acme/directory"
    assert _load(tmp_path, ACME.replace("https://127.0.0.1:9/dir", url) + SITE).acme.directory_url == url


# --- [cert:NAME] ---------------------------------------------------------------------------------

def test_every_cert_key_is_read(tmp_path):
    (tmp_path / "out").mkdir()
    cfg = _load(tmp_path, ACME + """\
        [cert: Web.1_x-y ]
        Domains = B.Example.test, *.example.test, b.example.test
        Challenge = DNS-01
        DNSProvider = ALIDNS
        DNSHook = /bin/hook --zone 'a b'
        DNSHookEnv = FOO, _bar BAZ9
        KeyType = ec-384
        ReuseKey = ON
        Profile = shortlived
        PreferredChain = ISRG Root X1
        RenewBeforeDays = 30
        KeyFile = out/k.pem
        ChainFile = out/c.pem
        ReloadCommand = /bin/true
        CDN = b.example.test
        [aliyun:two]
        Region = cn-beijing
        [aliyun:zones]
        [cert:other]
        Domains = other.test
        Account = two
        DNSAccount = zones
        APIGateway = %s
        """ % ("a" * 32))
    c = cfg.certs["Web.1_x-y"]
    assert (c.name, c.section) == ("Web.1_x-y", "cert: Web.1_x-y ")
    assert c.domains == ["b.example.test", "*.example.test"]
    assert (c.challenge, c.dns_provider, c.dns_hook, c.dns_hook_env) == (
        "dns-01", "alidns", "/bin/hook --zone 'a b'", ["FOO", "_bar", "BAZ9"])
    assert (c.key_type, c.reuse_key, c.profile, c.preferred_chain, c.renew_before_days) == (
        "ec-384", True, "shortlived", "ISRG Root X1", 30)
    assert (c.key_file, c.chain_file) == (str(tmp_path / "out" / "k.pem"), str(tmp_path / "out" / "c.pem"))
    assert c.reload_command == ["/bin/true"]
    assert [t.target for t in c.targets["cdn"]] == ["b.example.test"]
    assert (c.account, c.dns_account, c.dns_profile, c.http_listen, c.webroot) == (None, None, None, None, None)
    o = cfg.certs["other"]
    assert (o.account, o.dns_account, o.dns_profile) == ("two", "zones", "zones")
    assert o.targets["apigateway"][0].region == "cn-beijing"     # the default region of Account's profile
    assert cfg.cloud_for("two").region == "cn-beijing" and cfg.cloud_for("two").profile == "two"
    assert sorted(cfg.profiles) == ["two", "zones"]


def test_challenge_details(tmp_path):
    cfg = _load(tmp_path, ACME + """\
        [cert:a]
        Domains = a.test
        Webroot = www
        [cert:b]
        Domains = b.test
        HTTPListen = [::1]:8080
        [cert:c]
        Domains = c.test
        Challenge = dns-01
        DNSHook = /bin/true
        [cert:d]
        Domains = d.test
        HTTPListen = :65535
        DNSHook = /bin/x
        """)
    a, b, c, d = (cfg.certs[n] for n in "abcd")
    assert (a.webroot, a.http_listen) == (str(tmp_path / "www"), None)
    assert (b.webroot, b.http_listen) == (None, "[::1]:8080")
    assert (c.challenge, c.dns_provider, c.dns_hook) == ("dns-01", "hook", "/bin/true")
    assert (d.challenge, d.http_listen, d.dns_provider, d.dns_hook) == ("http-01", ":65535", None, "/bin/x")


@pytest.mark.parametrize("value", ["yes", "YES", "1", "true", "On"])
def test_true_words(tmp_path, value):
    assert _load(tmp_path, ACME + SITE + "ReuseKey = %s\n" % value).certs["site"].reuse_key is True


@pytest.mark.parametrize("value", ["no", "0", "False", "OFF"])
def test_false_words(tmp_path, value):
    assert _load(tmp_path, ACME + SITE + "ReuseKey = %s\n" % value).certs["site"].reuse_key is False


def test_domains_are_deduplicated_in_order(tmp_path):
    cfg = _load(tmp_path, ACME + SITE.replace("example.test", " b.test, a.test , B.test "))
    assert cfg.certs["site"].domains == ["b.test", "a.test"]


def test_a_hundred_names_load(tmp_path):
    names = ", ".join("n%d.example.test" % i for i in range(100))
    assert len(_load(tmp_path, ACME + SITE.replace("example.test", names)).certs["site"].domains) == 100


CERT_ERRORS = {
    "Domains = a.test,,b.test": "acme.ini [cert:site] Domains: has an empty entry (check the commas)",
    "Domains = ,": "acme.ini [cert:site] Domains: has an empty entry (check the commas)",
    "Domains = https://a.test/x": "acme.ini [cert:site] Domains: 'https://a.test/x': give the bare domain "
                                  "(a.test), not a URL",
    "Domains = a_b.test": "acme.ini [cert:site] Domains: 'a_b.test': underscores are not allowed in "
                          "certificate names",
    "Domains = *.a.test": "acme.ini [cert:site] Challenge: wildcard names need dns-01",
    "Webroot = w\nHTTPListen = :81": "acme.ini [cert:site] Webroot: set Webroot or HTTPListen, not both",
    "HTTPListen = 8080": "acme.ini [cert:site] HTTPListen: '8080' is not host:port (e.g. :80 or 127.0.0.1:8080)",
    "HTTPListen = :0": "acme.ini [cert:site] HTTPListen: ':0' is not host:port (e.g. :80 or 127.0.0.1:8080)",
    "HTTPListen = :65536": "acme.ini [cert:site] HTTPListen: ':65536' is not host:port (e.g. :80 or "
                           "127.0.0.1:8080)",
    "HTTPListen = host:": "acme.ini [cert:site] HTTPListen: 'host:' is not host:port (e.g. :80 or "
                          "127.0.0.1:8080)",
    "Challenge = dns-01": "acme.ini [cert:site] DNSProvider: dns-01 needs DNSProvider = alidns or hook",
    "Challenge = dns-01\nDNSProvider = hook": "acme.ini [cert:site] DNSHook: DNSProvider = hook needs a DNSHook "
                                              "command",
    "Challenge = http-02": "acme.ini [cert:site] Challenge: 'http-02' is not one of http-01, dns-01",
    "DNSProvider = r53": "acme.ini [cert:site] DNSProvider: 'r53' is not one of alidns, hook",
    "DNSHook = 'x": "acme.ini [cert:site] DNSHook: cannot be parsed as a command: No closing quotation",
    "DNSHookEnv = GOOD, 9BAD": "acme.ini [cert:site] DNSHookEnv: '9BAD' is not an environment variable name",
    "DNSHookEnv = A-B": "acme.ini [cert:site] DNSHookEnv: 'A-B' is not an environment variable name",
    "DNSHookEnv = AB$": "acme.ini [cert:site] DNSHookEnv: 'AB$' is not an environment variable name",
    "ReuseKey = sure": "acme.ini [cert:site] ReuseKey: 'sure' is not yes/no",
    "RenewBeforeDays = 366": "acme.ini [cert:site] RenewBeforeDays: 366 is out of range (1 to 365)",
    "RenewBeforeDays = 0": "acme.ini [cert:site] RenewBeforeDays: 0 is out of range (1 to 365)",
    "KeyType = ec-999": "acme.ini [cert:site] KeyType: 'ec-999' is not one of ec-256, ec-384, rsa-2048, "
                        "rsa-3072, rsa-4096",
    "KeyFile = nodir/k.pem": "acme.ini [cert:site] KeyFile: folder {dir}/nodir does not exist (create it first)",
    "ChainFile = nodir/c.pem": "acme.ini [cert:site] ChainFile: folder {dir}/nodir does not exist "
                               "(create it first)",
    "ReloadCommand = \"x": "acme.ini [cert:site] ReloadCommand: cannot be split into words: No closing quotation",
    "Account = two": "acme.ini [cert:site] Account: no [aliyun:two] section (account profiles: none)",
    "DNSAccount = two": "acme.ini [cert:site] DNSAccount: no [aliyun:two] section (account profiles: none)",
    "CDN = a.test b.test": "acme.ini [cert:site] CDN: 'a.test b.test': separate names with commas",
    "DCDN = x.test": "acme.ini [cert:site] DCDN: x.test is not covered by the certificate's names "
                      "(example.test)",
    "APIGateway = zz": "acme.ini [cert:site] APIGateway: 'zz': the GroupId must be 32 hex characters",
    "CND = example.test": "acme.ini [cert:site] CND: unknown key; did you mean CDN?",
}


@pytest.mark.parametrize("line", sorted(CERT_ERRORS))
def test_cert_key_errors(tmp_path, line):
    text = ACME + SITE + line + "\n"
    if line.startswith("Domains"):
        text = ACME + "[cert:site]\n" + line + "\n"
    assert _error(tmp_path, text) == CERT_ERRORS[line].replace("{dir}", str(tmp_path))


@pytest.mark.parametrize("text,expect", [
    (ACME + "[cert:site]\nChallenge = http-01\n", "acme.ini [cert:site] Domains: is required"),
    (ACME + "[cert:site]\nDomains = \n", "acme.ini [cert:site] Domains: is required"),
    (ACME + "[cert:-x]\nDomains = a.test\n", "acme.ini [cert:-x]: certificate name '-x': use letters, digits, "
                                              "'.', '_' or '-'"),
    (ACME + "[cert:%s]\nDomains = a.test\n" % ("a" * 65), "acme.ini [cert:%s]: certificate name '%s': use letters, "
                                                          "digits, '.', '_' or '-'" % ("a" * 65, "a" * 65)),
    (ACME + SITE + SITE.replace("site", "Site ").replace("[cert:Site ]", "[cert: site]"),
     "acme.ini [cert: site]: certificate 'site' is defined twice"),
    (ACME + SITE.replace("example.test", ", ".join("n%d.test" % i for i in range(101))),
     "acme.ini [cert:site] Domains: 101 names; a certificate holds at most 100"),
    (ACME + SITE + "Account = x\n[aliyun:b]\n[aliyun:a]\n",
     "acme.ini [cert:site] Account: no [aliyun:x] section (account profiles: [aliyun:b], [aliyun:a])"),
    (ACME + SITE + "[other]\n", "acme.ini: unknown section [other] (known: [acme], [cert:NAME], [aliyun], "
                                "[aliyun:NAME], [notify], [limits], [probe])"),
])
def test_cert_section_errors(tmp_path, text, expect):
    assert _error(tmp_path, text) == expect


def test_a_certificate_name_of_64_characters_loads(tmp_path):
    name = "a" * 64
    assert list(_load(tmp_path, ACME + SITE.replace("site", name)).certs) == [name]


def test_csr_error_is_kept_for_the_command_that_needs_it(tmp_path):
    cfg = _load(tmp_path, ACME + "[cert:site]\nCSRFile = none.csr\nDomains = a.test\n")
    c = cfg.certs["site"]
    assert c.csr_file == str(tmp_path / "none.csr") and c.domains == ["a.test"]
    assert str(c.csr_error) == "%s [cert:site] CSRFile: file %s does not exist" % (tmp_path / "acme.ini",
                                                                                    tmp_path / "none.csr")


def _csr(path, names):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from acme_aliyun import pki
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(pki.make_csr(key, names).public_bytes(serialization.Encoding.PEM))


def test_csr_names_become_the_domains(tmp_path):
    _csr(tmp_path / "site.csr", ["B.example.test", "a.example.test", "b.example.test"])
    cfg = _load(tmp_path, ACME + "[cert:site]\nCSRFile = site.csr\n"
                "[cert:same]\nCSRFile = site.csr\nDomains = a.example.test, b.example.test\n")
    assert cfg.certs["site"].domains == ["b.example.test", "a.example.test"]
    assert cfg.certs["same"].domains == ["b.example.test", "a.example.test"]
    assert cfg.certs["site"].csr_error is None
    cfg = _load(tmp_path, ACME + "[cert:site]\nCSRFile = site.csr\nDomains = a.example.test\n")
    assert str(cfg.certs["site"].csr_error) == (
        "%s [cert:site] Domains: names differ from the CSR's (b.example.test, a.example.test, b.example.test)"
        % (tmp_path / "acme.ini"))


def test_article_csr_certificate(tmp_path):
    _csr(tmp_path / "My Site.CSR", ["example.test"])
    cfg = _load(tmp_path, ACME.replace("[acme]", "[acme-neoprime]") + "CSRFile = My Site.CSR\nChallenge = dns-01\n"
                "DNSHook = /bin/true\nReuseKey = yes\n")
    [c] = cfg.certs.values()
    assert (c.name, c.section, c.domains, c.csr_error) == ("My-Site", "acme-neoprime", ["example.test"], None)
    assert (c.challenge, c.dns_hook, c.reuse_key, c.csr_file) == ("dns-01", "/bin/true", True,
                                                                   str(tmp_path / "My Site.CSR"))
    cfg = _load(tmp_path, ACME + "CSRFile = plain\n")
    assert list(cfg.certs) == ["plain"] and cfg.certs["plain"].domains == []
    assert "CSRFile: file %s does not exist" % (tmp_path / "plain") in str(cfg.certs["plain"].csr_error)
    cfg = _load(tmp_path, ACME + "CSRFile = .csr\n")
    assert list(cfg.certs) == ["default"]


def test_article_certificate_and_a_cert_section_may_not_share_a_name(tmp_path):
    _csr(tmp_path / "site.csr", ["example.test"])
    assert _error(tmp_path, ACME + "CSRFile = site.csr\n" + SITE) == (
        "acme.ini [cert:site]: certificate 'site' is defined twice")


# --- [aliyun] and [aliyun:NAME] ------------------------------------------------------------------

def test_every_aliyun_key_is_read(tmp_path):
    cfg = _load(tmp_path, ACME + SITE + """\
        [aliyun]
        Region = ap-southeast-1
        International = yes
        Upload = DIRECT
        Endpoint = https://127.0.0.1:7/
        CDNEndpoint = 127.0.0.1:1
        DNSEndpoint = localhost:2
        STSEndpoint = http://127.0.0.1:3
        CASEndpoint = cas.example.test
        AccessKeyId = LTAIkey
        AccessKeySecret = config-values-secret-1
        RamRole = ecs-role
        RoleArn = acs:ram::123456789012:role/acme
        ExternalId = ext-1
        RoleSessionName = a.b@c_d-e
        ConnectTimeout = 0.1
        ReadTimeout = 600
        DNSTTL = 86400
        DNSWait = true
        DNSWaitTimeout = 3600
        """)
    s = cfg.cloud
    assert (s.region, s.international, s.cert_region, s.upload) == ("ap-southeast-1", True, "ap-southeast-1",
                                                                    "direct")
    assert s.endpoint == "https://127.0.0.1:7/"
    assert s.endpoints == {"cdn": "127.0.0.1:1", "dns": "localhost:2", "sts": "http://127.0.0.1:3",
                           "cas": "cas.example.test"}
    assert (s.access_key_id, s.access_key_secret, s.ram_role) == ("LTAIkey", "config-values-secret-1", "ecs-role")
    assert (s.role_arn, s.external_id, s.role_session_name) == ("acs:ram::123456789012:role/acme", "ext-1",
                                                                "a.b@c_d-e")
    assert (s.connect_timeout, s.read_timeout, s.dns_ttl, s.dns_wait, s.dns_wait_timeout) == (
        0.1, 600.0, 86400, True, 3600.0)


@pytest.mark.parametrize("region", ["cn-hangzhou", "us-west-1", "ap-northeast-2", "cn-shanghai-finance-1"])
def test_region_ids(tmp_path, region):
    assert _load(tmp_path, ACME + SITE + "[aliyun]\nRegion = %s\n" % region).cloud.region == region


def test_cert_region_can_be_set_either_way(tmp_path):
    s = _load(tmp_path, ACME + SITE + "[aliyun]\nInternational = yes\nCertRegion = CN-Hangzhou\n").cloud
    assert (s.international, s.cert_region) == (True, "cn-hangzhou")
    s = _load(tmp_path, ACME + SITE + "[aliyun]\nCertRegion = ap-southeast-1\n").cloud
    assert (s.international, s.cert_region) == (False, "ap-southeast-1")


def test_profiles_stand_alone(tmp_path):
    cfg = _load(tmp_path, ACME + SITE + """\
        [aliyun]
        Region = cn-shenzhen
        AccessKeyId = id0
        AccessKeySecret = config-values-secret-2
        [aliyun: Two ]
        Upload = direct
        """)
    two = cfg.profiles["Two"]
    assert (cfg.cloud.region, cfg.cloud.profile, cfg.cloud.access_key_id) == ("cn-shenzhen", "", "id0")
    assert (two.region, two.upload, two.access_key_id, two.profile) == ("cn-hangzhou", "direct", None, "Two")
    assert cfg.cloud_for("Two") is two and cfg.cloud_for("") is cfg.cloud


ALIYUN_ERRORS = {
    "Region = cn": "acme.ini [aliyun] Region: 'cn' is not a region id such as cn-hangzhou",
    "Region = c-hangzhou": "acme.ini [aliyun] Region: 'c-hangzhou' is not a region id such as cn-hangzhou",
    "Region = abcde-x": "acme.ini [aliyun] Region: 'abcde-x' is not a region id such as cn-hangzhou",
    "Region = cn-hangzhou-": "acme.ini [aliyun] Region: 'cn-hangzhou-' is not a region id such as cn-hangzhou",
    "Region = cn-Hangzhou": "acme.ini [aliyun] Region: 'cn-Hangzhou' is not a region id such as cn-hangzhou",
    "International = 2": "acme.ini [aliyun] International: '2' is not yes/no",
    "CertRegion = us-west-1": "acme.ini [aliyun] CertRegion: 'us-west-1' is not one of cn-hangzhou, ap-southeast-1",
    "Upload = both": "acme.ini [aliyun] Upload: 'both' is not one of cas, direct",
    "Endpoint = ftp://x.test": "acme.ini [aliyun] Endpoint: 'ftp://x.test' is not host[:port] or an http(s) URL",
    "Endpoint = http://": "acme.ini [aliyun] Endpoint: 'http://' is not host[:port] or an http(s) URL",
    "CASEndpoint = :80": "acme.ini [aliyun] CASEndpoint: ':80' is not host[:port] or an http(s) URL",
    "WAFEndpoint = h.test:99999": "acme.ini [aliyun] WAFEndpoint: 'h.test:99999' has a bad port",
    "AccessKeyId = id": "acme.ini [aliyun] AccessKeySecret: AccessKeyId and AccessKeySecret go together",
    "AccessKeySecret = s": "acme.ini [aliyun] AccessKeyId: AccessKeyId and AccessKeySecret go together",
    "RoleArn = acs:ram::12:user/x": "acme.ini [aliyun] RoleArn: 'acs:ram::12:user/x' is not a RAM role ARN such "
                                    "as acs:ram::123456789012:role/acme",
    "RoleArn = acs:ram::12:role/": "acme.ini [aliyun] RoleArn: 'acs:ram::12:role/' is not a RAM role ARN such "
                                   "as acs:ram::123456789012:role/acme",
    "RoleArn = xacs:ram::12:role/a": "acme.ini [aliyun] RoleArn: 'xacs:ram::12:role/a' is not a RAM role ARN "
                                     "such as acs:ram::123456789012:role/acme",
    "RoleArn = acs:ram::1:role/a b": "acme.ini [aliyun] RoleArn: 'acs:ram::1:role/a b' is not a RAM role ARN "
                                     "such as acs:ram::123456789012:role/acme",
    "RoleArn = acs:ram::1:role/a\nRoleSessionName = x": "acme.ini [aliyun] RoleSessionName: use 2 to 64 letters, "
                                                        "digits or . @ _ -",
    "RoleArn = acs:ram::1:role/a\nRoleSessionName = %s" % ("x" * 65): "acme.ini [aliyun] RoleSessionName: use 2 "
                                                                      "to 64 letters, digits or . @ _ -",
    "RoleSessionName = ab": "acme.ini [aliyun] RoleSessionName: only applies with RoleArn",
    "ExternalId = e": "acme.ini [aliyun] ExternalId: only applies with RoleArn",
    "ConnectTimeout = 0.09": "acme.ini [aliyun] ConnectTimeout: 0.09 is out of range (0.1 to 120)",
    "ConnectTimeout = 121": "acme.ini [aliyun] ConnectTimeout: 121 is out of range (0.1 to 120)",
    "ReadTimeout = 601": "acme.ini [aliyun] ReadTimeout: 601 is out of range (0.1 to 600)",
    "ReadTimeout = 0": "acme.ini [aliyun] ReadTimeout: 0 is out of range (0.1 to 600)",
    "DNSTTL = 0": "acme.ini [aliyun] DNSTTL: 0 is out of range (1 to 86400)",
    "DNSTTL = 86401": "acme.ini [aliyun] DNSTTL: 86401 is out of range (1 to 86400)",
    "DNSTTL = 1.5": "acme.ini [aliyun] DNSTTL: '1.5' is not a number",
    "DNSWait = later": "acme.ini [aliyun] DNSWait: 'later' is not yes/no",
    "DNSWaitTimeout = 0.5": "acme.ini [aliyun] DNSWaitTimeout: 0.5 is out of range (1 to 3600)",
    "DNSWaitTimeout = 3601": "acme.ini [aliyun] DNSWaitTimeout: 3601 is out of range (1 to 3600)",
    "Regoin = cn-hangzhou": "acme.ini [aliyun] Regoin: unknown key; did you mean Region?",
}


@pytest.mark.parametrize("line", sorted(ALIYUN_ERRORS))
def test_aliyun_key_errors(tmp_path, line):
    assert _error(tmp_path, ACME + SITE + "[aliyun]\n" + line + "\n") == ALIYUN_ERRORS[line]


def test_aliyun_numbers_at_their_bounds(tmp_path):
    s = _load(tmp_path, ACME + SITE + "[aliyun]\nConnectTimeout = 120\nReadTimeout = 0.1\nDNSTTL = 1\n"
              "DNSWaitTimeout = 1\n").cloud
    assert (s.connect_timeout, s.read_timeout, s.dns_ttl, s.dns_wait_timeout) == (120.0, 0.1, 1, 1.0)


@pytest.mark.parametrize("text,expect", [
    ("[aliyun:a b]\n", "acme.ini [aliyun:a b]: profile name 'a b': use letters, digits, '.', '_' or '-'"),
    ("[aliyun:]\n", "acme.ini [aliyun:]: profile name '': use letters, digits, '.', '_' or '-'"),
    ("[aliyun:two]\n[aliyun: two]\n", "acme.ini [aliyun: two]: account profile 'two' is defined twice"),
    ("[aliyun:two]\nRegion = x\n", "acme.ini [aliyun:two] Region: 'x' is not a region id such as cn-hangzhou"),
    ("[aliyun:two]\nregion = cn-beijing\nREGION = cn-beijing\n",
     "acme.ini [aliyun:two] REGION: is given twice (keys ignore case)"),
    ("[aliyun:two]\nRegoin = a\n", "acme.ini [aliyun:two] Regoin: unknown key; did you mean Region?"),
])
def test_profile_errors(tmp_path, text, expect):
    assert _error(tmp_path, ACME + SITE + text) == expect


# --- [notify], [probe], [limits] -----------------------------------------------------------------

def test_notify_defaults_and_every_key(tmp_path):
    n = _load(tmp_path, ACME + SITE + "[notify]\nWebhook = https://hooks.example.test/x\n").notify
    assert (n.webhook, n.format, n.on_success, n.timeout, n.language) == (
        "https://hooks.example.test/x", "generic", False, 10.0, "en")
    assert (n.smtp, n.mail_from, n.mail_to) == (None, None, [])
    n = _load(tmp_path, ACME + SITE + """\
        [notify]
        Webhook = http://127.0.0.1:9/h
        Format = DingTalk
        OnSuccess = yes
        Timeout = 120
        Language = ZH-cn
        SMTP = mail.example.test:587
        From = ops@example.test
        To = a@example.test, , b@example.test
        """).notify
    assert (n.webhook, n.format, n.on_success, n.timeout, n.language) == (
        "http://127.0.0.1:9/h", "dingtalk", True, 120.0, "zh-CN")
    assert (n.smtp, n.mail_from, n.mail_to) == ("mail.example.test:587", "ops@example.test",
                                                ["a@example.test", "b@example.test"])
    n = _load(tmp_path, ACME + SITE + "[notify]\nSMTP = [::1]:25\nFrom = a@b.test\nTo = c@d.test\nTimeout = 1\n"
              "Language = en\n").notify
    assert (n.webhook, n.smtp, n.mail_to, n.timeout, n.language) == (None, "[::1]:25", ["c@d.test"], 1.0, "en")
    n = _load(tmp_path, ACME + SITE + "[notify]\nWebhook = http://localhost/h\n").notify
    assert n.webhook == "http://localhost/h"


NOTIFY_ERRORS = {
    "Webhook = https://h.test\nFormat = slack": "acme.ini [notify] Format: 'slack' is not one of generic, "
                                                "dingtalk, feishu, wecom",
    "Webhook = ftp://h.test/x": "acme.ini [notify] Webhook: ftp://h.test/x is not an http(s) URL",
    "Webhook = https:///x": "acme.ini [notify] Webhook: https:///x is not an http(s) URL",
    "Webhook = https://[x/y": "acme.ini [notify] Webhook: https://[x/y is not an http(s) URL",
    "Webhook = http://hooks.test/send?access_token=tok12345": "acme.ini [notify] Webhook: "
        "http://hooks.test/send?access_token=*** uses plain http: the message and the token in the URL would "
        "cross the network in clear; use https",
    "Webhook = https://h.test\nOnSuccess = often": "acme.ini [notify] OnSuccess: 'often' is not yes/no",
    "Webhook = https://h.test\nTimeout = 0.5": "acme.ini [notify] Timeout: 0.5 is out of range (1 to 120)",
    "Webhook = https://h.test\nTimeout = 121": "acme.ini [notify] Timeout: 121 is out of range (1 to 120)",
    "Webhook = https://h.test\nLanguage = de": "acme.ini [notify] Language: 'de' is not one of en, zh-cn",
    "OnSuccess = yes": "acme.ini [notify] Webhook: is required (or SMTP = host:port for email)",
    "SMTP = mail.test": "acme.ini [notify] SMTP: 'mail.test' is not host:port (e.g. smtp.example.com:587)",
    "SMTP = :25": "acme.ini [notify] SMTP: ':25' is not host:port (e.g. smtp.example.com:587)",
    "SMTP = m.test:0": "acme.ini [notify] SMTP: 'm.test:0' is not host:port (e.g. smtp.example.com:587)",
    "SMTP = m.test:65536": "acme.ini [notify] SMTP: 'm.test:65536' is not host:port (e.g. smtp.example.com:587)",
    "SMTP = m.test:x": "acme.ini [notify] SMTP: 'm.test:x' is not host:port (e.g. smtp.example.com:587)",
    "SMTP = m.test:25\nTo = a@b.test": "acme.ini [notify] From: is required",
    "SMTP = m.test:25\nFrom = a@b.test": "acme.ini [notify] To: is required",
    "SMTP = m.test:25\nFrom = me\nTo = a@b.test": "acme.ini [notify] From: 'me' is not an email address",
    "SMTP = m.test:25\nFrom = a@b.test\nTo = c@d.test, e@f": "acme.ini [notify] To: 'e@f' is not an email address",
    "Webhook = https://h.test\nWebHook = https://h.test": "acme.ini [notify] WebHook: is given twice "
                                                          "(keys ignore case)",
    "Webhook = https://h.test\nFormats = generic": "acme.ini [notify] Formats: unknown key; did you mean Format?",
}


@pytest.mark.parametrize("line", sorted(NOTIFY_ERRORS))
def test_notify_errors(tmp_path, line):
    assert _error(tmp_path, ACME + SITE + "[notify]\n" + line + "\n") == NOTIFY_ERRORS[line]


def test_probe_defaults_and_keys(tmp_path):
    p = _load(tmp_path, ACME + SITE + "[probe]\n").probe
    assert (p.resolve, p.port, p.timeout) == ({}, 443, 5.0)
    p = _load(tmp_path, ACME + SITE + "[Probe]\nResolve = a.test:127.0.0.1:8443\nPort = 65535\nTimeout = 0.1\n").probe
    assert (p.resolve, p.port, p.timeout) == ({"a.test": ("127.0.0.1", 8443)}, 65535, 0.1)
    p = _load(tmp_path, ACME + SITE + "[probe]\nPort = 1\nTimeout = 120\n").probe
    assert (p.port, p.timeout) == (1, 120.0)


@pytest.mark.parametrize("line,expect", [
    ("Resolve = nocolon", "acme.ini [probe] Resolve: 'nocolon' is not host:address[:port]"),
    ("Port = 0", "acme.ini [probe] Port: 0 is out of range (1 to 65535)"),
    ("Port = 65536", "acme.ini [probe] Port: 65536 is out of range (1 to 65535)"),
    ("Timeout = 0.01", "acme.ini [probe] Timeout: 0.01 is out of range (0.1 to 120)"),
    ("Timeout = 121", "acme.ini [probe] Timeout: 121 is out of range (0.1 to 120)"),
    ("Ports = 1", "acme.ini [probe] Ports: unknown key; did you mean Port?"),
])
def test_probe_errors(tmp_path, line, expect):
    assert _error(tmp_path, ACME + SITE + "[probe]\n" + line + "\n") == expect


def test_limits_section(tmp_path):
    (tmp_path / "psl.dat").write_text("test\n")
    lim = _load(tmp_path, ACME + SITE + "[LIMITS]\nPublicSuffixFile = psl.dat\n").limits
    assert lim.psl_file == str(tmp_path / "psl.dat")
    assert _error(tmp_path, ACME + SITE + "[limits]\nPublicSuffixFile = none.dat\n") == (
        "acme.ini [limits] PublicSuffixFile: file %s does not exist" % (tmp_path / "none.dat"))
    assert _error(tmp_path, ACME + SITE + "[limits]\nNewOrder = 1\n").startswith(
        "acme.ini [limits] NewOrder: unknown key; did you mean NewOrders?")


# --- the file itself -----------------------------------------------------------------------------

def test_file_errors(tmp_path):
    missing = tmp_path / "none.ini"
    with pytest.raises(ConfigError) as e:
        config.load(str(missing))
    assert str(e.value) == "%s: file does not exist" % missing
    folder = tmp_path / "dir.ini"
    folder.mkdir()
    with pytest.raises(ConfigError) as e:
        config.load(str(folder))
    assert str(e.value) == "%s: cannot read: Is a directory" % folder
    bad = tmp_path / "bad.ini"
    bad.write_bytes(b"[acme]\nx = \xff\n")
    with pytest.raises(ConfigError) as e:
        config.load(str(bad))
    assert str(e.value) == "%s: not a valid ini file: it is not UTF-8 text" % bad
    bad.write_text("[acme]\n[acme]\n")
    with pytest.raises(ConfigError) as e:
        config.load(str(bad))
    assert str(e.value) == "%s: not a valid ini file: line 2: section 'acme' is given twice" % bad


def test_ini_syntax_is_literal(tmp_path):
    """No interpolation (a % in a value is kept), and a key outside every section is an error."""
    cfg = _load(tmp_path, ACME + "UserAgent = 100%(x)s\n" + SITE)
    assert cfg.acme.user_agent == "100%(x)s"
    assert _error(tmp_path, "x = 1\n" + ACME) == (
        "acme.ini: not a valid ini file: line 1 comes before any [section]")
    assert _error(tmp_path, "[DEFAULT]\nx = 1\n" + ACME + SITE).startswith(    # DEFAULT is not special
        "acme.ini: unknown section [DEFAULT]")


def test_relative_path_of_the_ini_itself(tmp_path, monkeypatch):
    _write(tmp_path, ACME + SITE)
    monkeypatch.chdir(tmp_path)
    cfg = config.load("acme.ini")
    assert cfg.path == str(tmp_path / "acme.ini")
    assert cfg.acme.account_key_file == str(tmp_path / "account.key")


# --- what loading does besides parsing -----------------------------------------------------------

def test_loading_masks_every_profiles_secret_and_the_webhook_token(tmp_path):
    """Secrets are masked from the moment the file is read. Fresh values: the redactor's registry is
    process-wide, so a value another test registered would prove nothing."""
    import uuid
    from acme_aliyun.log import redact
    s0, s1, token = ("cfgv-%s" % uuid.uuid4().hex for _ in range(3))
    assert redact("%s %s %s" % (s0, s1, token)) == "%s %s %s" % (s0, s1, token)
    _load(tmp_path, ACME + SITE + "[aliyun]\nAccessKeyId = id0\nAccessKeySecret = %s\n"
          "[aliyun:two]\nAccessKeyId = id1\nAccessKeySecret = %s\n"
          "[notify]\nWebhook = https://hooks.example.test/send?access_token=%s\n" % (s0, s1, token))
    masked = redact("%s %s %s" % (s0, s1, token))
    assert s0 not in masked and s1 not in masked and token not in masked


def test_the_first_unknown_key_in_alphabetical_order_is_named(tmp_path):
    assert _error(tmp_path, ACME + SITE + "Zzz = 1\nAaa = 1\n") == "acme.ini [cert:site] Aaa: unknown key"


def test_a_profile_name_holds_no_colon(tmp_path):
    assert _error(tmp_path, ACME + SITE + "[aliyun:a:b]\n") == (
        "acme.ini [aliyun:a:b]: profile name 'a:b': use letters, digits, '.', '_' or '-'")


def test_fractional_timeouts(tmp_path):
    cfg = _load(tmp_path, ACME + SITE + "[aliyun]\nConnectTimeout = 2.5\nReadTimeout = 7.5\nDNSWaitTimeout = 1.5\n"
                "[notify]\nWebhook = https://h.test/x\nTimeout = 2.5\n[probe]\nTimeout = 2.5\n")
    assert (cfg.cloud.connect_timeout, cfg.cloud.read_timeout, cfg.cloud.dns_wait_timeout) == (2.5, 7.5, 1.5)
    assert (cfg.notify.timeout, cfg.probe.timeout) == (2.5, 2.5)


def test_an_unreadable_file_names_owner_and_mode(tmp_path, monkeypatch):
    """Tests run as root here, where chmod 000 still reads: the PermissionError comes from a stand-in
    open() in config's namespace. The file itself refused, or (not even listed) its folder."""
    import pwd
    ini = _write(tmp_path, ACME + SITE)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(config, "open", refuse, raising=False)
    me = pwd.getpwuid(os.geteuid()).pw_name
    for path, where, head in ((ini, ini, ""),
                              (tmp_path / "hidden.ini", tmp_path, "cannot read %s: " % (tmp_path / "hidden.ini"))):
        st = os.stat(where)
        owner = pwd.getpwuid(st.st_uid).pw_name
        with pytest.raises(ConfigError) as e:
            config.load(str(path))
        assert str(e.value) == "%s%s is owned by %s and mode %04o; run as %s or chown it to %s" % (
            head, where, owner, st.st_mode & 0o7777, owner, me)
        assert (e.value.file, e.value.section, e.value.key) == (None, None, None)


def test_port_one_is_a_port(tmp_path):
    cfg = _load(tmp_path, ACME + SITE + "HTTPListen = 127.0.0.1:1\n"
                "[notify]\nSMTP = m.test:1\nFrom = a@b.test\nTo = c@d.test\n")
    assert (cfg.certs["site"].http_listen, cfg.notify.smtp) == ("127.0.0.1:1", "m.test:1")


@pytest.mark.parametrize("typo,key", [("DNSEndpont", "DNSEndpoint"), ("STSEndpont", "STSEndpoint"),
                                      ("CASEndpont", "CASEndpoint"), ("CDNEndpont", "CDNEndpoint")])
def test_endpoint_key_typos_suggest_the_key_as_documented(tmp_path, typo, key):
    assert _error(tmp_path, ACME + SITE + "[aliyun]\n%s = 127.0.0.1:1\n" % typo) == (
        "acme.ini [aliyun] %s: unknown key; did you mean %s?" % (typo, key))


def test_each_section_reader_asks_for_every_key_it_lists(tmp_path):
    """A listed key the reader never asks for would be accepted and silently ignored. _Section.used
    holds the keys asked for, in lower case."""
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("[aliyun]\n[notify]\nWebhook = https://h.test/x\nSMTP = m.test:25\nFrom = a@b.test\n"
                       "To = c@d.test\n[probe]\n")
    path = str(tmp_path / "acme.ini")
    for name, keys, read in (("aliyun", config.aliyun_keys(), config._aliyun),
                             ("notify", config.NOTIFY_KEYS, config._notify),
                             ("probe", config.PROBE_KEYS, config._probe)):
        sec = config._Section(path, parser, name, keys)
        read(sec)
        assert sec.used == {k.lower() for k in keys}, name
