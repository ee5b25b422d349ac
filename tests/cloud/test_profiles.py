"""Account profiles end to end (issue 15 part 1): [aliyun] and [aliyun:two], each its own emulator
(one Alibaba Cloud account each) and its own AccessKey; `acme-aliyun run` against Pebble with dns-01.

Every write must reach the account that owns the domain, signed with that account's key (read from
each emulator's call log); DNSAccount sends a certificate's dns-01 records to the account holding the
zone while it deploys in its own; a second run writes nothing; `cloud check` reports per profile."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests import demo
from tests.aliyun_emulator import Emulator, EmulatorConfig

AK1, S1 = "LTAIacctOne00000001", "one-secret-Kd83nXq5Tz"
AK2, S2 = "LTAIacctTwo00000002", "two-secret-Pw72mZr8Lc"


@pytest.fixture
def accounts(pebble):
    one = Emulator(EmulatorConfig(accounts={AK1: S1}, challtestsrv_url=pebble.challtestsrv.url)).start()
    two = Emulator(EmulatorConfig(accounts={AK2: S2}, challtestsrv_url=pebble.challtestsrv.url)).start()
    one.add_cdn_domain("www.one.test")
    one.add_cdn_domain("shop.two.test")      # deployed in account one, its zone lives in account two
    one.add_dns_zone("one.test")
    two.add_cdn_domain("www.two.test")
    two.add_dns_zone("two.test")
    yield one, two
    one.stop()
    two.stop()


def write_ini(folder, pebble, one, two):
    text = textwrap.dedent("""\
        [acme]
        ACMEDirectory = {directory}
        AccountKeyFile = account.key
        CABundle = {ca}
        StateDir = state

        [cert:one]
        Domains = www.one.test
        Challenge = dns-01
        DNSProvider = alidns
        CDN = www.one.test

        [cert:two]
        Domains = www.two.test
        Challenge = dns-01
        DNSProvider = alidns
        CDN = www.two.test
        Account = two

        [cert:shop]
        Domains = shop.two.test
        Challenge = dns-01
        DNSProvider = alidns
        CDN = shop.two.test
        DNSAccount = two

        [aliyun]
        Endpoint = {one}
        AccessKeyId = {ak1}
        AccessKeySecret = {s1}

        [aliyun:two]
        Endpoint = {two}
        AccessKeyId = {ak2}
        AccessKeySecret = {s2}
        """).format(directory=pebble.directory_url, ca=pebble.ca_bundle, one=one.endpoint, two=two.endpoint,
                    ak1=AK1, s1=S1, ak2=AK2, s2=S2)
    path = os.path.join(str(folder), "acme.ini")
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path


def tool(ini, *args):
    env = demo.tool_env()
    for k in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        env.pop(k, None)                 # only the keys in acme.ini
    r = subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=env,
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    for secret in (S1, S2):
        assert secret not in r.stdout + r.stderr
    return r


def test_each_certificate_writes_with_the_account_that_owns_its_domain(tmp_path, pebble, accounts):
    one, two = accounts
    ini = write_ini(tmp_path, pebble, one, two)
    r = tool(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    # every write arrived at the owning account, signed with its own key
    assert one.write_calls() and two.write_calls()
    assert {c.access_key_id for c in one.write_calls()} == {AK1}
    assert {c.access_key_id for c in two.write_calls()} == {AK2}
    assert one.calls.signed_by() == {AK1} and two.calls.signed_by() == {AK2}
    assert all(c.code is None for c in one.write_calls() + two.write_calls())
    # dns-01: cert one in account one; cert two (Account) and cert shop (DNSAccount) in account two
    assert len(one.calls.of("AddDomainRecord")) == 1
    assert len(two.calls.of("AddDomainRecord")) == 2
    assert not [x for x in one.dns_records("one.test") + two.dns_records("two.test") if x["type"] == "TXT"]
    # deploys: www.one.test and shop.two.test in account one, www.two.test in account two
    for emu, domain, cert in ((one, "www.one.test", "one"), (one, "shop.two.test", "shop"),
                              (two, "www.two.test", "two")):
        state = emu.cdn_state(domain)
        assert state["ssl"] == "on" and state["serial"] == _stored_serial(tmp_path, cert), domain

    one.reset_calls()
    two.reset_calls()
    r = tool(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert one.write_calls() == [] and two.write_calls() == []
    assert one.calls.signed_by() <= {AK1} and two.calls.signed_by() <= {AK2}


def test_a_profile_with_role_arn_writes_with_the_assumed_role(tmp_path, pebble, accounts):
    one, two = accounts
    role = "acs:ram::2000000002:role/acme-deployer"
    two.add_role(role, external_id="agency-7")
    ini = write_ini(tmp_path, pebble, one, two)
    with open(ini) as fh:
        text = fh.read()
    text = text.replace("AccessKeySecret = %s\n" % S2, "AccessKeySecret = %s\nRoleArn = %s\nExternalId = agency-7\n"
                        "RoleSessionName = acme-fleet\n" % (S2, role))
    with open(ini, "w") as fh:
        fh.write(text)
    r = tool(ini, "run", "two")
    assert r.returncode == 0, r.stdout + r.stderr
    minted = two.sts_issued()
    assert [(m["role_arn"], m["session"]) for m in minted] == [(role, "acme-fleet")]     # once per run
    assert two.calls.of("AssumeRole").signed_by() == {AK2}
    assert {c.access_key_id for c in two.write_calls()} == {minted[0]["access_key_id"]}
    assert two.cdn_state("www.two.test")["ssl"] == "on" and one.write_calls() == []
    r = tool(ini, "cloud", "check", "two")
    assert "Credentials [aliyun:two]: config:[aliyun:two]+AssumeRole(%s)" % role in r.stdout, r.stdout


def test_cloud_check_reports_per_profile(tmp_path, pebble, accounts):
    one, two = accounts
    ini = write_ini(tmp_path, pebble, one, two)
    r = tool(ini, "cloud", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    blocks = r.stdout.split("Credentials ")[1:]
    assert [b.splitlines()[0] for b in blocks] == ["[aliyun]: config:[aliyun]",
                                                   "[aliyun:two]: config:[aliyun:two]"]
    assert "www.one.test" in blocks[0] and "shop.two.test" in blocks[0] and "www.two.test" not in blocks[0]
    assert "www.two.test" in blocks[1] and "shop.two.test" not in blocks[1]
    assert "zones" in blocks[0] and "zones" in blocks[1]            # both hold zones certificates use
    assert one.calls.signed_by() == {AK1} and two.calls.signed_by() == {AK2}
    r = tool(ini, "cloud", "check", "two")                              # only the profile cert two uses
    assert r.stdout.startswith("Credentials [aliyun:two]: config:[aliyun:two]") and "[aliyun]:" not in r.stdout


def test_a_profile_without_keys_takes_the_chain_and_names_itself_when_nothing_is_found(tmp_path, pebble, accounts):
    one, two = accounts
    ini = write_ini(tmp_path, pebble, one, two)
    with open(ini) as fh:
        text = fh.read()
    text = text.replace("AccessKeyId = %s\nAccessKeySecret = %s\n" % (AK2, S2), "")
    with open(ini, "w") as fh:
        fh.write(text)
    r = tool(ini, "cloud", "check", "two")
    assert r.returncode == 2 and "no Alibaba Cloud credentials found for [aliyun:two]" in r.stderr
    assert "Traceback" not in r.stderr


def _stored_serial(folder, name):
    from acme_aliyun.pki import CertBundle
    base = os.path.join(str(folder), "state", "certs", name)
    with open(os.path.join(base, "fullchain.pem")) as fh, open(os.path.join(base, "privkey.pem")) as kh:
        return CertBundle.from_pems(fh.read(), kh.read()).cert.serial_number


def test_aliyun_keys_lists_every_key_a_profile_reads_and_profiles_inherit_nothing(tmp_path):
    import configparser

    from acme_aliyun import config
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("[aliyun]\nRegion = cn-shanghai\nAccessKeyId = a\nAccessKeySecret = b-secret-1\n"
                       "[aliyun:two]\nRoleArn = acs:ram::2:role/acme\n")
    sec = config._Section(str(tmp_path / "acme.ini"), parser, "aliyun:two")
    config._aliyun(sec)
    assert {k.lower() for k in sec.used} == {k.lower() for k in config.aliyun_keys()}
    accounts = config._account_profiles(str(tmp_path / "acme.ini"), parser)
    two = accounts.profiles["two"]
    assert (two.profile, two.section, two.region, two.access_key_id, two.role_arn) == (
        "two", "[aliyun:two]", "cn-hangzhou", None, "acs:ram::2:role/acme")
    assert (accounts.cloud.region, accounts.cloud.section) == ("cn-shanghai", "[aliyun]")
