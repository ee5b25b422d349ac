"""Issuance against a real Pebble: dns-01 through a hook, http-01 webroot and standalone, revoke, no-op rerun."""

import functools
import http.server
import os
import re
import sys
import threading

import pytest

from acme_aliyun.report import when
from acme_aliyun.store import Store
from tests import summary
from tests.certcheck import check_stored, verify_chain
from tests.conftest import ROOT, write_ini

HOOK = "%s %s" % (sys.executable, os.path.join(ROOT, "tests", "hooks", "challtestsrv_hook.py"))


def _hook_env(pebble, tmp_path):
    return {"CHALLTESTSRV_URL": pebble.challtestsrv.url, "CHALLTESTSRV_HOOK_STATE": str(tmp_path / "hook-state")}


def test_dns01_wildcard_via_hook(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble, """
        [cert:wild]
        Domains = example.test, *.example.test, www.example.test
        Challenge = dns-01
        DNSProvider = hook
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        """ % HOOK)
    r = cli("-c", ini, "issue", env=_hook_env(pebble, tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wild: issued" in r.stdout
    check_stored(tmp_path / "state" / "certs" / "wild", pebble.root_pem(),
                 ["example.test", "*.example.test", "www.example.test"])
    # nothing left in DNS: the hook's state of published values is empty again
    import dns.message, dns.query, dns.rdatatype
    for name in ("_acme-challenge.example.test.", "_acme-challenge.www.example.test."):
        q = dns.message.make_query(name, dns.rdatatype.TXT)
        ans = dns.query.udp(q, "127.0.0.1", port=pebble.challtestsrv.dns_port, timeout=3)
        assert not any(rr.rdtype == dns.rdatatype.TXT for rr in ans.answer), ans


def test_second_issue_with_nothing_due_makes_no_order(tmp_path, pebble, cli):
    ini = write_ini(tmp_path, pebble, """
        [cert:again]
        Domains = again.example.test
        Challenge = dns-01
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        """ % HOOK)
    env = _hook_env(pebble, tmp_path)
    assert cli("-c", ini, "issue", env=env).returncode == 0
    before = open(tmp_path / "state" / "certs" / "again" / "cert.pem").read()
    requests_before = pebble.new_order_requests()
    r = cli("-c", ini, "issue", env=env)
    assert r.returncode == 0 and "again: unchanged" in r.stdout, r.stdout + r.stderr
    assert open(tmp_path / "state" / "certs" / "again" / "cert.pem").read() == before
    assert pebble.new_order_requests() == requests_before


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_http01_webroot(tmp_path, pebble, cli):
    webroot = tmp_path / "www"
    webroot.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(webroot))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", pebble.http_port), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        ini = write_ini(tmp_path, pebble, """
            [cert:web]
            Domains = web.example.test, www.web.example.test
            Challenge = http-01
            Webroot = www
            """)
        r = cli("-c", ini, "issue")
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 0, r.stdout + r.stderr
    check_stored(tmp_path / "state" / "certs" / "web", pebble.root_pem(), ["web.example.test", "www.web.example.test"])
    assert not (webroot / ".well-known" / "acme-challenge").exists() or not os.listdir(
        webroot / ".well-known" / "acme-challenge")


@pytest.mark.parametrize("key_type", ["ec-256", "rsa-2048"])
def test_http01_standalone_and_revoke(tmp_path, pebble, cli, key_type):
    (tmp_path / "out").mkdir()          # KeyFile/ChainFile folders must exist (checked at load)
    ini = write_ini(tmp_path, pebble, """
        [cert:solo]
        Domains = solo.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        KeyType = %s
        KeyFile = out/solo.key
        ChainFile = out/solo.chain.pem
        """ % (pebble.http_port, key_type))
    r = cli("-c", ini, "issue")
    assert r.returncode == 0, r.stdout + r.stderr
    bundle = check_stored(tmp_path / "state" / "certs" / "solo", pebble.root_pem(), ["solo.example.test"])
    assert oct(os.stat(tmp_path / "out" / "solo.key").st_mode & 0o777) == "0o600"
    assert (tmp_path / "out" / "solo.chain.pem").read_text() == (
        tmp_path / "state" / "certs" / "solo" / "fullchain.pem").read_text()
    assert pebble.cert_status(bundle.serial)["Status"] == "Valid"
    args = ["-c", ini, "revoke", "solo", "--reason", "superseded"]
    if key_type == "rsa-2048":
        args.append("--with-cert-key")
    rv = cli(*args)
    assert rv.returncode == 0, rv.stderr
    assert pebble.cert_status(bundle.serial)["Status"] == "Revoked"
    revoked = Store(str(tmp_path / "state")).read_meta("solo")["revoked"]      # what `revoke` recorded
    st = cli("-c", ini, "status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert "due now (revoked)" in st.stdout.splitlines()[1], st.stdout
    assert "REVOKED %s (superseded): the next run replaces it" % when(revoked) in st.stdout, st.stdout


def test_failed_validation_names_the_domain_and_cleans_up(tmp_path, pebble, cli):
    """A hook that publishes nothing: the CA's detail per name, exit 1, nothing stored, no TXT left."""
    recorder = tmp_path / "calls.log"
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\necho \"$1 $ACME_DOMAIN\" >> %s\n" % recorder)
    hook.chmod(0o755)
    ini = write_ini(tmp_path, pebble, """
        [cert:broken]
        Domains = broken.example.test
        Challenge = dns-01
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        """ % hook)
    r = cli("-c", ini, "issue")
    assert r.returncode == 1
    assert "broken.example.test" in r.stdout and "validation failed" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "state" / "certs" / "broken" / "current").exists()
    assert recorder.read_text().split("\n")[:2] == ["present broken.example.test", "cleanup broken.example.test"]


def test_preferred_chain_picks_the_alternate(tmp_path, cli):
    """PEBBLE_ALTERNATE_ROOTS=1: the default chain ends at root 0; PreferredChain names root 1's CN."""
    from acme_aliyun import pki
    from tests.pebble import Pebble
    with Pebble(str(tmp_path / "pebble"), env={"PEBBLE_ALTERNATE_ROOTS": "1"}) as p:
        alternate_cn = pki.load_cert_pem(p.root_pem(1)).subject.rfc4514_string().split("CN=", 1)[1].split(",")[0]
        for name, preferred, root in (("plain", None, 0), ("alt", alternate_cn, 1)):
            folder = tmp_path / name
            folder.mkdir()
            ini = write_ini(folder, p, """
                [cert:%s]
                Domains = %s.example.test
                Challenge = dns-01
                DNSHook = %s
                DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
                %s
                """ % (name, name, HOOK, "PreferredChain = %s" % preferred if preferred else ""))
            r = cli("-c", ini, "issue", env=_hook_env(p, folder))
            assert r.returncode == 0, r.stdout + r.stderr
            fullchain = (folder / "state" / "certs" / name / "fullchain.pem").read_text()
            verify_chain(fullchain, p.root_pem(root))
            with pytest.raises(AssertionError):
                verify_chain(fullchain, p.root_pem(1 - root))


def test_failed_orders_back_off_instead_of_retrying_each_run(tmp_path, pebble, cli):
    """After a failed validation the next run does not order again until the backoff passes (or --force)."""
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\nexit 0\n")               # publishes nothing: validation fails
    hook.chmod(0o755)
    ini = write_ini(tmp_path, pebble, """
        [cert:flaky]
        Domains = flaky.example.test
        Challenge = dns-01
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        """ % hook)
    assert cli("-c", ini, "issue").returncode == 1
    before, created = pebble.new_order_requests(), pebble.orders_created()
    again = cli("-c", ini, "run")
    assert again.returncode == 1
    assert "renewal deferred: 1 failed attempt(s)" in again.stdout and "next attempt after" in again.stdout
    assert pebble.new_order_requests() == before
    backoff = when(Store(str(tmp_path / "state")).read_attempts("flaky")["next_attempt"])
    assert summary.issues(again.stdout) == {"flaky": "deferred until %s" % backoff}, again.stdout
    st = cli("-c", ini, "status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert re.search(r"^ +deferred until %s after 1 failed order\(s\), the last: .*validation failed"
                     % re.escape(backoff), st.stdout, re.M), st.stdout
    assert re.search(r"^ +last run \d{4}-\d\d-\d\d \d\d:\d\d UTC: deferred until %s; targets: 0 deployed"
                     % re.escape(backoff), st.stdout, re.M), st.stdout
    forced = cli("-c", ini, "issue", "--force")
    assert forced.returncode == 1 and pebble.orders_created() == created + 1
    attempts = Store(str(tmp_path / "state")).read_attempts("flaky")
    assert attempts["failures"] == 2 and "validation failed" in attempts["last_error"]
