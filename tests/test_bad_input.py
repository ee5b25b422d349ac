"""Bad input: each case exits 2 with one line naming the problem, no traceback, nothing written."""

import base64
import os
import textwrap

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acme_aliyun import cli, config
from acme_aliyun.errors import ConfigError

BASE = """\
[acme]
ACMEDirectory = https://127.0.0.1:9/dir
AccountKeyFile = account.key
Contacts = mailto:admin@example.test
StateDir = state
"""
CERT = """\
[cert:site]
Domains = example.test
Challenge = http-01
HTTPListen = 127.0.0.1:8080
"""


def _pem(key, encrypt=False):
    enc = serialization.BestAvailableEncryption(b"pw") if encrypt else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def _names_the_problem(line, expect):
    """expect: the place (file, section, key) and the reason; a bare string is both at once."""
    return all(part in line for part in ((expect,) if isinstance(expect, str) else expect))


def _ini_case(text, expect, argv=("issue",)):
    return (textwrap.dedent(text), expect, list(argv), None)


def _key_case(key_bytes_fn, expect):
    return (BASE + CERT, expect, ["account", "show"], key_bytes_fn)


CASES = {
    "no acme section": _ini_case(CERT, "missing section [acme]"),
    "both acme sections": _ini_case(BASE + BASE.replace("[acme]", "[acme-neoprime]"), "both [acme] and"),
    "not an ini file": _ini_case("this is not = an ini\n",
                                 ("not a valid ini file", "line 1 comes before any [section]")),
    "duplicate key": _ini_case(BASE + "Contacts = mailto:b@example.test\n",
                               ("not a valid ini file", "key 'Contacts' is given twice")),
    "missing ACMEDirectory": _ini_case(BASE.replace("ACMEDirectory = https://127.0.0.1:9/dir\n", ""),
                                       "[acme] ACMEDirectory: is required"),
    "ftp directory": _ini_case(BASE.replace("https://127.0.0.1:9/dir", "ftp://ca.example/dir"),
                               ("[acme] ACMEDirectory", "is not an https URL")),
    "plain http directory": _ini_case(BASE.replace("https://127.0.0.1:9/dir", "http://ca.example/dir"),
                                      ("ACME requires https", "[acme] ACMEDirectory")),
    "plain http on a private address": _ini_case(BASE.replace("https://127.0.0.1:9/dir", "http://10.0.0.1/dir"),
                                                 "ACME requires https"),
    "plain http on 128.0.0.1": _ini_case(BASE.replace("https://127.0.0.1:9/dir", "http://128.0.0.1/dir"),
                                         "ACME requires https"),
    "ValidationTimeout not a number": _ini_case(BASE + "ValidationTimeout = soon\n", "[acme] ValidationTimeout"),
    "ValidationTimeout zero": _ini_case(BASE + "ValidationTimeout = 0\n", "[acme] ValidationTimeout"),
    "directory not a url": _ini_case(BASE.replace("https://127.0.0.1:9/dir", "letsencrypt-prod"),
                                     ("[acme] ACMEDirectory", "'letsencrypt-prod' is not an https URL")),
    "missing AccountKeyFile": _ini_case(BASE.replace("AccountKeyFile = account.key\n", ""),
                                        "[acme] AccountKeyFile: is required"),
    "contact without mailto": _ini_case(BASE.replace("mailto:admin@example.test", "1234567user@example.com"),
                                        ("[acme] Contacts", "'1234567user@example.com' must start with mailto:")),
    "article contacts": _ini_case(          # the line an article published, refused before any request
        "[acme-neoprime]\nUserAgent = neoprime.io-acme-client/1.0\nAccountKeyFile = account.key\n"
        "ACMEDirectory = https://127.0.0.1:9/dir\nContacts = mailto:example.com;mailto:[email protected]\n"
        "Language = en\n",
        ("[acme-neoprime] Contacts: 'mailto:example.com' is not an email address",),
        argv=("account", "register")),
    "contact with space": _ini_case(BASE.replace("mailto:admin@example.test", "mailto:ad min@example.test"),
                                    ("[acme] Contacts", "is not an email address")),
    "account KeyType rsa-1024": _ini_case(BASE + "KeyType = rsa-1024\n",
                                          ("[acme] KeyType", "'rsa-1024' is not one of ec-256")),
    "EAB half": _ini_case(BASE + "EABKeyId = kid-1\n", ("[acme] EABHMACKey", "EABKeyId and EABHMACKey go together")),
    "EAB key not base64url": _ini_case(BASE + "EABKeyId = kid-1\nEABHMACKey = not base64!\n",
                                       ("[acme] EABHMACKey", "is not base64url text")),
    "CABundle missing": _ini_case(BASE + "CABundle = nowhere.pem\n", ("[acme] CABundle", "nowhere.pem does not exist")),
    "bad Language": _ini_case(BASE + "Language = english please\n", ("[acme] Language", "is not a language tag")),
    "bad UserAgent": _ini_case(BASE + "UserAgent = caf\u00e9\n", ("[acme] UserAgent", "must be printable ASCII")),
    "cert without Domains": _ini_case(BASE + "[cert:site]\nChallenge = http-01\n",
                                      ("[cert:site] Domains", "Domains: is required")),
    "empty label": _ini_case(BASE + CERT.replace("example.test", "a..example.test"),
                             ("empty label", "[cert:site] Domains")),
    "empty list entry": _ini_case(BASE + CERT.replace("example.test", "example.test,,www.example.test"),
                                  "[cert:site] Domains: has an empty entry"),
    "label too long": _ini_case(BASE + CERT.replace("example.test", "x" * 64 + ".example.test"),
                                ("[cert:site] Domains", "Label too long")),
    "name too long": _ini_case(BASE + CERT.replace("example.test", ".".join(["abcdefghi"] * 26) + ".test"),
                               ("[cert:site] Domains", "Domain too long")),
    "underscore": _ini_case(BASE + CERT.replace("example.test", "my_host.example.test"),
                            ("underscores", "[cert:site] Domains")),
    "IPv4 literal": _ini_case(BASE + CERT.replace("example.test", "192.0.2.1"),
                              ("is an IP address", "[cert:site] Domains")),
    "IPv6 literal": _ini_case(BASE + CERT.replace("example.test", "[2001:db8::1]"),
                              ("is an IP address", "[cert:site] Domains")),
    "single label": _ini_case(BASE + CERT.replace("example.test", "localhost"),
                              ("not a fully qualified", "[cert:site] Domains")),
    "bad IDN": _ini_case(BASE + CERT.replace("example.test", "xn--a.example.test"),
                         ("[cert:site] Domains", "is not a valid domain name")),
    "wildcard on http-01": _ini_case(BASE + CERT.replace("example.test", "*.example.test"),
                                     ("wildcard names need dns-01", "[cert:site] Challenge")),
    "double wildcard": _ini_case(BASE + CERT.replace("example.test", "*.*.example.test"),
                                 ("left-most label", "[cert:site] Domains")),
    "unknown challenge": _ini_case(BASE + CERT.replace("http-01", "tls-alpn-01"),
                                   ("[cert:site] Challenge", "'tls-alpn-01' is not one of http-01, dns-01")),
    "dns-01 without provider": _ini_case(BASE + "[cert:site]\nDomains = example.test\nChallenge = dns-01\n",
                                         ("[cert:site] DNSProvider", "dns-01 needs DNSProvider")),
    "hook without command": _ini_case(BASE + "[cert:site]\nDomains = example.test\nChallenge = dns-01\n"
                                      "DNSProvider = hook\n", ("[cert:site] DNSHook", "needs a DNSHook command")),
    "unparsable hook": _ini_case(BASE + "[cert:site]\nDomains = example.test\nChallenge = dns-01\n"
                                 "DNSHook = 'unterminated\n", ("[cert:site] DNSHook", "cannot be parsed as a command")),
    "bad DNSProvider": _ini_case(BASE + "[cert:site]\nDomains = example.test\nChallenge = dns-01\n"
                                 "DNSProvider = route53\n",
                                 ("[cert:site] DNSProvider", "'route53' is not one of alidns, hook")),
    "HTTPListen not host:port": _ini_case(BASE + CERT.replace("127.0.0.1:8080", "everywhere"),
                                          ("[cert:site] HTTPListen", "'everywhere' is not host:port")),
    "HTTPListen port out of range": _ini_case(BASE + CERT.replace("127.0.0.1:8080", ":70000"),
                                              ("[cert:site] HTTPListen", "':70000' is not host:port")),
    "Webroot and HTTPListen": _ini_case(BASE + CERT + "Webroot = /srv/www\n", ("not both", "[cert:site] Webroot")),
    "ReuseKey not boolean": _ini_case(BASE + CERT + "ReuseKey = maybe\n",
                                      ("[cert:site] ReuseKey", "'maybe' is not yes/no")),
    "RenewBeforeDays zero": _ini_case(BASE + CERT + "RenewBeforeDays = 0\n",
                                      ("[cert:site] RenewBeforeDays", "0 is out of range (1 to 365)")),
    "RenewBeforeDays text": _ini_case(BASE + CERT + "RenewBeforeDays = soon\n",
                                      ("[cert:site] RenewBeforeDays", "'soon' is not a number")),
    "cert KeyType": _ini_case(BASE + CERT + "KeyType = dsa-1024\n",
                              ("[cert:site] KeyType", "'dsa-1024' is not one of")),
    "CSRFile missing": _ini_case(BASE + "[cert:site]\nCSRFile = nowhere.csr\n",
                                 ("[cert:site] CSRFile", "nowhere.csr does not exist")),
    "bad cert name": _ini_case(BASE + CERT.replace("[cert:site]", "[cert:../etc]"),
                               ("certificate name", "[cert:../etc]")),
    "cert twice": _ini_case(BASE + CERT + CERT.replace("[cert:site]", "[cert: site]"),
                            ("defined twice", "[cert: site]")),
    "APIGateway bad GroupId": _ini_case(BASE + CERT + "APIGateway = group1:api.example.test\n",
                                        ("[cert:site] APIGateway", "the GroupId must be 32 hex characters")),
    "APIGateway bad domain": _ini_case(BASE + CERT + "APIGateway = %s:api_x.example.test\n" % ("a" * 32),
                                       ("[cert:site] APIGateway", "underscores are not allowed")),
    "CDN bad domain": _ini_case(BASE + CERT + "CDN = cdn..example.test\n", ("[cert:site] CDN", "has an empty label")),
    "DCDN IP": _ini_case(BASE + CERT + "DCDN = 10.0.0.1\n", ("[cert:site] DCDN", "is an IP address")),
    "aliyun bad region": _ini_case(BASE + CERT + "[aliyun]\nRegion = Hangzhou\n",
                                   ("[aliyun] Region", "is not a region id")),
    "aliyun key id without secret": _ini_case(BASE + CERT + "[aliyun]\nAccessKeyId = LTAIxxxx\n",
                                              ("[aliyun] AccessKeySecret",
                                               "AccessKeyId and AccessKeySecret go together")),
    "aliyun timeout negative": _ini_case(BASE + CERT + "[aliyun]\nConnectTimeout = -1\n",
                                         ("[aliyun] ConnectTimeout", "-1 is out of range")),
    "aliyun endpoint bad port": _ini_case(BASE + CERT + "[aliyun]\nCDNEndpoint = 127.0.0.1:port\n",
                                          ("[aliyun] CDNEndpoint", "has a bad port")),
    "aliyun International not bool": _ini_case(BASE + CERT + "[aliyun]\nInternational = perhaps\n",
                                               ("[aliyun] International", "'perhaps' is not yes/no")),
    "Account unknown": _ini_case(BASE + CERT + "Account = two\n[aliyun:one]\nRegion = cn-hangzhou\n",
                                 "[cert:site] Account: no [aliyun:two] section (account profiles: [aliyun:one])"),
    "DNSAccount unknown": _ini_case(BASE + CERT + "DNSAccount = zones\n", "[cert:site] DNSAccount: no [aliyun:zones]"),
    "profile bad region": _ini_case(BASE + CERT + "[aliyun:two]\nRegion = Hangzhou\n", "[aliyun:two] Region"),
    "profile bad name": _ini_case(BASE + CERT + "[aliyun:t/o]\nRegion = cn-hangzhou\n", "profile name 't/o'"),
    "profile key without secret": _ini_case(BASE + CERT + "[aliyun:two]\nAccessKeyId = LTAIxxxx\n",
                                            "[aliyun:two] AccessKeySecret"),
    "RoleArn not an ARN": _ini_case(BASE + CERT + "[aliyun:two]\nRoleArn = admin\n", "[aliyun:two] RoleArn"),
    "ExternalId without RoleArn": _ini_case(BASE + CERT + "[aliyun]\nExternalId = abc\n",
                                            "[aliyun] ExternalId: only applies with RoleArn"),
    "RoleSessionName bad": _ini_case(BASE + CERT + "[aliyun:two]\nRoleArn = acs:ram::1:role/x\n"
                                     "RoleSessionName = a b\n", "[aliyun:two] RoleSessionName"),
    "notify ftp": _ini_case(BASE + CERT + "[notify]\nWebhook = ftp://hooks.example/x\n",
                            ("[notify] Webhook", "is not an http(s) URL")),
    "notify format": _ini_case(BASE + CERT + "[notify]\nWebhook = https://hooks.example/x\nFormat = slack\n",
                               ("[notify] Format", "'slack' is not one of generic, dingtalk, feishu")),
    "notify without webhook": _ini_case(BASE + CERT + "[notify]\nFormat = feishu\n",
                                        ("[notify] Webhook", "Webhook: is required")),
    "unknown certificate on CLI": _ini_case(BASE + CERT, "no [cert:nosuch] section", argv=("issue", "nosuch")),
    "no certificate configured": _ini_case(BASE, "no certificate configured"),
    "key not PEM": _key_case(lambda: b"hello, I am not a key\n", ("is not a PEM private key", "[acme] AccountKeyFile")),
    "key is a certificate": _key_case(lambda: b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                                      ("is not a PEM private key", "[acme] AccountKeyFile")),
    "key RSA 1024": _key_case(lambda: _pem(rsa.generate_private_key(65537, 1024)),
                              ("RSA key of 1024 bits", "[acme] AccountKeyFile")),
    "key P-521": _key_case(lambda: _pem(ec.generate_private_key(ec.SECP521R1())),
                           ("curve secp521r1", "[acme] AccountKeyFile")),
    "key Ed25519": _key_case(lambda: _pem(ed25519.Ed25519PrivateKey.generate()),
                             ("unsupported key type", "[acme] AccountKeyFile")),
    "key encrypted": _key_case(lambda: _pem(ec.generate_private_key(ec.SECP256R1()), encrypt=True),
                               ("encrypted", "[acme] AccountKeyFile")),
    "key unreadable": _key_case(lambda: None, ("cannot be read", "[acme] AccountKeyFile")),
}


def _csr_pem(names, key=None):
    from acme_aliyun import pki
    key = key or ec.generate_private_key(ec.SECP256R1())
    return pki.make_csr(key, names).public_bytes(serialization.Encoding.PEM)


def _csr_no_names():
    key = ec.generate_private_key(ec.SECP256R1())
    return x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _csr_bad_signature():
    pem = _csr_pem(["example.test"])
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF                           # flip a byte of the signature
    body = base64.encodebytes(bytes(der)).decode()
    return ("-----BEGIN CERTIFICATE REQUEST-----\n%s-----END CERTIFICATE REQUEST-----\n" % body).encode()


CSR_SECTION = BASE + "[cert:site]\nCSRFile = site.csr\nHTTPListen = :8080\n"
FILE_CASES = {
    # name: (ini text, file name, file content factory, expected text, argv)
    "CSR not a CSR": (CSR_SECTION, "site.csr", lambda: b"junk",
                      ("[cert:site] CSRFile", "is not a PEM or DER CSR"), ["issue"]),
    "CSR without names": (CSR_SECTION, "site.csr", _csr_no_names,
                          ("[cert:site] CSRFile", "names no domain"), ["issue"]),
    "CSR bad signature": (CSR_SECTION, "site.csr", _csr_bad_signature,
                          ("[cert:site] CSRFile", "has an invalid signature"), ["issue"]),
    "CSR with an IP name": (CSR_SECTION, "site.csr", lambda: _csr_pem(["192.0.2.7"]),
                            ("[cert:site] CSRFile", "is an IP address"),
                            ["issue"]),
    "CSR names differ from Domains": (CSR_SECTION.replace("CSRFile", "Domains = other.example.test\nCSRFile"),
                                      "site.csr", lambda: _csr_pem(["example.test"]),
                                                                   ("[cert:site] Domains", "names differ from the CSR"),
                                      ["issue"]),
    "CSR is a certificate": (CSR_SECTION, "site.csr",
                             lambda: b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                             ("[cert:site] CSRFile", "is not a PEM or DER CSR"), ["issue"]),
    "article CSRFile garbage": (BASE.replace("[acme]", "[acme-neoprime]") + "CSRFile = example.com.csr\n",
                                "example.com.csr", lambda: b"\x00\x01",
                                ("[acme-neoprime] CSRFile", "is not a PEM or DER CSR"), ["issue"]),
}
CLI_CASES = {
    "unknown command": ["frobnicate"],
    "no command": [],
    "bad revoke reason": ["revoke", "site", "--reason", "because"],
    "lock timeout not a number": ["run", "--lock-timeout", "soon"],
    "unknown option": ["issue", "--everything"],
    "deploy without name": ["deploy"],
    "account without action": ["account"],
    "bad rollover key type": ["account", "rollover", "--key-type", "dsa"],
    "cloud unknown action": ["cloud", "nuke"],
}


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_bad_files_exit_2_with_one_line(name, tmp_path, capsys):
    text, fname, content, expect, argv = FILE_CASES[name]
    (tmp_path / fname).write_bytes(content())
    (tmp_path / "acme.ini").write_text(text)
    before = sorted(os.listdir(tmp_path))
    code = cli.main(["-c", str(tmp_path / "acme.ini")] + argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and _names_the_problem(lines[0], expect), (name, code, err)
    assert out == "" and sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_bad_arguments_exit_2_with_one_line(name, tmp_path, capsys):
    (tmp_path / "acme.ini").write_text(BASE + CERT)
    with pytest.raises(SystemExit) as exc:
        cli.main(["-c", str(tmp_path / "acme.ini")] + CLI_CASES[name])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: acme-aliyun"), (name, err)
    assert os.listdir(tmp_path) == ["acme.ini"]


def test_corrupt_stored_certificate_is_reported_not_deployed(tmp_path, capsys):
    """A certificate file damaged on disk: a clear warning naming it, no traceback; it is not used
    (issue 12, item 4: with no earlier version to fall back to, the next run issues it again)."""
    from acme_aliyun import pki
    from acme_aliyun.store import Store
    from tests.aliyun_emulator.testcerts import make_cert
    fullchain, key_pem = make_cert(["example.test"], days=90)
    store = Store(str(tmp_path / "state"))
    certs = pki.split_pem_chain(fullchain)
    store.save("site", key_pem.encode(), certs[0], "".join(certs[1:]), {})
    cert_file = os.path.realpath(os.path.join(store.cert_dir("site"), "cert.pem"))
    with open(cert_file, "w") as fh:
        fh.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    (tmp_path / "acme.ini").write_text(BASE + CERT + "CDN = example.test\n")
    code = cli.main(["-c", str(tmp_path / "acme.ini"), "status"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "site" in lines[0] and "issued again" in lines[0], err
    assert "due now (no certificate yet)" in out, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_line(name, tmp_path, capsys):
    text, expect, argv, key_fn = CASES[name]
    ini = tmp_path / "acme.ini"
    ini.write_text(text)
    if key_fn is not None:
        data = key_fn()
        if data is None:
            (tmp_path / "account.key").mkdir()      # a folder where the key file should be
        else:
            (tmp_path / "account.key").write_bytes(data)
    before = sorted(os.listdir(tmp_path))
    code = cli.main(["-c", str(ini)] + argv)
    out, err = capsys.readouterr()
    assert code == 2, (name, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, (name, err)
    assert _names_the_problem(lines[0], expect), (name, lines[0])
    assert "Traceback" not in err and out == ""
    assert sorted(os.listdir(tmp_path)) == before, "something was written"


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["-c", str(tmp_path / "nope.ini"), "issue"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.ini: file does not exist" in err


def test_relative_paths_resolve_against_the_ini_folder(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    ini = tmp_path / "conf" / "acme.ini"
    ini.write_text(BASE + CERT)
    monkeypatch.chdir("/")
    cfg = config.load(str(ini))
    assert cfg.acme.account_key_file == str(tmp_path / "conf" / "account.key")
    assert cfg.acme.state_dir == str(tmp_path / "conf" / "state")


def test_idn_becomes_punycode(tmp_path):
    ini = tmp_path / "acme.ini"
    ini.write_text(BASE + CERT.replace("example.test", "B\u00fccher.example, *.\u4f8b\u5b50.test").replace(
        "Challenge = http-01\nHTTPListen = 127.0.0.1:8080", "Challenge = dns-01\nDNSHook = /bin/true"))
    cfg = config.load(str(ini))
    assert cfg.certs["site"].domains == ["xn--bcher-kva.example", "*.xn--fsqu00a.test"]


_KEYS = ["ACMEDirectory", "AccountKeyFile", "Contacts", "StateDir", "KeyType", "Domains", "Challenge",
         "HTTPListen", "DNSProvider", "DNSHook", "Webroot", "CSRFile", "EABKeyId", "EABHMACKey", "Region",
         "Webhook", "Format", "ReuseKey", "RenewBeforeDays", "CDN", "APIGateway", "Language", "CABundle"]
_SECTIONS = ["acme", "acme-neoprime", "cert:a", "cert:b", "aliyun", "notify", "other"]
_VALUE = st.one_of(st.text(max_size=40), st.sampled_from(
    ["https://127.0.0.1:9/dir", "mailto:a@example.test", "example.test", "*.example.test", "dns-01", "http-01",
     ":80", "hook", "alidns", "yes", "0", "ec-256", "a" * 32, "cn-hangzhou", "generic"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(_SECTIONS), st.lists(st.tuples(st.sampled_from(_KEYS), _VALUE),
                                                                 max_size=8)), max_size=5),
       st.text(max_size=60))
def test_fuzzed_config_loads_or_names_the_problem(tmp_path_factory, sections, junk):
    folder = tmp_path_factory.mktemp("fuzz")
    parts = []
    for name, items in sections:
        parts.append("[%s]" % name)
        parts += ["%s = %s" % (k, v.replace("\n", " ").replace("\r", " ")) for k, v in items]
    if junk:
        parts.append(junk)
    path = folder / "acme.ini"
    path.write_bytes(("\n".join(parts) + "\n").encode("utf-8", "surrogatepass"))
    try:
        cfg = config.load(str(path))
    except ConfigError as e:
        line = str(e)
        assert "\n" not in line
        assert str(path) in line
        return
    assert cfg.acme.directory_url.startswith(("https://", "http://"))
    for cert in cfg.certs.values():
        assert (cert.domains or cert.csr_error) and cert.challenge in ("http-01", "dns-01")


@pytest.mark.parametrize("url", ["http://127.0.0.1:4000/dir", "http://127.0.0.2:4000/dir",
                                 "http://127.255.255.254/dir", "http://[::1]:4000/dir", "http://localhost:4000/dir",
                                 "http://LOCALHOST/dir"])
def test_plain_http_allowed_on_every_loopback_address(tmp_path, url):
    ini = tmp_path / "acme.ini"
    ini.write_text(BASE.replace("https://127.0.0.1:9/dir", url) + CERT)
    assert config.load(str(ini)).acme.directory_url == url


def test_validation_timeout_default_and_setting(tmp_path):
    ini = tmp_path / "acme.ini"
    ini.write_text(BASE + CERT)
    assert config.load(str(ini)).acme.validation_timeout == 300
    ini.write_text(BASE + "ValidationTimeout = 3\n" + CERT)
    assert config.load(str(ini)).acme.validation_timeout == 3
