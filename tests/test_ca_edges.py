"""Issue 17: what an independent ACME server showed, replayed with the fake CA (tests/fakeca.py).

A failed validation noticed at once (also while the order stays `pending`),
ValidationTimeout, an order handed back already `processing`, a cleanup that
fails, the ARI window followed, a deactivated account that stays deactivated,
`directory` listing only ACME endpoints, and a closed stdout (`| head -1`).
Every run is the CLI as a separate process, the way cron and users run it.
"""

import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from acme_aliyun import jsondoc
from acme_aliyun.protocol import ari
from acme_aliyun.store import Store
from tests.certcheck import check_stored
from tests.conftest import ROOT, run_cli, write_ini
from tests.fakeca import ACME_ERROR, FakeCA, Scenario
from tests.webhook import Receiver

DOMAINS = ["edge.example.test", "www.edge.example.test"]
CERT = """
[cert:site]
Domains = edge.example.test, www.edge.example.test
Challenge = http-01
Webroot = www
"""
UNAUTHORIZED = {"type": ACME_ERROR + "unauthorized", "status": 403,
                "detail": "Invalid response from http://www.edge.example.test/.well-known/acme-challenge/x: 404",
                "subproblems": [{"type": ACME_ERROR + "dns", "detail": "no AAAA record",
                                 "identifier": {"type": "dns", "value": "www.edge.example.test"}}]}
UTC = datetime.timezone.utc


@pytest.fixture
def ca(tmp_path):
    (tmp_path / "www").mkdir()
    with FakeCA(tmp_path / "ca", webroot=str(tmp_path / "www")) as server:
        yield server


def _ini(tmp_path, ca, body=CERT, timeout=None, extra=""):
    acme = ("ValidationTimeout = %d\n" % timeout if timeout else "") + extra
    return write_ini(tmp_path, ca, body, extra_acme=acme)


def _lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


def _timed(*args, **kw):
    start = time.monotonic()
    r = run_cli(*args, **kw)
    return r, time.monotonic() - start


def _nothing_stored(tmp_path):
    assert Store(str(tmp_path / "state")).load("site") is None


def _no_challenge_left(tmp_path):
    folder = tmp_path / "www" / ".well-known" / "acme-challenge"
    assert not folder.exists() or list(folder.iterdir()) == []


# --- 1. a failed validation is noticed at once -----------------------------------------------------

def test_invalid_authorization_under_a_pending_order_fails_within_5_s(tmp_path, ca):
    """The CA fails www's authorization but leaves the order `pending` (the independent server did)."""
    ca.scenario = Scenario(failing_names={"www.edge.example.test": UNAUTHORIZED}, order_on_failure="pending")
    ini = _ini(tmp_path, ca)                    # ValidationTimeout left at its 300 s default
    r, elapsed = _timed("-q", "-c", ini, "issue", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert elapsed < 5, "took %.1f s" % elapsed
    out = _lines(r.stdout + r.stderr)
    assert len(out) == 1 and "Traceback" not in out[0], out
    assert out[0].startswith("site: failed: validation failed: www.edge.example.test: unauthorized: "
                             "Invalid response from http://www.edge.example.test/"), out[0]
    assert "www.edge.example.test: dns no AAAA record" in out[0]          # the subproblem too
    assert "edge.example.test: unauthorized" not in out[0].replace("www.edge.example.test: unauth", "")
    assert ca.seen("order")[-1].payload is None                          # polled, and never invalid
    assert all(s.status == 200 for s in ca.seen("order"))
    _nothing_stored(tmp_path)
    _no_challenge_left(tmp_path)
    assert ca.violations == []


def test_a_challenge_reply_saying_invalid_ends_the_order_without_polling(tmp_path, ca):
    ca.scenario = Scenario(failing_names={"www.edge.example.test": UNAUTHORIZED}, order_on_failure="pending",
                           challenge_reply="outcome")
    r, elapsed = _timed("-q", "-c", _ini(tmp_path, ca), "issue", timeout=60)
    assert r.returncode == 1 and elapsed < 5, (elapsed, r.stdout + r.stderr)
    assert "www.edge.example.test: unauthorized: Invalid response from" in r.stdout
    assert ca.count("order") == 0, "the reply already said invalid: nothing to poll"
    _no_challenge_left(tmp_path)


def test_invalid_without_an_error_says_so(tmp_path, ca):
    ca.scenario = Scenario(failing_names={"edge.example.test": {"type": None}}, order_on_failure="pending")
    r, elapsed = _timed("-q", "-c", _ini(tmp_path, ca), "issue", timeout=60)
    assert r.returncode == 1 and elapsed < 5, (elapsed, r.stdout + r.stderr)
    assert _lines(r.stdout) == ["site: failed: validation failed: edge.example.test: invalid, no reason given "
                                "by the CA"], r.stdout


def test_validation_timeout_bounds_a_ca_that_never_answers(tmp_path, ca):
    ca.scenario = Scenario(validation="never", retry_after="1")
    r, elapsed = _timed("-q", "-c", _ini(tmp_path, ca, timeout=3), "issue", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 2.5 < elapsed < 6, "took %.1f s" % elapsed
    assert "gave up waiting for validation after 3 s" in r.stdout, r.stdout
    # the order and both authorizations were polled together, Retry-After (1 s) apart
    for url_part in ("/authz/1-0", "/authz/1-1", "/order/1"):
        times = [s.at for s in ca.log if s.path == url_part and s.method == "POST"]
        assert len(times) >= 2, (url_part, [(s.path, s.method) for s in ca.log])
        polls = times[1:] if url_part.startswith("/authz") else times     # the first authz read came first
        gaps = [b - a for a, b in zip(polls, polls[1:])][:-1]             # the last wait is cut by the deadline
        assert gaps and all(g >= 0.9 for g in gaps), (url_part, gaps)
    _no_challenge_left(tmp_path)
    _nothing_stored(tmp_path)


# --- an order handed back already `processing`, a cleanup that fails ------------------------------

def test_an_order_handed_back_processing_is_polled_to_a_certificate(tmp_path, ca):
    """Run 1 finalizes and gives up while the CA is still processing; run 2 gets the same order back
    (as a CA reusing an unfinished order does) and polls it to `valid` without finalizing again."""
    ini = _ini(tmp_path, ca, timeout=2)
    ca.scenario = Scenario(after_finalize="processing")
    first = run_cli("-q", "-c", ini, "issue", timeout=60)
    assert first.returncode == 1 and "gave up waiting for issuance" in first.stdout, first.stdout + first.stderr
    pending_key = (tmp_path / "state" / "certs" / "site" / "pending-key.pem").read_bytes()
    ca.scenario = Scenario(reuse_orders=True)
    second = run_cli("-q", "-c", ini, "issue", "--force", timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    assert ca.count("newOrder") == 2 and ca.count("finalize") == 1
    assert ca.count("challenge") == 2, "run 2 had nothing to validate"
    check_stored(str(tmp_path / "state" / "certs" / "site"), ca.root_pem, DOMAINS)
    assert (tmp_path / "state" / "certs" / "site" / "privkey.pem").read_bytes() == pending_key
    assert ca.violations == []


FAILING_CLEANUP_HOOK = r'''
import os, sys
with open(os.environ["HOOK_LOG"], "a") as fh:
    fh.write("%s %s\n" % (sys.argv[-1], os.environ["ACME_RECORD_NAME"]))
if sys.argv[-1] == "cleanup":
    sys.exit("the DNS API is down")
'''


def _dns_hook_site(tmp_path, ca):
    hook = tmp_path / "hook.py"
    hook.write_text(FAILING_CLEANUP_HOOK)
    return _ini(tmp_path, ca, body="""
        [cert:site]
        Domains = edge.example.test, www.edge.example.test
        Challenge = dns-01
        DNSProvider = hook
        DNSHook = %s %s
        DNSHookEnv = HOOK_LOG
        """ % (sys.executable, hook))


def test_failing_cleanup_does_not_hide_the_cas_error(tmp_path, ca):
    ini = _dns_hook_site(tmp_path, ca)
    ca.scenario = Scenario(failing_names={"www.edge.example.test": UNAUTHORIZED}, order_on_failure="pending")
    r = run_cli("-q", "-c", ini, "run", env={"HOOK_LOG": str(tmp_path / "hook.log")}, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    err = _lines(r.stderr)
    assert any(ln.startswith("site: issuance failed: validation failed: www.edge.example.test: unauthorized: "
                             "Invalid response from") for ln in err), err
    assert sum("hook cleanup for" in ln and "the DNS API is down" in ln for ln in err) == 2, err
    assert (tmp_path / "hook.log").read_text().count("cleanup ") == 2
    _nothing_stored(tmp_path)


def test_failing_cleanup_keeps_a_good_certificate(tmp_path, ca):
    ini = _dns_hook_site(tmp_path, ca)
    r = run_cli("-q", "-c", ini, "issue", env={"HOOK_LOG": str(tmp_path / "hook.log")}, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _lines(r.stdout)[0].startswith("site: issued"), r.stdout
    assert r.stderr.count("the DNS API is down") == 2
    check_stored(str(tmp_path / "state" / "certs" / "site"), ca.root_pem, DOMAINS)


# --- 3. the ARI window ---------------------------------------------------------------------------

def _ari_meta(tmp_path):
    return Store(str(tmp_path / "state")).read_meta("site")["ari"]


def _expire_cached_answer(tmp_path):
    store = Store(str(tmp_path / "state"))
    meta = store.read_meta("site")["ari"]
    meta["next_fetch"] = (datetime.datetime.now(UTC) - datetime.timedelta(seconds=1)).isoformat()
    store.update_meta("site", ari=meta)


def _status(ini):
    r = run_cli("-c", ini, "status", "--json", timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["certificates"][0]


def test_renewal_time_is_a_random_moment_inside_the_window_and_stays(tmp_path, ca):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    window = (now + datetime.timedelta(days=70), now + datetime.timedelta(days=75))   # after the 2/3 backstop
    ca.scenario = Scenario(ari_window=window)
    ini = _ini(tmp_path, ca)
    r = run_cli("-q", "-c", ini, "issue", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    bundle = Store(str(tmp_path / "state")).load("site").bundle
    backstop = ari.fallback_renewal_time(bundle.not_before, bundle.not_after)
    chosen = datetime.datetime.fromisoformat(_ari_meta(tmp_path)["chosen"])
    assert window[0] <= chosen <= window[1]
    assert chosen > backstop + datetime.timedelta(days=9), "the lifetime rule must not win over the window"
    assert ca.count("renewalInfo") == 1

    row = _status(ini)
    assert row["renew_at"] == jsondoc.rfc3339(chosen) and row["renew_source"] == "ari"
    assert row["ari_window"]["start"] == jsondoc.rfc3339(window[0]) and not row["due"]
    text = run_cli("-c", ini, "status", timeout=60).stdout
    assert "ARI window %s to %s, chosen %s" % (window[0].strftime("%Y-%m-%d %H:%M UTC"),
                                               window[1].strftime("%Y-%m-%d %H:%M UTC"),
                                               chosen.strftime("%Y-%m-%d %H:%M UTC")) in text, text

    # another run before Retry-After: no request; after it: asked again, the same window, the same moment
    assert run_cli("-q", "-c", ini, "issue", timeout=60).returncode == 0
    assert ca.count("renewalInfo") == 1
    _expire_cached_answer(tmp_path)
    assert run_cli("-q", "-c", ini, "issue", timeout=60).returncode == 0
    assert ca.count("renewalInfo") == 2
    assert datetime.datetime.fromisoformat(_ari_meta(tmp_path)["chosen"]) == chosen
    assert ca.count("newOrder") == 1

    # the CA moves its window: a new moment, inside the new window
    ca.scenario = Scenario(ari_window=(now + datetime.timedelta(days=80), now + datetime.timedelta(days=81)))
    _expire_cached_answer(tmp_path)
    assert run_cli("-q", "-c", ini, "issue", timeout=60).returncode == 0
    moved = datetime.datetime.fromisoformat(_ari_meta(tmp_path)["chosen"])
    assert ca.scenario.ari_window[0] <= moved <= ca.scenario.ari_window[1]
    assert _status(ini)["renew_at"] == jsondoc.rfc3339(moved)


def test_a_window_ending_after_expiry_falls_back_to_the_lifetime_rule(tmp_path, ca):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    ca.scenario = Scenario(ari_window=(now + datetime.timedelta(days=85), now + datetime.timedelta(days=100)))
    ini = _ini(tmp_path, ca)
    assert run_cli("-q", "-c", ini, "issue", timeout=60).returncode == 0
    bundle = Store(str(tmp_path / "state")).load("site").bundle
    row = _status(ini)
    assert row["renew_source"] == "lifetime"
    assert row["renew_at"] == jsondoc.rfc3339(ari.fallback_renewal_time(bundle.not_before, bundle.not_after))


# --- 2. a deactivated account stays deactivated --------------------------------------------------

def _deactivate(tmp_path, ini, ca):
    assert run_cli("-q", "-c", ini, "issue", timeout=60).returncode == 0
    r = run_cli("-c", ini, "account", "deactivate", "--yes", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(ca.deactivated) == 1
    assert not (tmp_path / "account.key").exists()
    moved = [p.name for p in tmp_path.iterdir() if p.name.startswith("account.key.")]
    assert len(moved) == 1 and moved[0].endswith(".deactivated") and moved[0] in r.stdout, (moved, r.stdout)
    return len(ca.log)


REFUSAL = ("error: the ACME account was deactivated on %s; run `account register` to create a new one")


def _refusal_line(stderr):
    lines = _lines(stderr)
    assert len(lines) == 1, lines
    today = datetime.datetime.now(UTC).strftime("%Y-%m-%d")
    assert lines[0].startswith(REFUSAL.split("%s")[0] + today) and lines[0].endswith(REFUSAL.split("%s")[1])


def test_issue_after_deactivate_refuses_then_register_starts_over(tmp_path, ca):
    ini = _ini(tmp_path, ca)
    seen = _deactivate(tmp_path, ini, ca)
    r = run_cli("-c", ini, "issue", "--force", timeout=60)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    _refusal_line(r.stderr)
    assert len(ca.log) == seen, "nothing may be sent to the CA: %s" % [s.endpoint for s in ca.log[seen:]]
    assert not (tmp_path / "account.key").exists(), "no new account key made behind the user's back"

    reg = run_cli("-c", ini, "account", "register", timeout=60)
    assert reg.returncode == 0 and "Registered a new account." in reg.stdout, reg.stdout + reg.stderr
    assert json.loads((tmp_path / "state" / "account-state.json").read_text()) == {}
    again = run_cli("-q", "-c", ini, "issue", "--force", timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ca.count("newOrder") == 2


def test_run_after_deactivate_notifies_instead_of_registering(tmp_path, ca):
    with Receiver() as hook:
        ini = _ini(tmp_path, ca, body=CERT + "\n[notify]\nWebhook = %s\n" % hook.url)
        seen = _deactivate(tmp_path, ini, ca)
        r = run_cli("-c", ini, "run", timeout=60)
        assert r.returncode == 1 and r.stdout == "", r.stdout
        _refusal_line(r.stderr)
        assert len(ca.log) == seen, [s.endpoint for s in ca.log[seen:]]
        assert not (tmp_path / "account.key").exists()
        sent = hook.json()
        assert len(sent) == 1 and sent[0]["ok"] is False, sent
        assert "the ACME account was deactivated on" in sent[0]["text"]


# --- 4. and 5. directory ---------------------------------------------------------------------------

TRAP = "zQx7vK2mRt9LpW4nB8cY1dF6gH3jS5aE0uI"


def test_directory_lists_only_acme_endpoints(tmp_path, ca):
    ca.scenario = Scenario(directory_extra={TRAP: "https://example.invalid/" + TRAP, "ourWebsite": "x"},
                           ari_window=(datetime.datetime.now(UTC), datetime.datetime.now(UTC)))
    ini = _ini(tmp_path, ca)
    r = run_cli("-c", ini, "directory", timeout=60)
    assert r.returncode == 0, r.stderr
    endpoint_lines = [ln.split()[0] for ln in r.stdout.splitlines() if ln.startswith("  ")]
    assert endpoint_lines == ["newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"]
    other = [ln for ln in r.stdout.splitlines() if ln.startswith("Other keys")]
    assert len(other) == 1 and len(other[0]) < 100 and "ourWebsite" in other[0] and TRAP[:10] in other[0], other
    assert TRAP not in r.stdout
    doc = json.loads(run_cli("-c", ini, "directory", "--json", timeout=60).stdout)["directory"]
    assert TRAP not in doc["endpoints"] and doc["other_keys"][TRAP] == "https://example.invalid/" + TRAP
    assert set(doc["endpoints"]) == set(endpoint_lines)


def _cli_command(ini):
    return [sys.executable, "-m", "acme_aliyun", "-c", ini, "directory"]


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_directory_into_a_pipe_the_reader_closed_exits_0_silently(tmp_path, ca):
    """The reader is gone before we write a byte: EPIPE for certain, not by the luck of timing."""
    ini = _ini(tmp_path, ca)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run(_cli_command(ini), stdout=write_end, stderr=subprocess.PIPE, env=_env(),
                           stdin=subprocess.DEVNULL, timeout=60)
    finally:
        os.close(write_end)
    assert r.returncode == 0 and r.stderr == b"", (r.returncode, r.stderr)


def test_directory_piped_to_head_exits_0_with_no_message(tmp_path, ca):
    ini = _ini(tmp_path, ca)
    writer = subprocess.Popen(_cli_command(ini), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
                              stdin=subprocess.DEVNULL)
    head = subprocess.run(["head", "-1"], stdin=writer.stdout, capture_output=True, timeout=60)
    writer.stdout.close()
    err = writer.stderr.read()
    assert writer.wait(60) == 0 and err == b"", err
    assert head.returncode == 0 and head.stdout.decode().startswith("Directory: " + ca.directory_url)


def test_plain_http_ca_on_another_loopback_address(tmp_path):
    """127.0.0.2 is loopback too (the whole of 127.0.0.0/8 is): a local test CA there is usable."""
    with FakeCA(tmp_path / "ca2", host="127.0.0.2") as ca2:
        ini = _ini(tmp_path, ca2)
        r = run_cli("-c", ini, "directory", timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Directory: http://127.0.0.2:")
        assert ca2.count("directory") == 1
