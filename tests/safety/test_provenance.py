"""Items 2 and 5 of issue 12: a certificate from another CA, a staging CA or revoked is never deployed
unasked, and is replaced at once."""

import datetime
import json
import re

import pytest

from acme_aliyun import provenance
from acme_aliyun.targets.served import unique_cert_name
from acme_aliyun.store import Store
from tests import demo
from tests.conftest import write_ini

CDN = "shop.example.test"


@pytest.fixture
def emu(pebble):
    e = demo.start_emulator(pebble)
    yield e
    e.stop()


def _ini(tmp_path, pebble, emu, name="site", extra=""):
    return write_ini(tmp_path, pebble, """
        [cert:%s]
        Domains = %s
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        CDN = %s
        %s

        [aliyun]
        Region = cn-hangzhou
        Endpoint = %s
        """ % (name, CDN, pebble.http_port, CDN, extra, emu.endpoint))


def _set_directory(ini, url):
    with open(ini) as fh:
        text = fh.read()
    with open(ini, "w") as fh:
        fh.write(re.sub(r"(?m)^ACMEDirectory = .*$", "ACMEDirectory = %s" % url, text))


def _drop_cabundle(ini):
    with open(ini) as fh:
        text = fh.read()
    with open(ini, "w") as fh:
        fh.write(re.sub(r"(?m)^CABundle = .*\n", "", text))


def test_a_certificate_from_another_directory_is_not_deployed_and_is_replaced(tmp_path, pebble, emu, cli):
    ini = _ini(tmp_path, pebble, emu)
    env = demo.tool_env()
    assert cli("-c", ini, "issue", env=env).returncode == 0
    store = Store(str(tmp_path / "state"))
    old = store.load("site")
    assert old.meta["directory"] == pebble.directory_url
    _set_directory(ini, "https://127.0.0.1:1/dir")          # the new CA, unreachable for now
    st = cli("-c", ini, "status", "--json", env=env)
    row = json.loads(st.stdout)["certificates"][0]
    assert row["due"] and "CA changed" in row["renew_reason"], row
    d = cli("-c", ini, "deploy", "site", env=env)
    assert d.returncode == 1 and "CA changed" in d.stdout, d.stdout + d.stderr
    assert not emu.cdn_state(CDN).get("cert_name"), emu.cdn_state(CDN)   # the old CA's certificate stayed home
    other = pebble.directory_url.replace("127.0.0.1", "localhost")      # same Pebble, another directory URL
    _set_directory(ini, other)
    r = cli("-c", ini, "run", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    new = store.load("site")
    assert new.bundle.serial != old.bundle.serial and new.meta["directory"] == other
    assert emu.cdn_state(CDN)["cert_name"] == unique_cert_name("site", new.bundle)


def test_a_certificate_whose_chain_the_system_does_not_trust_needs_force(tmp_path, pebble, emu, cli):
    """Pebble's chain verifies to no public root: without CABundle it counts as staging."""
    ini = _ini(tmp_path, pebble, emu)
    env = demo.tool_env()
    assert cli("-c", ini, "issue", env=env).returncode == 0
    _drop_cabundle(ini)
    st = cli("-c", ini, "status", env=env)
    assert "staging" in st.stdout, st.stdout + st.stderr
    d = cli("-c", ini, "deploy", "site", env=env)
    assert d.returncode == 1 and "system trust store" in d.stdout, d.stdout + d.stderr
    assert not emu.cdn_state(CDN).get("cert_name")
    forced = cli("-c", ini, "deploy", "site", "--force", env=env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    stored = Store(str(tmp_path / "state")).load("site")
    assert emu.cdn_state(CDN)["cert_name"] == unique_cert_name("site", stored.bundle)


def test_lets_encrypt_staging_is_recognised_by_its_url(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble, """
        [cert:s]
        Domains = staging.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        """ % pebble.http_port)
    assert cli("-c", ini, "issue").returncode == 0
    store = Store(str(tmp_path / "state"))
    store.update_meta("s", directory=provenance.STAGING_DIRECTORIES[0])
    from acme_aliyun import config
    cfg = config.load(ini)
    assert "staging directory" in provenance.staging(store.load("s"), cfg.acme)
    cfg.acme.directory_url = provenance.STAGING_DIRECTORIES[0]
    assert "staging directory" in provenance.deploy_block(store.load("s"), cfg.acme)


def test_a_revoked_certificate_is_never_deployed_and_its_compromised_key_never_reused(tmp_path, pebble, emu, cli):
    ini = _ini(tmp_path, pebble, emu, extra="ReuseKey = yes")
    env = demo.tool_env()
    assert cli("-c", ini, "issue", env=env).returncode == 0
    store = Store(str(tmp_path / "state"))
    old = store.load("site")
    rv = cli("-c", ini, "revoke", "site", "--reason", "keyCompromise", env=env)
    assert rv.returncode == 0 and "next run replaces it" in rv.stdout, rv.stdout + rv.stderr
    assert pebble.cert_status(old.bundle.serial)["Status"] == "Revoked"
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    store.write_attempts("site", {"failures": 1, "last_error": "test", "next_attempt": later.isoformat()})
    failed = cli("-c", ini, "run", env=env)                # backing off: no replacement yet
    assert failed.returncode == 1 and "revoked" in failed.stdout, failed.stdout + failed.stderr
    assert not emu.cdn_state(CDN).get("cert_name"), "a revoked certificate was deployed"
    store.write_attempts("site", None)
    r = cli("-c", ini, "run", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    new = store.load("site")
    assert new.bundle.serial != old.bundle.serial
    assert new.key_pem != old.key_pem, "ReuseKey kept a key revoked for keyCompromise"
    assert emu.cdn_state(CDN)["cert_name"] == unique_cert_name("site", new.bundle)
    again = cli("-c", ini, "run", "--force", env=env)     # an ordinary ReuseKey renewal keeps the new key
    assert again.returncode == 0 and store.load("site").key_pem == new.key_pem


def test_the_trust_check_accepts_a_chain_to_a_trusted_root(tmp_path, pebble, cli, monkeypatch):
    """Positive control: with Pebble's root in the trust store, Pebble's chain (a wildcard too) verifies."""
    from cryptography import x509
    from tests.test_issue import HOOK, _hook_env
    ini = write_ini(tmp_path, pebble, """
        [cert:w]
        Domains = *.trust.example.test
        Challenge = dns-01
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        """ % HOOK)
    r = cli("-c", ini, "issue", env=_hook_env(pebble, tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    stored = Store(str(tmp_path / "state")).load("w")
    assert provenance.chain_publicly_trusted(stored.bundle) is False
    monkeypatch.setattr(provenance, "_system_roots",
                        lambda: [x509.load_pem_x509_certificate(pebble.root_pem().encode())])
    assert provenance.chain_publicly_trusted(stored.bundle) is True
