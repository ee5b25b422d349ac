"""The account lifecycle against a real Pebble, through the CLI as users run it."""

import logging
import os
import re
import stat

import pytest

from tests import summary
from tests.conftest import write_ini
from tests.pebble import Pebble

ACCOUNT_URL = re.compile(r"Account URL: (\S+)")


def _url(out):
    m = ACCOUNT_URL.search(out)
    assert m, out
    return m.group(1)


def test_register_then_show_same_account(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble)
    r = cli("-c", ini, "account", "register")
    assert r.returncode == 0, r.stderr
    assert "Registered a new account" in r.stdout
    assert "Agreeing to the terms of service: data:text/plain" in r.stdout
    key = tmp_path / "account.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    url = _url(r.stdout)
    s = cli("-c", ini, "account", "show")
    assert s.returncode == 0, s.stderr
    assert _url(s.stdout) == url
    assert "Status: valid" in s.stdout
    assert "mailto:admin@example.test" in s.stdout
    again = cli("-c", ini, "account", "register")
    assert again.returncode == 0 and "already exists" in again.stdout and _url(again.stdout) == url


def test_show_without_account_fails_cleanly(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble)
    from acme_aliyun import pki
    pki.write_private_key(str(tmp_path / "account.key"), pki.generate_key("ec-256"))
    r = cli("-c", ini, "account", "show")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "no account for this key" in r.stderr
    assert "Traceback" not in r.stderr


def test_update_contacts(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble)
    assert cli("-c", ini, "account", "register").returncode == 0
    text = open(ini).read().replace("mailto:admin@example.test", "mailto:ops@example.test;mailto:sec@example.test")
    open(ini, "w").write(text)
    r = cli("-c", ini, "account", "update")
    assert r.returncode == 0, r.stderr
    shown = cli("-c", ini, "account", "show").stdout
    assert "mailto:ops@example.test, mailto:sec@example.test" in shown


@pytest.mark.parametrize("key_type,new_type", [("rsa-2048", "ec-256"), ("ec-384", "rsa-3072"), ("ec-256", None)])
def test_rollover_moves_account_to_new_key(tmp_path, pebble, cli, key_type, new_type):
    ini = write_ini(tmp_path, pebble, key_type=key_type)
    url = _url(cli("-c", ini, "account", "register").stdout)
    old_pem = (tmp_path / "account.key").read_bytes()
    args = ["-c", ini, "account", "rollover"] + (["--key-type", new_type] if new_type else [])
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    new_pem = (tmp_path / "account.key").read_bytes()
    assert new_pem != old_pem
    assert stat.S_IMODE(os.stat(tmp_path / "account.key").st_mode) == 0o600
    backups = [p for p in os.listdir(tmp_path) if p.startswith("account.key.") and p.endswith(".bak")]
    assert len(backups) == 1 and (tmp_path / backups[0]).read_bytes() == old_pem
    assert stat.S_IMODE(os.stat(tmp_path / backups[0]).st_mode) == 0o600
    # the new key finds the account ...
    s = cli("-c", ini, "account", "show")
    assert s.returncode == 0 and _url(s.stdout) == url, s.stderr
    # ... and the old one no longer does
    (tmp_path / "account.key").write_bytes(old_pem)
    old = cli("-c", ini, "account", "show")
    assert old.returncode == 1 and "no account for this key" in old.stderr


def test_deactivate_needs_yes_and_is_final(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble)
    assert cli("-c", ini, "account", "register").returncode == 0
    no = cli("-c", ini, "account", "deactivate")
    assert no.returncode == 2 and "cannot be undone" in no.stderr
    r = cli("-c", ini, "account", "deactivate", "--yes")
    assert r.returncode == 0, r.stderr
    assert "deactivated" in r.stdout and "cannot be undone" in r.stdout
    # the key is moved aside (dated, 0600) and the deactivation recorded: nothing uses it by accident
    assert not (tmp_path / "account.key").exists()
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("account.key.") and p.name.endswith(".deactivated")]
    assert len(moved) == 1 and moved[0].stat().st_mode & 0o777 == 0o600
    after = cli("-c", ini, "account", "show")
    assert after.returncode == 1
    assert "the ACME account was deactivated on" in after.stderr, after.stderr
    # Pebble itself says the old account is gone for good: its key is refused (RFC 8555 §7.3.6)
    (tmp_path / "account.key").write_bytes(moved[0].read_bytes())
    (tmp_path / "state" / "account-state.json").unlink()
    old = cli("-c", ini, "account", "show")
    assert old.returncode == 1 and "deactivated" in old.stderr, old.stderr


def test_article_acme_ini_registers_and_shows(tmp_path, pebble, cli):
    """The article's file: section [acme-neoprime] and its keys, ACMEDirectory pointed at Pebble."""
    from acme_aliyun import pki
    key = pki.generate_key("rsa-2048")
    csr = pki.make_csr(key, ["example.com", "www.example.com"])
    from cryptography.hazmat.primitives import serialization
    (tmp_path / "example.com.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    ini = tmp_path / "acme.ini"
    ini.write_text(
        "[acme-neoprime]\n"
        "UserAgent = neoprime.io-acme-client/1.0\n"
        "# [Required] ACME account key\n"
        "AccountKeyFile = account.key\n"
        "# Certifcate Signing Request (CSR)\n"
        "CSRFile = example.com.csr\n"
        "ChainFile = example.com.chain.pem\n"
        "ACMEDirectory = %s\n"
        "# Email Addresses so that LetsEncrypt can notify about SSL renewals\n"
        "Contacts = mailto:webmaster@example.com;mailto:admin@example.com\n"
        "# Preferred Language\n"
        "Language = en\n" % pebble.directory_url)
    env = {"REQUESTS_CA_BUNDLE": pebble.ca_bundle}     # the article's file has no CABundle key
    r = cli("-c", ini, "account", "register", env=env)
    assert r.returncode == 0, r.stderr
    url = _url(r.stdout)
    s = cli("-c", ini, "account", "show", env=env)
    assert s.returncode == 0 and _url(s.stdout) == url and "Status: valid" in s.stdout


def test_twenty_operations_with_half_the_nonces_rejected(tmp_path, caplog):
    """PEBBLE_WFE_NONCEREJECT=50: every operation still succeeds (badNonce retried with the fresh nonce)."""
    from acme_aliyun import config, context as acme_account
    from acme_aliyun.protocol import account as acct
    caplog.set_level(logging.DEBUG, logger="acme_aliyun.protocol.client")
    with Pebble(str(tmp_path / "pebble"), env={"PEBBLE_WFE_NONCEREJECT": "50"}) as p:
        ini = write_ini(tmp_path, p)
        cfg = config.load(ini)
        key = acme_account.load_account_key(cfg.acme, create=True)
        client = acme_account.make_client(cfg.acme, key)
        first = acct.register(client, cfg.acme.contacts)
        ops = [lambda: acct.find(client), lambda: acct.fetch(client),
               lambda: acct.update_contacts(client, ["mailto:a@example.test"]),
               lambda: acct.register(client, cfg.acme.contacts)]
        for i in range(20):
            result = ops[i % len(ops)]()
            assert result.url == first.url
    retries = [r for r in caplog.records if r.getMessage().startswith("badNonce from")]
    # 21 POSTs at 50 %: fewer than 3 rejections has a chance below 1e-4; each retry is one more request
    assert len(retries) >= 3, "Pebble rejected no nonce: the retry path was not exercised"
    assert client.request_count >= 21 + len(retries)


def test_directory_command(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble)
    r = cli("-c", ini, "directory")
    assert r.returncode == 0, r.stderr
    assert "newOrder" in r.stdout and "Terms of service: data:text/plain" in r.stdout
    assert "Renewal info (ARI): no" in r.stdout and "Profiles: none" in r.stdout


def test_ca_bundle_wins_over_requests_ca_bundle(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble)
    r = cli("-c", ini, "directory", env={"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"})
    assert r.returncode == 0, r.stderr
    # and without CABundle, the system bundle does not trust Pebble: a clear TLS error
    text = open(ini).read().replace("CABundle = %s\n" % pebble.ca_bundle, "")
    open(ini, "w").write(text)
    bad = cli("-c", ini, "directory", env={"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"})
    assert bad.returncode == 1 and "TLS certificate not trusted (set CABundle)" in bad.stderr


def test_external_account_binding(tmp_path, cli):
    """A CA that requires EAB: without it a clear error, with it the account is bound and valid."""
    hmac_key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    with Pebble(str(tmp_path / "pebble"), eab_keys={"kid-1": hmac_key}) as p:
        ini = write_ini(tmp_path, p)
        d = cli("-c", ini, "directory")
        assert "External account binding required: yes" in d.stdout
        r = cli("-c", ini, "account", "register")
        assert r.returncode == 1 and "EABKeyId and EABHMACKey" in r.stderr
        text = open(ini).read().replace("StateDir = state", "StateDir = state\nEABKeyId = kid-1\nEABHMACKey = %s"
                                        % hmac_key)
        open(ini, "w").write(text)
        ok = cli("-c", ini, "account", "register")
        assert ok.returncode == 0, ok.stderr
        assert "Registered a new account" in ok.stdout and "Status: valid" in ok.stdout
        bad = text.replace(hmac_key, hmac_key[:-4] + "AAAA")
        open(ini, "w").write(bad)
        (tmp_path / "account.key").unlink()
        wrong = cli("-c", ini, "account", "register")
        assert wrong.returncode == 1, wrong.stderr
        assert "error: unauthorized: external account binding" in wrong.stderr and "Traceback" not in wrong.stderr


def test_article_csr_flow_issues_into_chainfile_once(tmp_path, pebble, cli):
    """[acme-neoprime] with CSRFile + ChainFile (no key): the chain is written, and a second run
    sees it in ChainFile and orders nothing."""
    from cryptography.hazmat.primitives import serialization
    from acme_aliyun import pki
    key = pki.generate_key("ec-256")
    csr = pki.make_csr(key, ["neoprime.example.test"])
    (tmp_path / "neoprime.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "acme.ini").write_text(
        "[acme-neoprime]\nUserAgent = neoprime.io-acme-client/1.0\nAccountKeyFile = account.key\n"
        "CSRFile = neoprime.csr\nChainFile = neoprime.chain.pem\nACMEDirectory = %s\n"
        "Contacts = mailto:webmaster@example.com\nLanguage = en\nCABundle = %s\n"
        "HTTPListen = 127.0.0.1:%d\n" % (pebble.directory_url, pebble.ca_bundle, pebble.http_port))
    ini = str(tmp_path / "acme.ini")
    r = cli("-c", ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    chain = (tmp_path / "neoprime.chain.pem").read_text()
    bundle = pki.CertBundle.from_pems(chain, "")
    assert bundle.names == ["neoprime.example.test"]
    assert pki.public_der(bundle.cert.public_key()) == pki.public_der(key)
    created = pebble.orders_created()
    again = cli("-c", ini, "run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary.issues(again.stdout) == {"neoprime": "not due"}, again.stdout
    assert pebble.orders_created() == created
